// Extrapolating memorized bits to unlimited training. Capacity is defined on
// models trained to saturation (docs/method.md), but runs stop at a step budget; a
// curve still rising at the last checkpoint would understate capacity. We fit
//   m(t) = mInf − a·t^(−b)
// (a power-law approach to an asymptote) and report mInf with a bootstrap
// interval, plus a flag for curves that do not pin mInf down.
import { Rng } from "../prng.ts";
import type { CurvePoint } from "../training/saturation.ts";

export type { CurvePoint };

export interface AsymptoteFit {
  /** Fitted asymptote, bits. Not clamped: it may lie below the largest observed bits. */
  mInf: number;
  /** m(t) = mInf − a·t^(−b); a ≥ 0 (a = 0 when the curve does not rise). */
  a: number;
  b: number;
  /** 90% residual-bootstrap interval for mInf (5th, 95th percentiles). */
  interval: [number, number];
  /** sqrt(mean squared residual) of the fit, bits. */
  rmsBits: number;
  /** Points used (step ≥ minStep, step > 0). */
  points: number;
  /**
   * False when mInf is not pinned down: the best b sits at the lower edge of
   * bRange (within 1%: the curve still looks logarithmic, and as b → 0 the
   * model tends to a + c·ln t with mInf → ∞), more than 5% of bootstrap refits
   * do so (the upper percentile then comes from such fits), or the interval
   * is not finite. A flat or falling curve (a = 0) leaves b meaningless and
   * is not counted as "at the edge": mInf is then just the mean.
   */
  bounded: boolean;
}

export interface AsymptoteOptions {
  /** Ignore points before this step (default 1): early transients bend the fit. */
  minStep?: number;
  /** Search range for b (default [0.05, 2]). */
  bRange?: [number, number];
  /** Bootstrap resamples (default 200). */
  resamples?: number;
  /** Bootstrap seed (default 0): same seed, same interval. */
  seed?: number;
}

const GRID = 60;
const MIN_POINTS = 4;
const PARAMS = 3; // mInf, a, b
const EDGE = 1.01; // "at the lower edge" = b ≤ lo·EDGE
const MAX_EDGE_FRACTION = 0.05; // matches the 5% tail of the interval

interface Solved {
  mInf: number;
  a: number;
  b: number;
  sse: number;
}

/** Closed-form least squares of y on x = t^(−b) for a fixed b, with a ≥ 0. */
function solveAt(t: readonly number[], y: readonly number[], b: number): Solved {
  const n = t.length;
  const x = t.map((s) => s ** -b);
  const mx = x.reduce((s, v) => s + v, 0) / n;
  const my = y.reduce((s, v) => s + v, 0) / n;
  // Centred sums keep precision when x is nearly constant (small b).
  let sxx = 0, sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (x[i] - mx) ** 2;
    sxy += (x[i] - mx) * (y[i] - my);
  }
  // y = mInf − a·x, so a = −slope. A falling (or x-constant) curve has no
  // approach from below: a = 0 and the best constant is the mean.
  let a = sxx > 0 ? -sxy / sxx : 0;
  if (!(a > 0)) a = 0;
  const mInf = my + a * mx;
  let sse = 0;
  for (let i = 0; i < n; i++) sse += (y[i] - (mInf - a * x[i])) ** 2;
  return { mInf, a, b, sse };
}

/** Best b: log-spaced grid, then golden-section search between the best point's neighbours. */
function fitCurve(t: readonly number[], y: readonly number[], lo: number, hi: number): Solved {
  const at = (logB: number) => solveAt(t, y, Math.exp(logB));
  const l0 = Math.log(lo), l1 = Math.log(hi), step = (l1 - l0) / (GRID - 1);
  let best = at(l0), bestI = 0;
  for (let i = 1; i < GRID; i++) {
    const s = at(l0 + i * step);
    if (s.sse < best.sse) [best, bestI] = [s, i];
  }
  // SSE is unimodal near the grid minimum in practice; refine in log b.
  let u = l0 + Math.max(0, bestI - 1) * step;
  let v = l0 + Math.min(GRID - 1, bestI + 1) * step;
  const g = (Math.sqrt(5) - 1) / 2;
  let c = v - g * (v - u), d = u + g * (v - u);
  let fc = at(c), fd = at(d);
  for (let k = 0; k < 200 && v - u > 1e-12; k++) {
    if (fc.sse <= fd.sse) {
      [v, d, fd] = [d, c, fc];
      c = v - g * (v - u);
      fc = at(c);
    } else {
      [u, c, fc] = [c, d, fd];
      d = u + g * (v - u);
      fd = at(d);
    }
  }
  for (const s of [fc, fd]) if (s.sse < best.sse) best = s;
  return best;
}

/** Linear-interpolated quantile of sorted values (q in [0, 1]). */
function quantile(sorted: readonly number[], q: number): number {
  const h = (sorted.length - 1) * q, i = Math.floor(h);
  return i + 1 < sorted.length ? sorted[i] + (h - i) * (sorted[i + 1] - sorted[i]) : sorted[i];
}

/**
 * Fits m(t) = mInf − a·t^(−b) to a memorization curve. Returns null with fewer
 * than 4 usable points (3 parameters need at least one residual degree of freedom).
 */
export function fitAsymptote(
  curve: readonly CurvePoint[],
  opts: AsymptoteOptions = {},
): AsymptoteFit | null {
  const minStep = opts.minStep ?? 1;
  const [lo, hi] = opts.bRange ?? [0.05, 2];
  const resamples = opts.resamples ?? 200;
  if (!(lo > 0 && hi > lo && Number.isFinite(hi))) {
    throw new RangeError(`bRange: [${lo}, ${hi}] is not 0 < lo < hi`);
  }
  if (!(Number.isInteger(resamples) && resamples >= 1)) {
    throw new RangeError(`resamples: ${resamples} is not a positive integer`);
  }
  const used = curve.filter((p) =>
    p.step >= minStep && p.step > 0 && Number.isFinite(p.step) && Number.isFinite(p.bits)
  );
  if (used.length < MIN_POINTS) return null;
  const t = used.map((p) => p.step), y = used.map((p) => p.bits), n = used.length;

  const fit = fitCurve(t, y, lo, hi);
  const atEdge = (s: Solved) => s.a > 0 && s.b <= lo * EDGE;
  const fitted = t.map((s) => fit.mInf - fit.a * s ** -fit.b);
  // Residuals of a 3-parameter fit understate the noise; the usual
  // sqrt(n/(n−p)) inflation keeps the bootstrap from being too narrow on short curves.
  const inflate = Math.sqrt(n / (n - PARAMS));
  const resid = y.map((v, i) => (v - fitted[i]) * inflate);

  const rng = new Rng(opts.seed ?? 0);
  const mInfs: number[] = [];
  let edgeFits = 0;
  for (let r = 0; r < resamples; r++) {
    const yStar = fitted.map((f) => f + resid[rng.int(n)]);
    const s = fitCurve(t, yStar, lo, hi);
    mInfs.push(s.mInf);
    if (atEdge(s)) edgeFits++;
  }
  mInfs.sort((p, q) => p - q);
  const interval: [number, number] = [quantile(mInfs, 0.05), quantile(mInfs, 0.95)];

  const bounded = !atEdge(fit) && edgeFits <= MAX_EDGE_FRACTION * resamples &&
    interval.every(Number.isFinite) && interval[0] <= interval[1];
  return {
    mInf: fit.mInf,
    a: fit.a,
    b: fit.b,
    interval,
    rmsBits: Math.sqrt(fit.sse / n),
    points: n,
    bounded,
  };
}

/** The fitted curve at `step` (> 0); mInf as step → ∞. */
export function predictAsymptote(fit: AsymptoteFit, step: number): number {
  return fit.mInf - fit.a * step ** -fit.b;
}
