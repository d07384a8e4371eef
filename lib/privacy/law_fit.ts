// Fitting the membership law F1 = ½(1 + c1·σ(c2·(x + c3))) to our own
// membership runs (x = 1000·|D|·S/(64·params), `lawX` in scaling_law.ts). Three constants,
// a handful of points: least squares by Nelder-Mead from the paper's
// constants, which is enough for a smooth 3-parameter curve and needs no
// dependency.
import { type LawConstants, membershipF1Law } from "./scaling_law.ts";

export interface LawPoint {
  /** x = 1000·|D|·S/(64·params) (`lawX`): 15.625 × tokens per parameter. */
  x: number;
  /** Observed balanced F1. */
  f1: number;
}

export interface LawFit {
  c1: number;
  c2: number;
  c3: number;
  rms: number;
  points: number;
}

/** Root-mean-square error of the law under constants `c` on `points` (unclamped law). */
export function lawRms(
  points: readonly LawPoint[],
  c: Pick<LawConstants, "c1" | "c2" | "c3">,
): number {
  if (points.length === 0) throw new RangeError("no points");
  const sse = points.reduce((s, p) => s + (p.f1 - membershipF1Law(p.x, c)) ** 2, 0);
  return Math.sqrt(sse / points.length);
}

/** Least-squares constants; `start` defaults to the paper's (1.34, -0.034, -33.14). */
export function fitMembershipLaw(
  points: readonly LawPoint[],
  start: [number, number, number] = [1.34, -0.034, -33.14],
): LawFit {
  if (points.length < 3) {
    throw new RangeError(`need ≥ 3 points to fit 3 constants, got ${points.length}`);
  }
  for (const p of points) {
    if (!Number.isFinite(p.x) || !Number.isFinite(p.f1)) {
      throw new RangeError(`non-finite point (${p.x}, ${p.f1})`);
    }
  }
  const sse = ([c1, c2, c3]: number[]) =>
    points.reduce((s, p) => s + (p.f1 - membershipF1Law(p.x, { c1, c2, c3 })) ** 2, 0);
  // The slope c2 lives on a much smaller scale than c3: scale the initial simplex per axis.
  const best = nelderMead(sse, start, start.map((v) => Math.max(Math.abs(v) * 0.5, 0.05)));
  return {
    c1: best[0],
    c2: best[1],
    c3: best[2],
    rms: Math.sqrt(sse(best) / points.length),
    points: points.length,
  };
}

/** Plain Nelder-Mead (reflection 1, expansion 2, contraction ½, shrink ½), restarted once. */
export function nelderMead(
  f: (x: number[]) => number,
  start: number[],
  steps: number[],
  iterations = 4000,
): number[] {
  let x = start;
  for (let restart = 0; restart < 2; restart++) x = simplexSearch(f, x, steps, iterations);
  return x;
}

function simplexSearch(
  f: (x: number[]) => number,
  start: number[],
  steps: number[],
  iterations: number,
) {
  const n = start.length;
  let simplex = [start, ...start.map((_, i) => start.map((v, j) => (i === j ? v + steps[i] : v)))]
    .map((p) => ({ p, v: f(p) }));
  const combine = (a: number[], b: number[], t: number) => a.map((ai, i) => ai + t * (b[i] - ai));
  for (let it = 0; it < iterations; it++) {
    simplex.sort((a, b) => a.v - b.v);
    if (Math.abs(simplex[n].v - simplex[0].v) < 1e-14 * (1 + Math.abs(simplex[0].v))) break;
    const centroid = start.map((_, i) => simplex.slice(0, n).reduce((s, q) => s + q.p[i], 0) / n);
    const worst = simplex[n];
    const reflected = combine(centroid, worst.p, -1);
    const fr = f(reflected);
    if (fr < simplex[0].v) {
      const expanded = combine(centroid, worst.p, -2);
      const fe = f(expanded);
      simplex[n] = fe < fr ? { p: expanded, v: fe } : { p: reflected, v: fr };
    } else if (fr < simplex[n - 1].v) {
      simplex[n] = { p: reflected, v: fr };
    } else {
      const contracted = combine(centroid, worst.p, 0.5);
      const fc = f(contracted);
      if (fc < worst.v) simplex[n] = { p: contracted, v: fc };
      else {
        const best = simplex[0].p;
        simplex = simplex.map((
          q,
          i,
        ) => (i === 0 ? q : { p: combine(best, q.p, 0.5), v: f(combine(best, q.p, 0.5)) }));
      }
    }
  }
  simplex.sort((a, b) => a.v - b.v);
  return simplex[0].p;
}
