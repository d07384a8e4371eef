// Spearman's rank correlation: the Pearson correlation of the two samples' ranks, tied
// values sharing the mean of the ranks they span (so the formula stays exact with ties,
// where the shortcut 1 - 6Σd²/(n(n²-1)) does not).

/** 1-based ranks of xs, ties given their average rank. */
export function averageRanks(xs: ArrayLike<number>): Float64Array {
  const n = xs.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => xs[a] - xs[b]);
  const ranks = new Float64Array(n);
  for (let i = 0; i < n;) {
    let j = i + 1;
    while (j < n && xs[order[j]] === xs[order[i]]) j++;
    const rank = (i + 1 + j) / 2; // mean of ranks i+1 .. j
    for (let k = i; k < j; k++) ranks[order[k]] = rank;
    i = j;
  }
  return ranks;
}

/**
 * Spearman's ρ of paired samples, in [-1, 1]. NaN when it is undefined: fewer than two
 * pairs, or one side constant (no ranking to agree with). Throws on unequal lengths or a
 * non-finite value.
 */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) {
    throw new RangeError(`y: ${y.length} values for ${x.length} in x`);
  }
  for (const [name, v] of [["x", x], ["y", y]] as const) {
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i])) throw new RangeError(`${name}[${i}]: ${v[i]} is not finite`);
    }
  }
  const n = x.length;
  if (n < 2) return NaN;
  const rx = averageRanks(x), ry = averageRanks(y);
  const mean = (n + 1) / 2; // the mean of any average ranks of n values
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = rx[i] - mean, dy = ry[i] - mean;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return NaN;
  // Clamp: rounding may put a perfect correlation a hair outside [-1, 1].
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}
