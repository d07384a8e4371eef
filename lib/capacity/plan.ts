// Planning a capacity sweep (POST /v1/capacity): which dataset sizes to train
// on, with which seeds and training settings.
//
// Capacity (docs/method.md) is the plateau of memorized bits against dataset size
// for models trained to saturation. A sweep trains one model per (dataset
// size, seed) on uniform random tokens; small datasets are memorized whole
// (data-limited), large ones fill the model (capacity-limited). The automatic
// grid centres on the size N* whose uniform code length equals a guess of the
// capacity, alpha·params bits, and spans N*/4 .. 4·N*.
import { parameterCount } from "../model/config.ts";
import type { ModelConfig } from "../model/schemas.ts";
import { MAX_DATASET_TOKENS } from "../datasets/tokens.ts";
import { autoDatasetSizes, datasetBits } from "./grid.ts";
import { type CapacityCreateRequest, MAX_CAPACITY_RUNS } from "./schemas.ts";

/** Most optimizer steps a model may reach while the sweep trains on until certified. */
export const MAX_CERTIFY_STEPS = 4_000_000;

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
