// Request fragments several HTTP tests share (no imports: the process tests use them too).

/** A sweep's `training` that passes validation and finishes in 2 steps. */
export const TINY_SWEEP_TRAINING = {
  batchSize: 2,
  maxSteps: 2,
  evalEvery: 1,
  schedule: { kind: "constant", warmupSteps: 0 },
  saturation: { minSteps: 0 },
} as const;

/**
 * A sweep of two tiny models in one fleet, evaluated once at the end: what the resume
 * tests cut short and compare with the same sweep run in one go.
 */
export function oneFleetSweep(steps: number) {
  return {
    config: { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 1 },
    datasetSizes: [8, 24],
    seeds: [0],
    testSequences: 0,
    maxFleetSize: 2,
    maxExtraSizes: 0, // one fleet, nothing added after it
    training: {
      batchSize: 8,
      maxSteps: steps,
      // One evaluation, at the end: only a checkpoint lets the fleet continue past step 0.
      evalEvery: steps,
      optimizer: { type: "adamw", lr: 0.01 },
      schedule: { kind: "cosine", warmupSteps: 10 },
    },
  };
}
