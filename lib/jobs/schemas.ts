// Shapes shared by job resources (runs, capacity sweeps) over HTTP (zod v4).
import { z } from "zod";
import { JOB_STATUSES } from "./queue.ts";

export const JobStatus = z.enum(JOB_STATUSES).describe(
  "queued -> running -> succeeded | failed | cancelled. A job interrupted by a restart " +
    "goes back to queued and resumes from its last checkpoint.",
).meta({ id: "JobStatus" });

/** `202` body of POST /v1/runs and POST /v1/capacity. */
export const JobAccepted = z.object({
  id: z.string(),
  status: JobStatus,
}).meta({ id: "JobAccepted", example: { id: "run_01jz3k5q7r8s9t0v1w2x", status: "queued" } });
export type JobAccepted = z.infer<typeof JobAccepted>;

export const JobError = z.object({
  code: z.string(),
  message: z.string(),
}).meta({
  id: "JobError",
  example: { code: "job_failed", message: "loss became NaN at step 812" },
});

/** Progress of a training job: what GET /v1/runs/{id} and its SSE stream report. */
export const JobProgress = z.object({
  step: z.number().int().describe("Optimizer steps done."),
  totalSteps: z.number().int().optional().describe("Steps planned."),
  loss: z.number().optional().describe("Mean training token loss (nats) at the last step."),
  tokensPerSec: z.number().optional().describe("Training throughput."),
  memorizedBits: z.number().optional().describe(
    "Memorized bits (tokens 2..S) at the last evaluation.",
  ),
}).loose().meta({
  id: "JobProgress",
  example: { step: 1200, totalSteps: 20000, loss: 5.93, tokensPerSec: 41000, memorizedBits: 61234 },
});
export type JobProgress = z.infer<typeof JobProgress>;
