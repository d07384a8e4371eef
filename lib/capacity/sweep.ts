// What a capacity sweep reports besides the fit (lib/capacity/fit.ts): each
// model's training outcome, the budget it had, and progress while it runs.
import { z } from "zod";
import { CAPACITY_RESULT_EXAMPLE, CapacityPoint, CapacityResult } from "./fit.ts";
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

export const Certificate = z.object({
  status: z.enum(["saturated", "unstable", "budget-exhausted"]).describe(
    "saturated: memorized bits grew by a fraction in [0, saturation fraction) over the last " +
      "doubling of steps, and the last measurement is within that fraction of the best. " +
      "unstable: they fell (over the last doubling, or more than the fraction under the " +
      "best). budget-exhausted: still gaining when training stopped.",
  ),
  steps: z.number().int().describe("Optimizer steps trained."),
  tokens: z.number().describe("Training tokens seen: steps · batchSize · S."),
  bestBits: z.number().describe("The best annealed measurement: the run's memorized bits."),
  bestStep: z.number().int(),
  lastBits: z.number().describe("The last measurement."),
  gain: z.number().nullable().describe(
    "(m(t) - m(t/2)) / m(t) over the last doubling of steps; null when the curve is too short.",
  ),
  drop: z.number().describe("(bestBits - lastBits) / bestBits."),
}).meta({ id: "SaturationCertificate" });

export const SweepRun = z.object({
  datasetSize: z.number().int(),
  seed: z.number().int(),
  memorizedBits: z.number().describe(
    "The best annealed measurement (tokens 2..S): the cycle ends of cosine-restarts, the " +
      "last step of other schedules.",
  ),
  steps: z.number().int().describe("Optimizer steps it trained."),
  saturated: z.boolean().describe("certificate.status is saturated."),
  certificate: Certificate,
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
}).meta({
  id: "SweepRun",
  // The 368-sequence point of CapacityResult's example: saturated at 8,000 of 16,000 steps.
  example: {
    datasetSize: 368,
    seed: 0,
    memorizedBits: 12066,
    steps: 8000,
    saturated: true,
    certificate: {
      status: "saturated",
      steps: 8000,
      tokens: 8192000,
      bestBits: 12066,
      bestStep: 8000,
      lastBits: 12066,
      gain: 0.00522,
      drop: 0,
    },
    curve: [
      { step: 500, bits: 7410 },
      { step: 1000, bits: 9820 },
      { step: 2000, bits: 11310 },
      { step: 4000, bits: 12003 },
      { step: 8000, bits: 12066 },
    ],
    trainLossBits: 3.81,
    testLossBits: 6.42,
    asymptote: {
      mInf: 12190,
      a: 61000,
      b: 0.78,
      interval: [12080, 12420],
      rmsBits: 38.5,
      points: 5,
      bounded: true,
    },
  },
});
export type SweepRun = z.infer<typeof SweepRun>;

export const ExtrapolatedCapacity = z.object({
  capacityBits: z.number().describe(
    "A projection, not a capacity: over dataset sizes whose fits are pinned down (bounded, " +
      "b ≥ 0.3), the largest mean over seeds of min(mInf, datasetBits). Checked out of " +
      "sample on our committed runs (deno task bench extrapolation), mInf moved with the " +
      "horizon and its 90% intervals held the later value about 2 times in 3; it never " +
      "enters the verdict or capacityBits.",
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
    saturatedRuns: z.number().int().describe("Runs whose certificate says saturated."),
    until: z.enum(["budget", "certified"]),
    tokenBudget: z.number().nullable().describe('The token budget of until: "certified".'),
    tokensSpent: z.number().describe("Training tokens of every run: Σ certificate.tokens."),
    addedSizes: z.array(z.number().int()).describe(
      "Dataset sizes the sweep added beyond the requested grid (maxExtraSizes).",
    ),
    stopped: z.string().nullable().describe(
      "Why the sweep stopped short of a certified verdict when it could not go on (limits, " +
        "budget); null otherwise.",
    ),
  }).describe("The training budget every measured figure depends on."),
  extrapolated: ExtrapolatedCapacity.nullable().describe(
    "Where the curves point with unlimited training: a projection beside the measured " +
      "capacityBits, not a capacity. null when no dataset size has pinned-down fits for all " +
      "its seeds.",
  ),
  seconds: z.number().describe("Wall time of the sweep."),
  tokensPerSecond: z.number().describe("Average training throughput over all models."),
  resumedFrom: z.array(z.object({
    group: z.string().optional().describe(
      'The training group: "base" (the requested grid), "size-N" (an added dataset size) or ' +
        '"more-T" (runs trained on to step T for until: "certified").',
    ),
    fleet: z.number().int().describe("Index of the fleet (0-based) in its group."),
    step: z.number().int().describe(
      "The fleet checkpoint's step the resumed fleet continued from.",
    ),
  })).describe(
    "Fleets a restarted service continued from a checkpoint instead of step 0; empty when the " +
      "sweep ran in one go (finished models are never retrained either way).",
  ),
}).meta({
  id: "CapacitySweepResult",
  example: {
    ...CAPACITY_RESULT_EXAMPLE,
    // Two of the five runs: the smallest dataset saturated (and left its fleet) at 2,000 steps.
    runs: [
      {
        datasetSize: 46,
        seed: 0,
        memorizedBits: 4101,
        steps: 2000,
        saturated: true,
        certificate: {
          status: "saturated",
          steps: 2000,
          tokens: 2048000,
          bestBits: 4101,
          bestStep: 2000,
          lastBits: 4101,
          gain: 0.00463,
          drop: 0,
        },
        curve: [
          { step: 500, bits: 3870 },
          { step: 1000, bits: 4082 },
          { step: 2000, bits: 4101 },
        ],
        trainLossBits: 0.07,
        testLossBits: 7.9,
        asymptote: null,
      },
      SweepRun.meta()?.example,
    ],
    budget: {
      maxSteps: 16000,
      batchSize: 64,
      saturationFraction: 0.01,
      schedule: "cosine-restarts",
      saturatedRuns: 5,
      until: "budget",
      tokenBudget: null,
      tokensSpent: 40960000,
      addedSizes: [],
      stopped: null,
    },
    extrapolated: {
      capacityBits: 12190,
      bitsPerParameter: 2.6546,
      interval: [12080, 12420],
      datasetSize: 368,
      bounded: true,
      capped: false,
    },
    seconds: 95.2,
    tokensPerSecond: 410000,
    resumedFrom: [],
  },
});
export type SweepResult = z.infer<typeof SweepResult>;

export const SweepPhase = z.enum(["preparing", "compiling", "training", "evaluating"]).describe(
  "What the sweep is doing: generating datasets, compiling a fleet's shaders (on a CPU adapter " +
    "the first compile of a shape takes tens of seconds), training, or measuring memorized bits.",
);

export const SweepProgress = z.object({
  phase: SweepPhase,
  modelsDone: z.number().int(),
  modelsTotal: z.number().int(),
  fleet: z.number().int().describe("Index of the fleet training now (0-based)."),
  fleets: z.number().int(),
  step: z.number().int().describe("Step of the fleet training now."),
  stepsPlanned: z.number().int().describe("The step that fleet trains to."),
  activeModels: z.number().int().describe("Models of that fleet still training."),
  tokensPerSec: z.number(),
  tokensTrained: z.number().describe("Training tokens processed since this attempt started."),
  elapsedSeconds: z.number().describe("Since this attempt started."),
  etaSeconds: z.number().nullable().describe(
    "Seconds until the planned training ends, from the throughput so far and the model-steps " +
      "left in the plan; null until measured. Models that saturate early end it sooner; " +
      '`until: "certified"` and added dataset sizes may plan more.',
  ),
}).meta({
  id: "CapacityProgress",
  example: {
    phase: "training",
    modelsDone: 3,
    modelsTotal: 5,
    fleet: 0,
    fleets: 1,
    step: 4200,
    stepsPlanned: 16000,
    activeModels: 2,
    tokensPerSec: 410000,
    tokensTrained: 9830400,
    elapsedSeconds: 31.5,
    etaSeconds: 29.5,
  },
});
export type SweepProgress = z.infer<typeof SweepProgress>;

export const CapacitySweep = z.object({
  id: z.string(),
  status: JobStatus,
  // The headline figures at the top level, as the HTTP contract names them (DESIGN.md); the
  // whole result, with the fit, budget and every run, is `result`.
  parameterCount: z.number().int().describe("GPT-2 parameters of `input.config`."),
  capacityBits: z.number().nullable().describe("`result.capacityBits`; null until it succeeds."),
  bitsPerParameter: z.number().nullable().describe(
    "`result.bitsPerParameter` (α); null until it succeeds.",
  ),
  points: z.array(CapacityPoint).nullable().describe(
    "`result.points`, one per dataset size; null until it succeeds.",
  ),
  verdict: CapacityResult.shape.verdict.nullable().describe(
    "`result.verdict`: certified, or lower-bound (see reasons); null until it succeeds.",
  ),
  reasons: CapacityResult.shape.reasons.nullable().describe(
    "`result.reasons`: why the verdict is lower-bound; null until it succeeds.",
  ),
  input: CapacityCreateRequest,
  progress: SweepProgress.nullable(),
  result: SweepResult.nullable(),
  error: JobError.nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
}).meta({
  id: "CapacitySweep",
  example: {
    id: "cap_01jz3k5q7r8s9t0v1w2x",
    status: "succeeded",
    parameterCount: CAPACITY_RESULT_EXAMPLE.parameterCount,
    capacityBits: CAPACITY_RESULT_EXAMPLE.capacityBits,
    bitsPerParameter: CAPACITY_RESULT_EXAMPLE.bitsPerParameter,
    points: CAPACITY_RESULT_EXAMPLE.points,
    verdict: CAPACITY_RESULT_EXAMPLE.verdict,
    reasons: CAPACITY_RESULT_EXAMPLE.reasons,
    input: {
      config: { vocabSize: 64, seqLen: 16, layers: 1, dModel: 16, heads: 2 },
      precision: "fp32",
      datasetSizes: [46, 92, 184, 368, 735],
      auto: { points: 7, alpha: 3.6 },
      seeds: [0],
      training: {
        optimizer: { type: "adamw", lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 },
        batchSize: 64,
        maxSteps: 16000,
        schedule: {
          kind: "cosine-restarts",
          warmupSteps: 100,
          minLrFraction: 0,
          firstCycleSteps: 500,
        },
        evalEvery: 500,
        saturation: { fraction: 0.01, minSteps: 1000 },
      },
      maxFleetSize: 16,
      plateauTolerance: 0.03,
      maxExtraSizes: 2,
      until: "budget",
      testSequences: 256,
    },
    progress: {
      phase: "evaluating",
      modelsDone: 5,
      modelsTotal: 5,
      fleet: 0,
      fleets: 1,
      step: 8000,
      stepsPlanned: 8000,
      activeModels: 0,
      tokensPerSec: 410000,
      tokensTrained: 24576000,
      elapsedSeconds: 95.2,
      etaSeconds: 0,
    },
    // The same result CapacitySweepResult documents.
    result: SweepResult.meta()?.example,
    error: null,
    createdAt: "2025-07-01T12:00:00.000Z",
    updatedAt: "2025-07-01T12:01:35.600Z",
    startedAt: "2025-07-01T12:00:00.400Z",
    finishedAt: "2025-07-01T12:01:35.600Z",
  },
});
export type CapacitySweep = z.infer<typeof CapacitySweep>;

/** The data seed of one (size, seed) model: distinct per pair, fixed forever. */
export function sweepDataSeed(seed: number, datasetSize: number): number {
  return (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(datasetSize, 0x85ebca6b)) | 0;
}

/**
 * Exponents below this leave mInf to the fit's whim: such curves grow nearly
 * like log t, and the committed runs' mInf at b ≈ 0.1 came out 2x what was
 * measured later (docs/performance.md, bench extrapolation).
 */
export const MIN_PROJECTION_EXPONENT = 0.3;

/**
 * The projection to unlimited training: per dataset size the mean over seeds
 * of min(mInf, datasetBits) (no model memorizes more than its data), then the
 * largest over sizes. Sizes where any seed has no fit, an unbounded one, or
 * one with b < MIN_PROJECTION_EXPONENT are left out; null when none is left.
 */
export function extrapolateCapacity(
  runs: readonly Pick<SweepRun, "datasetSize" | "asymptote">[],
  points: readonly { datasetSize: number; datasetBits: number }[],
  parameterCount: number,
): ExtrapolatedCapacity | null {
  let best: ExtrapolatedCapacity | null = null;
  for (const p of points) {
    const fits = runs.filter((r) => r.datasetSize === p.datasetSize).map((r) => r.asymptote);
    const pinned = (f: (typeof fits)[number]) =>
      f !== null && f.bounded && (f.a === 0 || f.b >= MIN_PROJECTION_EXPONENT);
    if (fits.length === 0 || !fits.every(pinned)) continue;
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
