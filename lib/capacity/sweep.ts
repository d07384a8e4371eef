// What a capacity sweep reports besides the fit (lib/capacity/fit.ts): each
// model's training outcome, the budget it had, and progress while it runs.
import { z } from "zod";
import { CapacityResult } from "./fit.ts";
import { CapacityCreateRequest } from "./plan.ts";
import { JobError, JobStatus } from "../jobs/schemas.ts";

export const SweepRun = z.object({
  datasetSize: z.number().int(),
  seed: z.number().int(),
  memorizedBits: z.number().describe("At the last evaluation (tokens 2..S)."),
  steps: z.number().int().describe("Optimizer steps it trained."),
  saturated: z.boolean().describe(
    "true: stopped because memorized bits grew less than the saturation fraction over the " +
      "last doubling of steps; false: the step budget ran out first.",
  ),
  curve: z.array(z.object({ step: z.number().int(), bits: z.number() })).describe(
    "Memorized bits against steps (thinned to at most 16 points).",
  ),
}).meta({ id: "SweepRun" });
export type SweepRun = z.infer<typeof SweepRun>;

export const SweepResult = CapacityResult.extend({
  runs: z.array(SweepRun).describe("One per (dataset size, seed)."),
  budget: z.object({
    maxSteps: z.number().int(),
    batchSize: z.number().int(),
    saturationFraction: z.number(),
  }),
  seconds: z.number().describe("Wall time of the sweep."),
  tokensPerSecond: z.number().describe("Average training throughput over all models."),
}).meta({ id: "CapacitySweepResult" });
export type SweepResult = z.infer<typeof SweepResult>;

export const SweepProgress = z.object({
  modelsDone: z.number().int(),
  modelsTotal: z.number().int(),
  fleet: z.number().int().describe("Index of the fleet training now (0-based)."),
  fleets: z.number().int(),
  step: z.number().int().describe("Step of the fleet training now."),
  activeModels: z.number().int().describe("Models of that fleet still training."),
  tokensPerSec: z.number(),
  tokensTrained: z.number().describe("Training tokens processed since this attempt started."),
}).meta({ id: "CapacityProgress" });
export type SweepProgress = z.infer<typeof SweepProgress>;

export const CapacitySweep = z.object({
  id: z.string(),
  status: JobStatus,
  input: CapacityCreateRequest,
  progress: SweepProgress.nullable(),
  result: SweepResult.nullable(),
  error: JobError.nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
}).meta({ id: "CapacitySweep" });
export type CapacitySweep = z.infer<typeof CapacitySweep>;

/** The data seed of one (size, seed) model: distinct per pair, fixed forever. */
export function sweepDataSeed(seed: number, datasetSize: number): number {
  return (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(datasetSize, 0x85ebca6b)) | 0;
}
