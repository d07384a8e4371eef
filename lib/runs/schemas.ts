// Training runs over HTTP: the request, the progress a run reports while it
// trains, and its result (zod v4; the same schemas validate and document).
import { z } from "zod";
import { JobError, JobStatus } from "../jobs/schemas.ts";
import { Schedule } from "../training/schemas.ts";
import {
  DEFAULT_SATURATION_FRACTION,
  DEFAULT_SATURATION_MIN_STEPS,
} from "../training/saturation.ts";

export const OptimizerSpec = z.object({
  type: z.enum(["adamw", "sgd"]).describe(
    "adamw: PyTorch's AdamW. sgd: plain gradient descent without momentum: " +
      "w -= lr * (grad + weightDecay * w).",
  ),
  lr: z.number().positive().max(10).describe("Peak learning rate."),
  betas: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]).default([0.9, 0.999]),
  eps: z.number().positive().default(1e-8),
  weightDecay: z.number().min(0).default(0).describe(
    "Decoupled weight decay, applied to matrices and embeddings only (not biases or LayerNorm).",
  ),
}).meta({ id: "OptimizerSpec", example: { type: "adamw", lr: 0.001 } });
export type OptimizerSpec = z.infer<typeof OptimizerSpec>;

/** Steps of a run that gives neither steps nor epochs. */
export const DEFAULT_RUN_STEPS = 2000;

export const RunCreateRequest = z.object({
  modelId: z.string().describe("The model to train; its weights are updated when the run ends."),
  datasetId: z.string().describe("Training sequences; vocabSize and seqLen must match the model."),
  optimizer: OptimizerSpec.prefault({ type: "adamw", lr: 1e-2 }).describe(
    "Default: AdamW at lr 1e-2, the best setting of our reference runs (docs/method.md).",
  ),
  batchSize: z.number().int().min(1).max(65536).default(128).describe(
    "Sequences per step (default 128). batchSize = dataset size with sgd makes one step " +
      "exactly w -= lr * grad(mean token loss in nats).",
  ),
  steps: z.number().int().min(1).max(10_000_000).optional().describe(
    `Optimizer steps (default ${DEFAULT_RUN_STEPS} when epochs is not given either).`,
  ),
  epochs: z.number().int().min(1).max(1_000_000).optional().describe(
    "Alternative to steps: epochs * ceil(count / batchSize) steps.",
  ),
  schedule: Schedule.default({
    kind: "constant",
    warmupSteps: 0,
    minLrFraction: 0,
    firstCycleSteps: 500,
  }).describe(
    "Learning-rate schedule (default constant, no warmup).",
  ),
  seed: z.number().int().default(0).describe("Seed of the batch order."),
  evalEvery: z.number().int().min(1).optional().describe(
    "Steps between evaluations of memorized bits on the training set (default: about 20 " +
      "evaluations over the run).",
  ),
  checkpointEvery: z.number().int().min(1).optional().describe(
    "Steps between checkpoints (weights + optimizer state) a restarted service resumes from " +
      "(default: every evaluation).",
  ),
  stopOnSaturation: z.object({
    fraction: z.number().positive().max(1).default(DEFAULT_SATURATION_FRACTION).describe(
      "Saturated once memorized bits grew less than this fraction over the last doubling of " +
        `steps (default ${DEFAULT_SATURATION_FRACTION}).`,
    ),
    minSteps: z.number().int().min(0).default(DEFAULT_SATURATION_MIN_STEPS).describe(
      `No saturation verdict before this many steps (default ${DEFAULT_SATURATION_MIN_STEPS}): ` +
        "early curves are noise. Lower it for small runs, which otherwise always train to " +
        "`steps`.",
    ),
  }).optional().describe(
    "Stop early once memorized bits grew less than `fraction` over the last doubling of steps " +
      "(checked at each evaluation, so `evalEvery` sets how often).",
  ),
}).refine((r) => r.steps === undefined || r.epochs === undefined, {
  message: "give steps or epochs, not both",
  path: ["steps"],
}).meta({
  id: "RunCreateRequest",
  example: {
    modelId: "mdl_01jz3k5q7r8s9t0v1w2x",
    datasetId: "ds_01jz3k5q7r8s9t0v1w2x",
    optimizer: { type: "adamw", lr: 0.001 },
    batchSize: 32,
    steps: 1000,
  },
});
export type RunCreateRequest = z.infer<typeof RunCreateRequest>;

/** The steps a run trains on a dataset of `count` sequences. */
export function runSteps(r: RunCreateRequest, count: number): number {
  if (r.steps !== undefined) return r.steps;
  if (r.epochs !== undefined) return r.epochs * Math.ceil(count / r.batchSize);
  return DEFAULT_RUN_STEPS;
}

export const CurvePoint = z.object({
  step: z.number().int(),
  loss: z.number(),
  memorizedBits: z.number(),
}).meta({ id: "CurvePoint" });
export type CurvePoint = z.infer<typeof CurvePoint>;

export const RunProgress = z.object({
  phase: z.enum(["compiling", "training", "evaluating"]).describe(
    "What the run is doing: compiling its shaders (on a CPU adapter the first compile of a " +
      "shape takes tens of seconds), training, or measuring memorized bits.",
  ),
  step: z.number().int().describe("Optimizer steps done."),
  totalSteps: z.number().int(),
  loss: z.number().nullable().describe("Mean training token loss (nats) at the last read."),
  tokensPerSec: z.number().describe("Training throughput over the last read interval."),
  memorizedBits: z.number().nullable().describe(
    "Σ max(0, (S-1)·log2 V - NLL) over the training set at the last evaluation (tokens 2..S).",
  ),
  datasetBits: z.number().describe("(S-1)·log2 V · count: the most that can be memorized."),
  saturated: z.boolean(),
  tokensTrained: z.number().int().describe(
    "Training tokens processed since this attempt started (a resumed run restarts the count).",
  ),
  elapsedSeconds: z.number().describe("Since this attempt started."),
  etaSeconds: z.number().nullable().describe(
    "Seconds until totalSteps at the throughput so far; null until measured. A run with " +
      "stopOnSaturation may end sooner.",
  ),
}).meta({
  id: "RunProgress",
  example: {
    phase: "training",
    step: 400,
    totalSteps: 1000,
    loss: 2.1,
    tokensPerSec: 12000,
    memorizedBits: 5200,
    datasetBits: 6300,
    saturated: false,
    tokensTrained: 3276800,
    elapsedSeconds: 30.1,
    etaSeconds: 41.2,
  },
});
export type RunProgress = z.infer<typeof RunProgress>;

export const RunResult = z.object({
  steps: z.number().int(),
  finalLoss: z.number(),
  memorizedBits: z.number(),
  datasetBits: z.number(),
  saturated: z.boolean(),
  stoppedBy: z.enum(["steps", "saturation"]),
  curve: z.array(CurvePoint).describe("Memorized bits and loss at each evaluation (≤ 400 kept)."),
  seconds: z.number().describe("Wall time of the attempt that finished the run."),
  resumedFromSteps: z.array(z.number().int()).describe(
    "The checkpoint step each resumed attempt continued from, in order; empty when the run trained " +
      "in one go. A restart that had to begin again from step 0 adds nothing here.",
  ),
}).meta({
  id: "RunResult",
  example: {
    steps: 1000,
    finalLoss: 0.41,
    memorizedBits: 6050,
    datasetBits: 6300,
    saturated: false,
    stoppedBy: "steps",
    curve: [
      { step: 500, loss: 1.2, memorizedBits: 4100 },
      { step: 1000, loss: 0.41, memorizedBits: 6050 },
    ],
    seconds: 42.5,
    resumedFromSteps: [],
  },
});
export type RunResult = z.infer<typeof RunResult>;

export const Run = z.object({
  id: z.string(),
  status: JobStatus,
  // The figures the HTTP contract names (DESIGN.md), at the top level: the latest of the
  // progress while it trains, the result's once it is done.
  step: z.number().int().describe("Optimizer steps done so far (0 while queued)."),
  loss: z.number().nullable().describe("The latest mean training token loss (nats), if any."),
  memorizedBits: z.number().nullable().describe(
    "Memorized bits at the latest evaluation, if any (see RunProgress).",
  ),
  modelId: z.string(),
  datasetId: z.string(),
  input: RunCreateRequest,
  progress: RunProgress.nullable(),
  result: RunResult.nullable(),
  error: JobError.nullable(),
  attempts: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
}).meta({
  id: "Run",
  example: {
    id: "run_01jz3k5q7r8s9t0v1w2x",
    status: "succeeded",
    step: 1000,
    loss: 0.41,
    memorizedBits: 6050,
    modelId: "mdl_01jz3k5q7r8s9t0v1w2x",
    datasetId: "ds_01jz3k5q7r8s9t0v1w2x",
    input: {
      modelId: "mdl_01jz3k5q7r8s9t0v1w2x",
      datasetId: "ds_01jz3k5q7r8s9t0v1w2x",
      optimizer: { type: "adamw", lr: 0.001, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 },
      batchSize: 32,
      steps: 1000,
      schedule: { kind: "constant", warmupSteps: 0, minLrFraction: 0, firstCycleSteps: 500 },
      seed: 0,
    },
    progress: {
      phase: "training",
      step: 1000,
      totalSteps: 1000,
      loss: 0.41,
      tokensPerSec: 12000,
      memorizedBits: 6050,
      datasetBits: 6300,
      saturated: false,
      tokensTrained: 2048000,
      elapsedSeconds: 171.2,
      etaSeconds: 0,
    },
    // The same result RunResult documents, so the two examples cannot disagree.
    result: RunResult.meta()?.example,
    error: null,
    attempts: 1,
    createdAt: "2025-07-01T12:00:00.000Z",
    updatedAt: "2025-07-01T12:00:43.000Z",
    startedAt: "2025-07-01T12:00:00.400Z",
    finishedAt: "2025-07-01T12:00:43.000Z",
  },
});
export type Run = z.infer<typeof Run>;
