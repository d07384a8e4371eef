// What a capacity sweep reports besides the fit (lib/capacity/fit.ts): each
// model's training outcome, the budget it had, and progress while it runs.
import { z } from "zod";
import { CapacityResult } from "./fit.ts";
import { CapacityCreateRequest } from "./plan.ts";
import { JobError, JobStatus } from "../jobs/schemas.ts";

export const AsymptoteSchema = z.object({
  mInf: z.number().describe("Fitted asymptote, bits."),
  a: z.number(),
  b: z.number(),
  interval: z.tuple([z.number(), z.number()]).describe("90% bootstrap interval of mInf."),
  rmsBits: z.number(),
  points: z.number().int(),
  bounded: z.boolean().describe(
    "false when the exponent b hit its lower bound: the curve still grows like log t and " +
      "mInf is not pinned down.",
  ),
}).meta({ id: "Asymptote" });

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
    "Memorized bits against steps (thinned to at most 32 points).",
  ),
  trainLossBits: z.number().describe(
    "Mean NLL per predicted token (bits, tokens 2..S) on its own training data at the end.",
  ),
  testLossBits: z.number().nullable().describe(
    "The same on the seed's held-out sequences (null when testSequences is 0). log2 V is " +
      "the best any model can do on random tokens.",
  ),
  asymptote: AsymptoteSchema.nullable().describe(
    "m(t) = mInf − a·t^(−b) fitted to the curve: what unlimited training would reach. null " +
      "with fewer than 4 measurements.",
  ),
}).meta({ id: "SweepRun" });
export type SweepRun = z.infer<typeof SweepRun>;

export const ExtrapolatedCapacity = z.object({
  capacityBits: z.number().describe(
    "The plateau of extrapolated memorization: over dataset sizes, the largest mean over " +
      "seeds of min(mInf, datasetBits).",
  ),
  bitsPerParameter: z.number(),
  interval: z.tuple([z.number(), z.number()]).describe(
    "90% bootstrap interval of capacityBits at that dataset size (means of the seeds' bounds).",
  ),
  datasetSize: z.number().int(),
  bounded: z.boolean().describe(
    "false when a fit there still looked logarithmic (mInf not pinned down): then the " +
      "figure is only indicative.",
  ),
  capped: z.boolean().optional().describe(
    "true when mInf reached that dataset's own bits: the models would memorize all of it, so " +
      "the extrapolated capacity is a lower bound set by the data (add larger datasets).",
  ),
}).meta({ id: "ExtrapolatedCapacity" });
export type ExtrapolatedCapacity = z.infer<typeof ExtrapolatedCapacity>;

export const SweepResult = CapacityResult.extend({
  runs: z.array(SweepRun).describe("One per (dataset size, seed)."),
  budget: z.object({
    maxSteps: z.number().int(),
    batchSize: z.number().int(),
    saturationFraction: z.number(),
    schedule: z.string().describe("The schedule kind the budget was spent with."),
    saturatedRuns: z.number().int().describe("Runs that saturated before maxSteps."),
  }).describe("The training budget every measured figure depends on."),
  extrapolated: ExtrapolatedCapacity.nullable().describe(
    "Capacity extrapolated to unlimited training, beside the measured capacityBits; null " +
      "when no curve had enough points to fit.",
  ),
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

/**
 * Capacity extrapolated to unlimited training: per dataset size the mean over
 * seeds of min(mInf, datasetBits) (no model memorizes more than its data),
 * then the plateau over sizes, as for the measured capacity. Sizes where any
 * seed has no fit are left out; null when none is left.
 */
export function extrapolateCapacity(
  runs: readonly Pick<SweepRun, "datasetSize" | "asymptote">[],
  points: readonly { datasetSize: number; datasetBits: number }[],
  parameterCount: number,
): ExtrapolatedCapacity | null {
  let best: ExtrapolatedCapacity | null = null;
  for (const p of points) {
    const fits = runs.filter((r) => r.datasetSize === p.datasetSize).map((r) => r.asymptote);
    if (fits.length === 0 || fits.some((f) => f === null)) continue;
    const mean = (f: (a: NonNullable<SweepRun["asymptote"]>) => number) =>
      fits.reduce((s, a) => s + Math.min(f(a!), p.datasetBits), 0) / fits.length;
    const capacityBits = mean((a) => a.mInf);
    if (best && capacityBits <= best.capacityBits) continue;
    best = {
      capacityBits,
      bitsPerParameter: capacityBits / parameterCount,
      interval: [mean((a) => a.interval[0]), mean((a) => a.interval[1])],
      datasetSize: p.datasetSize,
      bounded: fits.every((a) => a!.bounded),
      capped: fits.some((a) => a!.mInf >= p.datasetBits),
    };
  }
  return best;
}

/** The seed of a seed's held-out sequences: never equal to a training data seed's stream. */
export function sweepTestSeed(seed: number): number {
  return (Math.imul(seed + 1, 0x27d4eb2f) ^ 0x5bd1e995) | 0;
}
