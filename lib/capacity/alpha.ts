// Bits per parameter across model sizes. The paper's headline is that
// capacity is proportional to parameter count (α ≈ 3.6 bits/param), so we fit
// a line through the origin rather than with an intercept: a model with no
// parameters memorizes nothing, and the slope is then directly α.

export interface AlphaFit {
  /** Least-squares slope through the origin, bits per parameter. */
  alpha: number;
  /** Student-t interval for alpha at the requested level, n − 1 degrees of freedom. */
  interval: [number, number];
  /**
   * 1 − SSE/Σ(c − mean c)². Uses the centred total, so it can be negative
   * when a line through the origin fits worse than a constant; NaN when all
   * capacities are equal (no variation to explain).
   */
  r2: number;
  points: number;
}

/** ln Γ(x) for x > 0, Lanczos approximation (g = 7, 9 terms; ~1e-15 relative). */
function lnGamma(x: number): number {
  const c = [
    0.99999999999980993,
    676.5203681218851,
    -1259.1392167224028,
    771.32342877765313,
    -176.61502916214059,
    12.507343278686905,
    -0.13857109526572012,
    9.9843695780195716e-6,
    1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  x -= 1;
  let s = c[0];
  for (let i = 1; i < 9; i++) s += c[i] / (x + i);
  const t = x + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(s);
}

/** Continued fraction for the incomplete beta (modified Lentz; Numerical Recipes betacf). */
function betaCf(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  const guard = (v: number) => (Math.abs(v) < tiny ? tiny : v);
  let c = 1, d = 1 / guard(1 - (a + b) * x / (a + 1)), h = d;
  // Each Lentz step folds in one coefficient; returns the last factor to test convergence.
  const step = (num: number) => {
    d = 1 / guard(1 + num * d);
    c = guard(1 + num / c);
    h *= d * c;
    return d * c;
  };
  for (let m = 1; m <= 300; m++) {
    step(m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)));
    const last = step(-(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)));
    if (Math.abs(last - 1) < 1e-15) break;
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b). */
function betaInc(a: number, b: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(
    lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log(1 - x),
  );
  // The continued fraction converges fast only on one side of the mean; use symmetry otherwise.
  return x < (a + 1) / (a + b + 2)
    ? front * betaCf(a, b, x) / a
    : 1 - front * betaCf(b, a, 1 - x) / b;
}

/** Student-t CDF with df degrees of freedom. */
function studentTCdf(t: number, df: number): number {
  const tail = 0.5 * betaInc(df / 2, 0.5, df / (df + t * t));
  return t >= 0 ? 1 - tail : tail;
}

/** Student-t quantile: the t with CDF(t) = p, by bisection (accurate to ~1e-10 relative). */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`p: ${p} is not in (0, 1)`);
  if (!(df > 0)) throw new RangeError(`df: ${df} is not > 0`);
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  let lo = 0, hi = 1;
  while (studentTCdf(hi, df) < p) [lo, hi] = [hi, hi * 2];
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * Fits capacityBits = α·parameters by least squares through the origin.
 * Throws RangeError with fewer than 2 points (no residual degree of freedom,
 * so no interval), non-finite values, non-positive parameter counts, or a
 * level outside (0, 1).
 */
export function fitAlpha(
  points: readonly { parameters: number; capacityBits: number }[],
  opts: { level?: number } = {},
): AlphaFit {
  const level = opts.level ?? 0.95;
  const n = points.length;
  if (n < 2) throw new RangeError(`fitAlpha: need at least 2 points, got ${n}`);
  if (!(level > 0 && level < 1)) throw new RangeError(`level: ${level} is not in (0, 1)`);
  for (const { parameters, capacityBits } of points) {
    if (!(parameters > 0 && Number.isFinite(parameters) && Number.isFinite(capacityBits))) {
      throw new RangeError(`fitAlpha: bad point (${parameters}, ${capacityBits})`);
    }
  }
  let spc = 0, spp = 0, mean = 0;
  for (const { parameters: p, capacityBits: c } of points) {
    spc += p * c;
    spp += p * p;
    mean += c / n;
  }
  const alpha = spc / spp;
  let sse = 0, sst = 0;
  for (const { parameters: p, capacityBits: c } of points) {
    sse += (c - alpha * p) ** 2;
    sst += (c - mean) ** 2;
  }
  // One fitted parameter, so n − 1 residual degrees of freedom.
  const se = Math.sqrt(sse / (n - 1) / spp);
  const half = studentTQuantile(0.5 + level / 2, n - 1) * se;
  return {
    alpha,
    interval: [alpha - half, alpha + half],
    r2: sst > 0 ? 1 - sse / sst : NaN,
    points: n,
  };
}

/**
 * Mean of |observed − predicted| / predicted, e.g. memorized bits against
 * min(capacity, H(X)). Relative to the prediction so that small and large
 * datasets weigh alike. Throws RangeError on an empty list or a prediction ≤ 0
 * (relative error undefined).
 */
export function meanRelativeError(
  pairs: readonly { predicted: number; observed: number }[],
): number {
  if (pairs.length === 0) throw new RangeError("meanRelativeError: no pairs");
  let sum = 0;
  for (const { predicted, observed } of pairs) {
    if (!(predicted > 0)) throw new RangeError(`meanRelativeError: predicted ${predicted} ≤ 0`);
    sum += Math.abs(observed - predicted) / predicted;
  }
  return sum / pairs.length;
}
