// Request and response shapes of /v1/capacity (zod v4; `.meta({id})` makes each a named
// component in the OpenAPI document): the sweep request (lib/capacity/plan.ts expands it),
// the capacity fitted from a sweep (lib/capacity/fit.ts) and what a sweep reports besides.
import { z } from "zod";
import { ModelConfig, Precision } from "../model/schemas.ts";
import { CapacitySchedule } from "../training/schemas.ts";
import {
  DEFAULT_SATURATION_FRACTION,
  DEFAULT_SATURATION_MIN_STEPS,
} from "../training/saturation.ts";
import { MAX_DATASET_TOKENS } from "../datasets/tokens.ts";
import { JobError, JobStatus } from "../jobs/schemas.ts";
import { autoDatasetSizes } from "./grid.ts";

/** Most trained models in one sweep (dataset sizes × seeds). */
export const MAX_CAPACITY_RUNS = 64;
/** Most dataset sizes a sweep may add on its own (maxExtraSizes). */
export const MAX_EXTRA_SIZES = 8;
/** Most held-out sequences per seed for test loss. */
export const MAX_TEST_SEQUENCES = 4096;
/** Most models trained side by side in one GPU fleet. */
export const MAX_FLEET_SIZE = 256;

/** The default `plateauTolerance`. */
export const DEFAULT_PLATEAU_TOLERANCE = 0.03;

// ---------------------------------------------------------------------------
// POST /v1/capacity

const Seed = z.number().int().min(0).max(0xffffffff);

/** Same fields and meaning as the runs' OptimizerSpec; capacity defaults (AdamW, lr 1e-2). */
export const CapacityOptimizer = z.object({
  type: z.enum(["adamw", "sgd"]).default("adamw").describe(
    "adamw: PyTorch's AdamW. sgd: plain gradient descent without momentum.",
  ),
  lr: z.number().positive().max(10).default(1e-2).describe("Peak learning rate."),
  betas: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]).default([0.9, 0.999]),
  eps: z.number().positive().default(1e-8),
  weightDecay: z.number().min(0).default(0).describe(
    "Decoupled weight decay (0.1 memorized clearly less in our CPU study).",
  ),
});

export const CapacityTraining = z.object({
  optimizer: CapacityOptimizer.prefault({}),
  batchSize: z.number().int().min(1).max(65536).default(128).describe(
    "Sequences per step (batches wrap across epochs when larger than a dataset).",
  ),
  maxSteps: z.number().int().min(1).max(1_000_000).default(20000).describe(
    "Step budget per model; the schedule spans it. A saturated model stops earlier.",
  ),
  schedule: CapacitySchedule.prefault({}).describe(
    "Learning-rate schedule (default: 100 warmup steps, then cosine cycles restarted on " +
      "every doubling of steps, the first 500 steps long). " +
      "With cosine-restarts memorized bits are measured at the cycle ends only (annealed " +
      "models; evalEvery is not used) and maxSteps is cut back to the last whole cycle.",
  ),
  evalEvery: z.number().int().min(1).default(500).describe(
    "Steps between measurements of memorized bits (the saturation curve); not used by " +
      "cosine-restarts, which measures at its cycle ends.",
  ),
  saturation: z.object({
    fraction: z.number().positive().max(1).default(DEFAULT_SATURATION_FRACTION).describe(
      "Stop a model once its memorized bits grew less than this fraction over the last " +
        "doubling of steps.",
    ),
    minSteps: z.number().int().min(0).default(DEFAULT_SATURATION_MIN_STEPS).describe(
      "No saturation verdict before this many steps.",
    ),
  }).prefault({}),
});
export type CapacityTraining = z.infer<typeof CapacityTraining>;

export const CapacityCreateRequest = z.object({
  config: ModelConfig,
  precision: Precision.default("fp32"),
  datasetSizes: z.union([
    z.array(z.number().int().min(1)).min(1).max(MAX_CAPACITY_RUNS),
    z.literal("auto"),
  ]).default("auto").describe(
    'Sequences per dataset, one model per size and seed; "auto": a geometric grid around ' +
      "the size whose bits match alpha·params (see `auto`).",
  ),
  auto: z.object({
    points: z.number().int().min(1).max(MAX_CAPACITY_RUNS).default(7),
    alpha: z.number().positive().max(64).default(3.6).describe(
      "Guessed bits per parameter that centres the grid.",
    ),
  }).prefault({}).describe("The automatic grid: `points` sizes from N*/4 to 4·N*."),
  seeds: z.union([
    z.array(Seed).min(1).max(MAX_CAPACITY_RUNS),
    z.number().int().min(1).max(MAX_CAPACITY_RUNS),
  ]).default([0]).describe(
    "Seeds of data, initialisation and batch order, or a count n meaning seeds 0..n-1.",
  ),
  training: CapacityTraining.prefault({}),
  maxFleetSize: z.number().int().min(1).max(MAX_FLEET_SIZE).default(16).describe(
    "Most models trained side by side on the GPU at once.",
  ),
  plateauTolerance: z.number().min(0).max(0.5).default(DEFAULT_PLATEAU_TOLERANCE).describe(
    "How far below the capacity a plateau point may lie for the verdict to be certified.",
  ),
  maxExtraSizes: z.number().int().min(0).max(MAX_EXTRA_SIZES).default(2).describe(
    "When memorized bits still rise at the largest dataset (or no dataset fills the model), " +
      "the sweep adds a dataset twice the largest, up to this many times (0: never).",
  ),
  until: z.enum(["budget", "certified"]).default("budget").describe(
    "budget: every model trains at most training.maxSteps. certified: after that, the runs " +
      "that decide the answer (those at capacity-limited sizes that did not saturate) keep " +
      "training, one doubling of steps at a time, until the verdict is certified or " +
      "tokenBudget is spent. Needs schedule kind cosine-restarts (training continues to the " +
      "next cycle end).",
  ),
  tokenBudget: z.number().int().min(1).max(1e15).optional().describe(
    "Most training tokens (steps · batchSize · S, summed over every model) the whole sweep " +
      'may spend with until: "certified"; default 4× what the first pass plans.',
  ),
  testSequences: z.number().int().min(0).max(MAX_TEST_SEQUENCES).default(256).describe(
    "Held-out uniform sequences (one set per seed, never trained on) for each model's test " +
      "loss: on random data a model cannot generalize, so test loss above log2 V shows " +
      "memorization hurting it (the double-descent bump). 0 skips it.",
  ),
}).superRefine((r, ctx) => {
  const config = ModelConfig.safeParse(r.config);
  if (!config.success) return; // its own issues are reported already
  let sizes: number[];
  if (Array.isArray(r.datasetSizes)) {
    sizes = r.datasetSizes;
    const seen = new Set<number>();
    sizes.forEach((n, i) => {
      if (seen.has(n)) {
        ctx.addIssue({ code: "custom", path: ["datasetSizes", i], message: `duplicate size ${n}` });
      }
      seen.add(n);
    });
  } else {
    const points = r.auto?.points, alpha = r.auto?.alpha;
    if (!Number.isInteger(points) || points < 1 || !(alpha > 0)) return;
    sizes = autoDatasetSizes(config.data, { points, alpha });
  }
  const tooBig = sizes.find((n) => n * config.data.seqLen > MAX_DATASET_TOKENS);
  if (tooBig !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["datasetSizes"],
      message: `${tooBig} sequences of ${config.data.seqLen} tokens exceed ` +
        `${MAX_DATASET_TOKENS} tokens`,
    });
  }
  const seeds = Array.isArray(r.seeds) ? r.seeds : null;
  if (seeds && new Set(seeds).size !== seeds.length) {
    ctx.addIssue({ code: "custom", path: ["seeds"], message: "seeds must be distinct" });
  }
  const nSeeds = seeds ? seeds.length : r.seeds as number;
  if (sizes.length * nSeeds > MAX_CAPACITY_RUNS) {
    ctx.addIssue({
      code: "custom",
      path: ["seeds"],
      message: `${sizes.length} dataset sizes × ${nSeeds} seeds = ${sizes.length * nSeeds} ` +
        `models; at most ${MAX_CAPACITY_RUNS}`,
    });
  }
  const t = r.training;
  if (r.until === "certified" && t?.schedule?.kind !== "cosine-restarts") {
    ctx.addIssue({
      code: "custom",
      path: ["until"],
      message: 'until: "certified" needs training.schedule.kind "cosine-restarts": only its ' +
        "training can go on past maxSteps with every measurement annealed",
    });
  }
  if (t && Number.isInteger(t.maxSteps)) {
    if (t.evalEvery > t.maxSteps && t.schedule?.kind !== "cosine-restarts") {
      ctx.addIssue({
        code: "custom",
        path: ["training", "evalEvery"],
        message: `evalEvery ${t.evalEvery} > maxSteps ${t.maxSteps}`,
      });
    }
    const s = t.schedule;
    if (s?.kind === "cosine-restarts" && s.firstCycleSteps > t.maxSteps) {
      ctx.addIssue({
        code: "custom",
        path: ["training", "schedule", "firstCycleSteps"],
        message: `firstCycleSteps ${s.firstCycleSteps} > maxSteps ${t.maxSteps}: ` +
          "no cycle would end within the budget",
      });
    }
    if (s?.kind === "cosine-restarts" && s.warmupSteps >= s.firstCycleSteps) {
      ctx.addIssue({
        code: "custom",
        path: ["training", "schedule", "warmupSteps"],
        message: `warmupSteps ${s.warmupSteps} ≥ firstCycleSteps ${s.firstCycleSteps}`,
      });
    }
    if (t.schedule && t.schedule.warmupSteps >= t.maxSteps) {
      ctx.addIssue({
        code: "custom",
        path: ["training", "schedule", "warmupSteps"],
        message: `warmupSteps ${t.schedule.warmupSteps} ≥ maxSteps ${t.maxSteps}`,
      });
    }
  }
}).describe(
  "A capacity sweep: one model of `config` per dataset size and seed, each trained on " +
    "uniform random tokens until saturation or maxSteps; the plateau of memorized bits is " +
    "the capacity.",
).meta({
  id: "CapacityCreateRequest",
  example: {
    config: { vocabSize: 64, seqLen: 16, layers: 1, dModel: 16, heads: 2 },
    precision: "fp32",
    datasetSizes: "auto",
    auto: { points: 5, alpha: 3.6 },
    seeds: [0],
    training: {
      optimizer: { type: "adamw", lr: 0.01 },
      batchSize: 64,
      maxSteps: 1000,
      schedule: { kind: "cosine", warmupSteps: 100 },
      evalEvery: 100,
      saturation: { fraction: 0.01, minSteps: 400 },
    },
    maxFleetSize: 16,
  },
});
export type CapacityCreateRequest = z.infer<typeof CapacityCreateRequest>;
export type CapacityCreateInput = z.input<typeof CapacityCreateRequest>;
export type CapacityOptimizer = z.infer<typeof CapacityOptimizer>;

// ---------------------------------------------------------------------------
// Response shapes (GET /v1/capacity/{id} carries a CapacityResult)

/** A sweep of the 1-layer d=16 model (V=64, S=16): the examples of CapacityPoint and CapacityResult. */
const EXAMPLE_POINTS = [
  {
    datasetSize: 46,
    datasetBits: 4140,
    memorizedBits: [4101],
    meanBits: 4101,
    minBits: 4101,
    maxBits: 4101,
    fractionMemorized: 0.9906,
    regime: "data-limited",
  },
  {
    datasetSize: 92,
    datasetBits: 8280,
    memorizedBits: [8104],
    meanBits: 8104,
    minBits: 8104,
    maxBits: 8104,
    fractionMemorized: 0.9787,
    regime: "data-limited",
  },
  {
    datasetSize: 184,
    datasetBits: 16560,
    memorizedBits: [11802],
    meanBits: 11802,
    minBits: 11802,
    maxBits: 11802,
    fractionMemorized: 0.7127,
    regime: "capacity-limited",
  },
  {
    datasetSize: 368,
    datasetBits: 33120,
    memorizedBits: [12066],
    meanBits: 12066,
    minBits: 12066,
    maxBits: 12066,
    fractionMemorized: 0.3643,
    regime: "capacity-limited",
  },
  {
    datasetSize: 735,
    datasetBits: 66150,
    memorizedBits: [11950],
    meanBits: 11950,
    minBits: 11950,
    maxBits: 11950,
    fractionMemorized: 0.1807,
    regime: "capacity-limited",
  },
];

const RunStatusSchema = z.enum(["saturated", "unstable", "budget-exhausted"]).describe(
  "saturated: gained less than the saturation fraction (and ≥ 0) over its last doubling of " +
    "steps; unstable: its memorized bits fell (its result is its best annealed measurement); " +
    "budget-exhausted: still gaining when its steps ran out.",
);

export const CapacityPoint = z.object({
  datasetSize: z.number().int().describe("Sequences (N)."),
  datasetBits: z.number().describe("N·(S-1)·log2 V: bits in the dataset, tokens 2..S."),
  memorizedBits: z.array(z.number()).describe("Memorized bits, one per seed (tokens 2..S)."),
  meanBits: z.number().describe("Mean of memorizedBits."),
  minBits: z.number(),
  maxBits: z.number(),
  fractionMemorized: z.number().describe("meanBits / datasetBits."),
  regime: z.enum(["data-limited", "capacity-limited"]).describe(
    "data-limited: memorized ≥ 1 - tolerance of its dataset (the data was the limit); " +
      "capacity-limited: memorized less (the model was full, or undertrained).",
  ),
  statuses: z.array(RunStatusSchema).optional().describe(
    "How each seed's run ended (its certificate's status), in memorizedBits' order.",
  ),
  unseenBits: z.array(z.number().nullable()).optional().describe(
    "Each seed's run's unseenBits, in memorizedBits' order (null where not measured).",
  ),
  clipCreditBits: z.array(z.number().nullable()).optional().describe(
    "Each seed's run's clipCreditBits, in memorizedBits' order (null where not measured).",
  ),
}).meta({
  id: "CapacityPoint",
  example: EXAMPLE_POINTS[3],
});

export const CapacityFit = z.object({
  capacityBits: z.number().describe("c of the least-squares fit memorized = min(datasetBits, c)."),
  rmsBits: z.number().describe("Root-mean-square residual of that fit, bits."),
  relativeRms: z.number().describe("rmsBits / capacityBits."),
  observations: z.number().int().describe("Values fitted (dataset sizes × seeds)."),
  bounded: z.boolean().describe(
    "false when no dataset holds more than (1 + tolerance)·c bits: c is then only a lower bound.",
  ),
});

/** The example of CapacityResult; CapacitySweepResult extends it (below). */
export const CAPACITY_RESULT_EXAMPLE = {
  parameterCount: 4592,
  capacityBits: 12066,
  bitsPerParameter: 2.6276,
  capacityDatasetSize: 368,
  verdict: "certified",
  reasons: [],
  plateauReached: true,
  plateau: { datasetSizes: [368, 735], spread: 0.00961, trend: "flat" },
  tolerance: 0.1,
  plateauTolerance: 0.03,
  fit: {
    capacityBits: 11939.33,
    rmsBits: 116.2,
    relativeRms: 0.00973,
    observations: 5,
    bounded: true,
  },
  points: EXAMPLE_POINTS.map((p) => ({ ...p, statuses: ["saturated"] })),
};

export const CapacityResult = z.object({
  parameterCount: z.number().int().describe("GPT-2 parameters with tied embeddings."),
  capacityBits: z.number().describe(
    "The largest mean memorized bits over the capacity-limited dataset sizes (tokens 2..S); " +
      "over all sizes when none is capacity-limited. A capacity only when verdict is certified.",
  ),
  bitsPerParameter: z.number().describe("capacityBits / parameterCount (α)."),
  capacityDatasetSize: z.number().int().describe("The dataset size holding capacityBits."),
  verdict: z.enum(["certified", "lower-bound"]).describe(
    "certified: capacityBits comes from saturated runs at capacity-limited points on a flat " +
      "plateau. lower-bound: something in `reasons` keeps it from being the capacity; the " +
      "true capacity is at least capacityBits (as far as the measured runs go), except " +
      "with chance-credit and clip-credit, where part of capacityBits may be chance wins " +
      "of the measure or bits its per-sample clip forgives.",
  ),
  reasons: z.array(z.object({
    code: z.enum([
      "no-capacity-limited-point",
      "still-rising",
      "too-few-plateau-points",
      "falling",
      "not-flat",
      "not-saturated",
      "saturation-unknown",
      "chance-credit",
      "clip-credit",
    ]),
    message: z.string(),
  })).describe("Why the verdict is lower-bound, in plain words; empty when certified."),
  plateauReached: z.boolean().describe(
    "The shape part of the verdict: two or more points past the knee, flat within " +
      "plateauTolerance, neither rising at the largest size nor falling with N.",
  ),
  plateau: z.object({
    datasetSizes: z.array(z.number().int()).describe(
      "Capacity-limited sizes past the knee (memorized ≤ 2/3 of their data).",
    ),
    spread: z.number().nullable().describe(
      "(max - min) / capacityBits of their mean bits; null with fewer than 2.",
    ),
    trend: z.enum(["flat", "rising", "falling", "none"]),
  }),
  tolerance: z.number().describe("Relative tolerance of the regime labels."),
  plateauTolerance: z.number().describe("How far below capacityBits a plateau point may lie."),
  fit: CapacityFit,
  points: z.array(CapacityPoint).describe("One per dataset size, ascending."),
}).meta({ id: "CapacityResult", example: CAPACITY_RESULT_EXAMPLE });
export type CapacityResult = z.infer<typeof CapacityResult>;

// ---------------------------------------------------------------------------
// What a capacity sweep reports besides the fit (lib/capacity/fit.ts): each
// model's training outcome, the budget it had, and progress while it runs.

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
  unseenBits: z.number().nullable().optional().describe(
    "The same measure on sequences the model never saw: Σ max(0, (S-1)·log2 V − NLL) over " +
      "the seed's held-out sequences, scaled to N. The per-sample clip at 0 credits chance " +
      "wins, so this is how many of memorizedBits could be noise of the measure rather than " +
      "memory; near 0 for a model that memorized (null when testSequences is 0, absent from " +
      "runs measured before it was reported).",
  ),
  clipCreditBits: z.number().optional().describe(
    "What the per-sample clip adds at the last measurement: Σ max(0, NLL − (S-1)·log2 V) " +
      "over the training sequences the model codes longer than uniform. Without the clip the " +
      "last measurement would be this much lower; a share that grows with N makes memorized " +
      "bits rise with N without the model storing more (absent from runs measured before it " +
      "was reported).",
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
    unseenBits: 0,
    clipCreditBits: 0,
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

/** What ended a sweep; only "token-budget" can be continued with a larger budget. */
export const SWEEP_STOPS = [
  "certified",
  "one-pass",
  "token-budget",
  "step-limit",
  "deciding-runs-saturated",
  "no-larger-dataset",
] as const;
export const SweepStop = z.enum(SWEEP_STOPS).describe(
  'certified: the verdict is certified. one-pass: until "budget" trains the grid once. ' +
    "token-budget: the next training would pass tokenBudget; the unsaturated runs' states " +
    "are kept, so POST /v1/capacity/{id}/extend can continue it with a larger one. " +
    "step-limit: the next doubling would pass the most steps a run may take. " +
    "deciding-runs-saturated: every run that decides the answer is saturated. " +
    "no-larger-dataset: the grid wants a larger dataset than the vocabulary and length allow.",
).meta({ id: "SweepStop" });
export type SweepStop = z.infer<typeof SweepStop>;

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
    stoppedBy: SweepStop.nullable().describe(
      "What ended the sweep (null for sweeps stored before it was recorded).",
    ),
    tokensToGoOn: z.number().nullable().describe(
      'With stoppedBy "token-budget": the smallest tokenBudget that pays for the training it ' +
        "stopped short of (the tokens spent and that training's); null otherwise.",
    ),
    extendedFrom: z.array(z.number()).describe(
      "The token budgets this sweep stopped at before POST /v1/capacity/{id}/extend raised " +
        "it, oldest first; empty when it ran on its first budget.",
    ),
  }).describe("The training budget every measured figure depends on."),
  extrapolated: ExtrapolatedCapacity.nullable().describe(
    "Where the curves point with unlimited training: a projection beside the measured " +
      "capacityBits, not a capacity. null when no dataset size has pinned-down fits for all " +
      "its seeds.",
  ),
  seconds: z.number().describe(
    "Wall time of the attempt that finished the sweep: after a resume (resumedFrom) or an " +
      "extension (budget.extendedFrom) the earlier attempts' time is not in it.",
  ),
  tokensPerSecond: z.number().describe(
    "Average training throughput over all models, of the attempt that finished the sweep (as " +
      "seconds).",
  ),
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
      stoppedBy: "certified",
      tokensToGoOn: null,
      extendedFrom: [],
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
  result: SweepResult.nullable().describe(
    "null until the sweep first succeeds. While an extension (POST /v1/capacity/{id}/extend) " +
      "runs, and after one failed or was cancelled, the result the sweep stopped at (the " +
      "top-level figures too).",
  ),
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
