// A capacity sweep's seeds and its projection to unlimited training; what a sweep reports
// (its runs, budget and progress) is lib/capacity/schemas.ts.
import type { ExtrapolatedCapacity, SweepRun } from "./schemas.ts";

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
