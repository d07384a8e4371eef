// Planning a capacity sweep (POST /v1/capacity): which dataset sizes to train
// on, with which seeds and training settings.
//
// Capacity (docs/method.md) is the plateau of memorized bits against dataset size
// for models trained to saturation. A sweep trains one model per (dataset
// size, seed) on uniform random tokens; small datasets are memorized whole
// (data-limited), large ones fill the model (capacity-limited). The automatic
// grid centres on the size N* whose uniform code length equals a guess of the
// capacity, alpha·params bits, and spans N*/4 .. 4·N*.
import { z } from "zod";
import { ModelConfig, parameterCount, Precision } from "../model/config.ts";
import { CapacitySchedule } from "../training/schedule.ts";
import {
  DEFAULT_SATURATION_FRACTION,
  DEFAULT_SATURATION_MIN_STEPS,
} from "../training/saturation.ts";
import { MAX_DATASET_TOKENS } from "../datasets/tokens.ts";
import { DEFAULT_PLATEAU_TOLERANCE } from "./fit.ts";

/** Most trained models in one sweep (dataset sizes × seeds). */
export const MAX_CAPACITY_RUNS = 64;
/** Most dataset sizes a sweep may add on its own (maxExtraSizes). */
export const MAX_EXTRA_SIZES = 8;
/** Most optimizer steps a model may reach while the sweep trains on until certified. */
export const MAX_CERTIFY_STEPS = 4_000_000;
/** Most held-out sequences per seed for test loss. */
export const MAX_TEST_SEQUENCES = 4096;
/** Most models trained side by side in one GPU fleet. */
export const MAX_FLEET_SIZE = 256;

/** N·(S-1)·log2 V: bits of N uniform sequences of S tokens, tokens 2..S. */
export function datasetBits(count: number, seqLen: number, vocabSize: number): number {
  if (!Number.isInteger(count) || count < 0) {
    throw new RangeError(`count: ${count} is not an integer ≥ 0`);
  }
  if (!Number.isInteger(seqLen) || seqLen < 2) {
    throw new RangeError(`seqLen: ${seqLen} is not an integer ≥ 2`);
  }
  if (!Number.isInteger(vocabSize) || vocabSize < 2) {
    throw new RangeError(`vocabSize: ${vocabSize} is not an integer ≥ 2`);
  }
  return count * (seqLen - 1) * Math.log2(vocabSize);
}

export interface AutoSizeOptions {
  /** Grid points (default 7). */
  points?: number;
  /** Guessed bits per parameter (default 3.6, the paper's headline). */
  alpha?: number;
  /** The grid spans N* / span .. N*·span (default 4). */
  span?: number;
}

/**
 * N* = alpha·params / ((S-1)·log2 V), the dataset size (sequences, not
 * rounded) whose uniform code length equals the guessed capacity alpha·params
 * bits.
 */
export function predictedPlateauSize(config: ModelConfig, alpha = 3.6): number {
  if (!(alpha > 0)) throw new RangeError(`alpha: ${alpha} is not > 0`);
  return (alpha * parameterCount(config)) / datasetBits(1, config.seqLen, config.vocabSize);
}

/**
 * Dataset sizes (sequences) for a sweep: `points` sizes on a geometric grid
 * from N* / span to N*·span centred on N* (predictedPlateauSize), rounded to
 * integers ≥ 1, deduplicated, ascending (tiny models can give fewer than
 * `points` sizes after rounding).
 */
export function autoDatasetSizes(config: ModelConfig, opts: AutoSizeOptions = {}): number[] {
  const points = opts.points ?? 7;
  const span = opts.span ?? 4;
  if (!Number.isInteger(points) || points < 1) {
    throw new RangeError(`points: ${points} is not an integer ≥ 1`);
  }
  if (!(span >= 1)) throw new RangeError(`span: ${span} is not ≥ 1`);
  const nStar = predictedPlateauSize(config, opts.alpha ?? 3.6);
  const sizes = new Set<number>();
  for (let i = 0; i < points; i++) {
    // exponent from -1 to 1: N*·span^-1 .. N*·span^1
    const e = points === 1 ? 0 : (2 * i) / (points - 1) - 1;
    sizes.add(Math.max(1, Math.round(nStar * span ** e)));
  }
  return [...sizes].sort((a, b) => a - b);
}

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

/** Seeds as a list: a count n means 0..n-1. */
export function resolveSeeds(seeds: number[] | number): number[] {
  return Array.isArray(seeds) ? [...seeds] : Array.from({ length: seeds }, (_, i) => i);
}

export interface CapacityPlan {
  parameterCount: number;
  /** alpha·params bits: the guess that centres the automatic grid. */
  predictedCapacityBits: number;
  /** Dataset sizes (sequences), ascending. */
  datasetSizes: number[];
  seeds: number[];
  /** One per dataset size: its uniform code length N·(S-1)·log2 V in bits. */
  points: { datasetSize: number; datasetBits: number }[];
  /** Every model to train, sizes outer, seeds inner. */
  runs: { datasetSize: number; seed: number }[];
  /** `runs` in groups of at most maxFleetSize, trained side by side. */
  fleets: { datasetSize: number; seed: number }[][];
}

/** Expands a parsed request into the models to train. */
export function planCapacity(req: CapacityCreateRequest): CapacityPlan {
  const { config } = req;
  const sizes = req.datasetSizes === "auto"
    ? autoDatasetSizes(config, req.auto)
    : [...new Set(req.datasetSizes)].sort((a, b) => a - b);
  const seeds = resolveSeeds(req.seeds);
  const runs = sizes.flatMap((datasetSize) => seeds.map((seed) => ({ datasetSize, seed })));
  const fleets = fleetsOf(runs, req.maxFleetSize);
  const params = parameterCount(config);
  return {
    parameterCount: params,
    predictedCapacityBits: req.auto.alpha * params,
    datasetSizes: sizes,
    seeds,
    points: sizes.map((n) => ({
      datasetSize: n,
      datasetBits: datasetBits(n, config.seqLen, config.vocabSize),
    })),
    runs,
    fleets,
  };
}

/** Runs in groups of at most `maxFleetSize`, trained side by side. */
export function fleetsOf<T>(runs: readonly T[], maxFleetSize: number): T[][] {
  const fleets: T[][] = [];
  for (let i = 0; i < runs.length; i += maxFleetSize) fleets.push(runs.slice(i, i + maxFleetSize));
  return fleets;
}

/**
 * The dataset size a sweep adds when its plateau lies beyond the grid: twice
 * the largest, or null (with why) when that would pass the sweep's limits.
 */
export function extraDatasetSize(
  sizes: readonly number[],
  seeds: number,
  config: Pick<ModelConfig, "seqLen">,
): { size: number } | { size: null; why: string } {
  const size = 2 * Math.max(...sizes);
  if ((sizes.length + 1) * seeds > MAX_CAPACITY_RUNS) {
    return { size: null, why: `another size would pass ${MAX_CAPACITY_RUNS} models` };
  }
  if (size * config.seqLen > MAX_DATASET_TOKENS) {
    return {
      size: null,
      why: `${size} sequences of ${config.seqLen} tokens would pass ${MAX_DATASET_TOKENS} tokens`,
    };
  }
  return { size };
}
