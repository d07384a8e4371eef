// Capacity from a finished sweep. Each point is one dataset size with the
// memorized bits (tokens 2..S, lib/memorization/memorization.ts) of the model trained on it,
// one value per seed. docs/method.md: memorized bits follow min(H(X), capacity) —
// all of a small dataset, then a plateau that no more data raises.
//
// A capacity is only as good as the points it comes from, so the fit also
// says whether it can be trusted (the verdict): it must come from
// capacity-limited points that lie on a flat plateau, every one of them from
// a saturated run whose figure is memory, not chance (unseenBits) nor the
// per-sample clip (clipCreditBits). Anything else is a lower bound, with the
// reasons in words.
import type { RunStatus } from "../training/saturation.ts";
import { type CapacityResult, DEFAULT_PLATEAU_TOLERANCE } from "./schemas.ts";

export interface CapacityPointInput {
  /** Sequences in the dataset (N). */
  datasetSize: number;
  /** Its uniform code length N·(S-1)·log2 V, bits. */
  datasetBits: number;
  /** Memorized bits of the trained model, one per seed. */
  memorizedBits: number[];
  /** How each seed's run ended (its certificate); unknown when left out. */
  statuses?: RunStatus[];
  /** Each seed's unseenBits (what the clipped measure credits to N unseen sequences). */
  unseenBits?: (number | null)[];
  /** Each seed's clipCreditBits (what the clip adds over the net saving on its data). */
  clipCreditBits?: (number | null)[];
}

export interface FitOptions {
  /** GPT-2 parameter count of the model (lib/model/config.ts parameterCount). */
  parameterCount: number;
  /**
   * Relative tolerance (default 0.1): a point memorizing ≥ (1 - tolerance) of
   * its dataset bits is data-limited.
   */
  tolerance?: number;
  /** How far plateau points may lie under the capacity and still be flat (default 0.03). */
  plateauTolerance?: number;
}

/**
 * A capacity-limited point counts as past the knee of min(H, c) once it
 * memorized at most this fraction of its data: near the knee the curve bends
 * smoothly and points sit under the plateau without any training fault.
 */
const PAST_KNEE_FRACTION = 2 / 3;

/** Why a capacity is only a lower bound; `code` is for programs, `message` for people. */
export type ReasonCode =
  | "no-capacity-limited-point"
  | "still-rising"
  | "too-few-plateau-points"
  | "falling"
  | "not-flat"
  | "not-saturated"
  | "saturation-unknown"
  | "chance-credit"
  | "clip-credit";
export interface Reason {
  code: ReasonCode;
  message: string;
}

export type Regime = "data-limited" | "capacity-limited";

export interface MinModelFit {
  /** c minimizing Σ (y - min(x, c))² over every observation, bits. */
  capacityBits: number;
  /** sqrt(mean squared residual), bits. */
  rmsBits: number;
  /** rmsBits / capacityBits (0 when capacityBits is 0). */
  relativeRms: number;
  /** Observations fitted (points × seeds). */
  observations: number;
  /**
   * True when some dataset holds clearly more bits than c (x > (1 + tolerance)·c),
   * so a plateau pins c down; false otherwise: then c is about the largest
   * dataset's bits (or above, where the fit is flat in c), only a lower bound.
   */
  bounded: boolean;
}

/**
 * Least-squares fit of y = min(x, c) over c (x = dataset bits, y = memorized
 * bits). For fixed c the observations split into x ≤ c (residual y - x) and
 * x > c (residual y - c); within each interval between sorted x values the
 * split is fixed and the best c is the mean y of the x > c group, clamped to
 * the interval. Every interval is tried; the lowest sum of squares wins.
 * `tolerance` (default 0.1) only decides `bounded`.
 */
export function fitMinModel(
  observations: readonly { x: number; y: number }[],
  tolerance = 0.1,
): MinModelFit {
  const n = observations.length;
  if (n === 0) throw new RangeError("fitMinModel: no observations");
  const obs = [...observations].sort((a, b) => a.x - b.x);
  for (const o of obs) {
    if (!Number.isFinite(o.x) || !Number.isFinite(o.y)) {
      throw new RangeError(`fitMinModel: non-finite observation (${o.x}, ${o.y})`);
    }
  }
  const sse = (c: number) => {
    let s = 0;
    for (const o of obs) s += (o.y - Math.min(o.x, c)) ** 2;
    return s;
  };
  // Suffix sums of y give the mean of the "above" group for each split k:
  // obs[0..k) below (x ≤ c), obs[k..n) above (x > c).
  const suffix = new Float64Array(n + 1);
  for (let i = n - 1; i >= 0; i--) suffix[i] = suffix[i + 1] + obs[i].y;
  let best = obs[n - 1].x, bestSse = sse(best);
  for (let k = 0; k < n; k++) {
    if (k > 0 && obs[k].x === obs[k - 1].x) continue; // same split as before
    const lo = k === 0 ? -Infinity : obs[k - 1].x;
    const hi = obs[k].x;
    const c = Math.min(hi, Math.max(lo, suffix[k] / (n - k)));
    const s = sse(c);
    if (s < bestSse) {
      best = c;
      bestSse = s;
    }
  }
  const rmsBits = Math.sqrt(bestSse / n);
  return {
    capacityBits: best,
    rmsBits,
    relativeRms: best !== 0 ? rmsBits / Math.abs(best) : 0,
    observations: n,
    bounded: obs[n - 1].x > (1 + tolerance) * best,
  };
}

export interface CapacityPoint extends CapacityPointInput {
  meanBits: number;
  minBits: number;
  maxBits: number;
  /** meanBits / datasetBits. */
  fractionMemorized: number;
  regime: Regime;
}

/**
 * Summarizes a sweep: per-point mean/min/max over seeds, the capacity, the
 * min-model fit, and the verdict.
 *
 * capacityBits is the largest mean memorized bits over the capacity-limited
 * points (memorized less than 1 - tolerance of their data); with none, over
 * all points, and then it is only a lower bound. The plateau is the
 * capacity-limited points past the knee (memorized ≤ 2/3 of their data).
 * certified when all of: at least two plateau points, every one within
 * plateauTolerance of the capacity, no larger dataset falling more than that
 * under it (memorized bits falling with N means the larger datasets were
 * under-trained), the capacity not at the largest size more than half the
 * tolerance above the size before (still rising),
 * every run of every capacity-limited point saturated, and none of those points
 * with unseen bits (chance credit) or clip credit over plateauTolerance of its
 * bits. bitsPerParameter = capacityBits / parameterCount.
 */
export function fitCapacity(
  points: readonly CapacityPointInput[],
  opts: FitOptions,
): CapacityResult {
  const tolerance = opts.tolerance ?? 0.1;
  const plateauTolerance = opts.plateauTolerance ?? DEFAULT_PLATEAU_TOLERANCE;
  if (!(opts.parameterCount > 0)) {
    throw new RangeError(`parameterCount: ${opts.parameterCount} is not > 0`);
  }
  if (!(tolerance >= 0 && tolerance < 1)) {
    throw new RangeError(`tolerance: ${tolerance} is not in [0, 1)`);
  }
  if (!(plateauTolerance >= 0 && plateauTolerance < 1)) {
    throw new RangeError(`plateauTolerance: ${plateauTolerance} is not in [0, 1)`);
  }
  if (points.length === 0) throw new RangeError("points: no dataset sizes");
  points.forEach((p, i) => {
    if (p.memorizedBits.length === 0) {
      throw new RangeError(`points[${i}].memorizedBits: no seeds`);
    }
    if (!(p.datasetBits > 0)) {
      throw new RangeError(`points[${i}].datasetBits: ${p.datasetBits} is not > 0`);
    }
    p.memorizedBits.forEach((b, j) => {
      if (!Number.isFinite(b)) {
        throw new RangeError(`points[${i}].memorizedBits[${j}]: ${b} is not finite`);
      }
    });
    for (const key of ["unseenBits", "clipCreditBits"] as const) {
      const values = p[key];
      if (values && values.length !== p.memorizedBits.length) {
        throw new RangeError(
          `points[${i}].${key}: ${values.length} values for ${p.memorizedBits.length} seeds`,
        );
      }
    }
    if (p.statuses && p.statuses.length !== p.memorizedBits.length) {
      throw new RangeError(
        `points[${i}].statuses: ${p.statuses.length} statuses for ` +
          `${p.memorizedBits.length} seeds`,
      );
    }
  });
  const sorted = [...points].sort((a, b) => a.datasetSize - b.datasetSize);
  const summarized: CapacityPoint[] = sorted.map((p) => {
    const bits = p.memorizedBits;
    const meanBits = bits.reduce((s, b) => s + b, 0) / bits.length;
    const fractionMemorized = meanBits / p.datasetBits;
    const point: CapacityPoint = {
      datasetSize: p.datasetSize,
      datasetBits: p.datasetBits,
      memorizedBits: [...bits],
      meanBits,
      minBits: Math.min(...bits),
      maxBits: Math.max(...bits),
      fractionMemorized,
      regime: fractionMemorized >= 1 - tolerance ? "data-limited" : "capacity-limited",
    };
    if (p.statuses) point.statuses = [...p.statuses];
    if (p.unseenBits) point.unseenBits = [...p.unseenBits];
    if (p.clipCreditBits) point.clipCreditBits = [...p.clipCreditBits];
    return point;
  });
  const fit = fitMinModel(
    summarized.flatMap((p) => p.memorizedBits.map((y) => ({ x: p.datasetBits, y }))),
    tolerance,
  );
  const judged = judgePlateau(summarized, plateauTolerance);
  const capacityBits = judged.top.meanBits;
  return {
    parameterCount: opts.parameterCount,
    capacityBits,
    bitsPerParameter: capacityBits / opts.parameterCount,
    capacityDatasetSize: judged.top.datasetSize,
    verdict: judged.reasons.length === 0 ? "certified" : "lower-bound",
    reasons: judged.reasons,
    plateauReached: judged.shapeOk,
    plateau: judged.plateau,
    tolerance,
    plateauTolerance,
    fit,
    points: summarized,
  };
}

/** Dataset sizes whose runs decide the verdict: the capacity-limited ones. */
export function decidingSizes(points: readonly Pick<CapacityPoint, "datasetSize" | "regime">[]) {
  return points.filter((p) => p.regime === "capacity-limited").map((p) => p.datasetSize);
}

/** True when a reason says larger datasets are needed to see the plateau. */
export function needsLargerDatasets(reasons: readonly Reason[]): boolean {
  return reasons.some((r) =>
    r.code === "no-capacity-limited-point" || r.code === "still-rising" ||
    r.code === "too-few-plateau-points"
  );
}

function judgePlateau(points: CapacityPoint[], tol: number) {
  const reasons: Reason[] = [];
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const cap = points.filter((p) => p.regime === "capacity-limited");
  if (cap.length === 0) {
    let top = points[0];
    for (const p of points) if (p.meanBits > top.meanBits) top = p;
    reasons.push({
      code: "no-capacity-limited-point",
      message: "every dataset was memorized almost whole: the capacity lies above the largest " +
        "dataset's bits; add larger datasets",
    });
    return {
      top,
      reasons,
      shapeOk: false,
      plateau: { datasetSizes: [], spread: null, trend: "none" as const },
    };
  }
  let top = cap[0];
  for (const p of cap) if (p.meanBits > top.meanBits) top = p;
  const plateau = cap.filter((p) => p.fractionMemorized <= PAST_KNEE_FRACTION);
  const floor = top.meanBits * (1 - tol);
  let trend: "flat" | "rising" | "falling" = "flat";
  const after = cap.filter((p) => p.datasetSize > top.datasetSize);
  const lowest = after.reduce<CapacityPoint | null>(
    (lo, p) => (lo === null || p.meanBits < lo.meanBits ? p : lo),
    null,
  );
  if (lowest && lowest.meanBits < floor) {
    trend = "falling";
    reasons.push({
      code: "falling",
      message:
        `under-trained: memorized bits fall with the dataset size (N=${lowest.datasetSize} ` +
        `holds ${pct(1 - lowest.meanBits / top.meanBits)} less than N=${top.datasetSize}); ` +
        "larger datasets need more steps to saturate: train longer",
    });
  }
  if (after.length === 0) {
    const before = cap.filter((p) => p.datasetSize < top.datasetSize).at(-1);
    // The largest dataset holding the most is what a rising curve looks like; past half the
    // tolerance it is not seed noise on a flat top.
    if (!before || top.meanBits > before.meanBits * (1 + tol / 2)) {
      trend = "rising";
      reasons.push({
        code: "still-rising",
        message: before
          ? `memorized bits still rise at the largest dataset (N=${top.datasetSize} holds ` +
            `${pct(top.meanBits / before.meanBits - 1)} more than N=${before.datasetSize}): ` +
            "add larger datasets"
          : `one capacity-limited dataset (N=${top.datasetSize}) cannot show a plateau: ` +
            "add larger datasets",
      });
    }
  }
  if (plateau.length < 2 && trend !== "rising") {
    reasons.push({
      code: "too-few-plateau-points",
      message: `${plateau.length} point${plateau.length === 1 ? "" : "s"} past the knee ` +
        `(memorized ≤ 2/3 of the data); a plateau needs 2: add larger datasets`,
    });
  }
  const under = plateau.filter((p) => p.meanBits < floor && p.datasetSize < top.datasetSize);
  if (under.length > 0 && trend === "flat") {
    trend = "rising";
    reasons.push({
      code: "not-flat",
      message: `the plateau is not flat: N=${under[0].datasetSize} holds ` +
        `${pct(1 - under[0].meanBits / top.meanBits)} less than N=${top.datasetSize} ` +
        `(tolerance ${pct(tol)})`,
    });
  }
  const shapeOk = reasons.length === 0;
  const runs = cap.flatMap((p) => (p.statuses ?? p.memorizedBits.map(() => null)));
  const unknown = runs.filter((s) => s === null).length;
  const unsaturated = runs.filter((s) => s !== null && s !== "saturated") as RunStatus[];
  if (unknown > 0) {
    reasons.push({
      code: "saturation-unknown",
      message: `${unknown} of ${runs.length} runs at capacity-limited points have no ` +
        "saturation certificate",
    });
  }
  if (unsaturated.length > 0) {
    const count = (s: RunStatus) => unsaturated.filter((x) => x === s).length;
    const parts = (["budget-exhausted", "unstable"] as const).filter((s) => count(s) > 0).map(
      (s) => `${count(s)} ${s}`,
    );
    reasons.push({
      code: "not-saturated",
      message: `${unsaturated.length} of ${runs.length} runs at capacity-limited points did not ` +
        `saturate (${parts.join(", ")}): the capacity is a lower bound; raise ` +
        `training.maxSteps, or ask for until: "certified"`,
    });
  }
  // Chance wins the clip credits, and the bits it forgives on sequences coded longer than
  // uniform, would make a capacity higher than what the models store.
  const worstShare = (values: (p: CapacityPoint) => (number | null)[] | undefined) => {
    const over = cap.map((p) => ({ p, share: meanKnown(values(p)) / p.meanBits }))
      .filter((x) => x.share > tol);
    return over.length ? over.reduce((a, b) => (b.share > a.share ? b : a)) : null;
  };
  const chance = worstShare((p) => p.unseenBits);
  if (chance) {
    reasons.push({
      code: "chance-credit",
      message: `${pct(chance.share)} of N=${chance.p.datasetSize}'s memorized bits is what the ` +
        "per-sample measure credits to as many sequences its models never saw (unseenBits, " +
        `over the tolerance ${pct(tol)}): the figure may hold chance, not memory; train longer`,
    });
  }
  const clipped = worstShare((p) => p.clipCreditBits);
  if (clipped) {
    reasons.push({
      code: "clip-credit",
      message: `${pct(clipped.share)} of N=${clipped.p.datasetSize}'s memorized bits is what ` +
        "the per-sample clip at 0 adds over the net saving Σ (uniform − NLL), from training " +
        `sequences coded longer than uniform (clipCreditBits, over the tolerance ${pct(tol)}): ` +
        "the figure counts bits the models do not store",
    });
  }
  const values = plateau.map((p) => p.meanBits);
  return {
    top,
    reasons,
    shapeOk,
    plateau: {
      datasetSizes: plateau.map((p) => p.datasetSize),
      spread: values.length >= 2
        ? (Math.max(...values) - Math.min(...values)) / top.meanBits
        : null,
      trend,
    },
  };
}

/** Mean of the known values; 0 when none is known. */
function meanKnown(values: readonly (number | null)[] | undefined): number {
  const known = (values ?? []).filter((v): v is number => v !== null);
  return known.length ? known.reduce((a, b) => a + b, 0) / known.length : 0;
}
