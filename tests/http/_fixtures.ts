// Request fragments several HTTP tests share (no imports: the process tests use them too).

/** A sweep's `training` that passes validation and finishes in 2 steps. */
export const TINY_SWEEP_TRAINING = {
  batchSize: 2,
  maxSteps: 2,
  evalEvery: 1,
  schedule: { kind: "constant", warmupSteps: 0 },
  saturation: { minSteps: 0 },
} as const;
