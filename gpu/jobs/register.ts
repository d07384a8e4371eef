// The GPU jobs the queue can run, by kind.
import type { GpuEngine } from "../engine.ts";
import type { JobQueue } from "../../lib/jobs/queue.ts";
import type { RunCreateRequest, RunProgress, RunResult } from "../../lib/runs/schemas.ts";
import { trainRunJob } from "./train_run.ts";
import { capacitySweepJob } from "./capacity_sweep.ts";
import type { CapacityCreateRequest } from "../../lib/capacity/plan.ts";
import type { SweepProgress, SweepResult } from "../../lib/capacity/sweep.ts";

export function registerEngineJobs(engine: GpuEngine, jobs: JobQueue): void {
  jobs.register<RunCreateRequest, RunProgress, RunResult>(
    "train",
    (ctx) => trainRunJob(engine, ctx),
  );
  jobs.register<CapacityCreateRequest, SweepProgress, SweepResult>(
    "capacity",
    (ctx) => capacitySweepJob(engine, ctx),
  );
}
