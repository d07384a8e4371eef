// Capacity from a finished sweep. Each point is one dataset size with the
// memorized bits (tokens 2..S, lib/memorization.ts) of the model trained on it,
// one value per seed. docs/method.md: memorized bits follow min(H(X), capacity) —
// all of a small dataset, then a plateau that no more data raises.
//
// A capacity is only as good as the points it comes from, so the fit also
// says whether it can be trusted (the verdict): it must come from
// capacity-limited points that lie on a flat plateau, every one of them from
// a saturated run. Anything else is a lower bound, with the reasons in words.
import { z } from "zod";
import type { RunStatus } from "../training/saturation.ts";

export interface CapacityPointInput {
  /** Sequences in the dataset (N). */
  datasetSize: number;
  /** Its uniform code length N·(S-1)·log2 V, bits. */
  datasetBits: number;
  /** Memorized bits of the trained model, one per seed. */
  memorizedBits: number[];
  /** How each seed's run ended (its certificate); unknown when left out. */
  statuses?: RunStatus[];
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

/** The default `plateauTolerance`. */
export const DEFAULT_PLATEAU_TOLERANCE = 0.03;
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
  | "saturation-unknown";
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
 * tolerance above the size before (still rising), and
 * every run of every capacity-limited point saturated. bitsPerParameter =
 * capacityBits / parameterCount.
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

// ---------------------------------------------------------------------------
// Response shapes (GET /v1/capacity/{id} carries a CapacityResult)

/** A sweep of the 1-layer d=16 model (V=64, S=16): the examples of CapacityPoint and CapacityResult. */
const EXAMPLE_POINTS = [
  {
    datasetSize: 46,
    datasetBits: 4140,
    memorizedBits: [4101],
    meanBits: 4101,
    minBits: 4101,
    maxBits: 4101,
    fractionMemorized: 0.9906,
    regime: "data-limited",
  },
  {
    datasetSize: 92,
    datasetBits: 8280,
    memorizedBits: [8104],
    meanBits: 8104,
    minBits: 8104,
    maxBits: 8104,
    fractionMemorized: 0.9787,
    regime: "data-limited",
  },
  {
    datasetSize: 184,
    datasetBits: 16560,
    memorizedBits: [11802],
    meanBits: 11802,
    minBits: 11802,
    maxBits: 11802,
    fractionMemorized: 0.7127,
    regime: "capacity-limited",
  },
  {
    datasetSize: 368,
    datasetBits: 33120,
    memorizedBits: [12066],
    meanBits: 12066,
    minBits: 12066,
    maxBits: 12066,
    fractionMemorized: 0.3643,
    regime: "capacity-limited",
  },
  {
    datasetSize: 735,
    datasetBits: 66150,
    memorizedBits: [11950],
    meanBits: 11950,
    minBits: 11950,
    maxBits: 11950,
    fractionMemorized: 0.1807,
    regime: "capacity-limited",
  },
];

const RunStatusSchema = z.enum(["saturated", "unstable", "budget-exhausted"]).describe(
  "saturated: gained less than the saturation fraction (and ≥ 0) over its last doubling of " +
    "steps; unstable: its memorized bits fell (its result is its best annealed measurement); " +
    "budget-exhausted: still gaining when its steps ran out.",
);

export const CapacityPoint = z.object({
  datasetSize: z.number().int().describe("Sequences (N)."),
  datasetBits: z.number().describe("N·(S-1)·log2 V: bits in the dataset, tokens 2..S."),
  memorizedBits: z.array(z.number()).describe("Memorized bits, one per seed (tokens 2..S)."),
  meanBits: z.number().describe("Mean of memorizedBits."),
  minBits: z.number(),
  maxBits: z.number(),
  fractionMemorized: z.number().describe("meanBits / datasetBits."),
  regime: z.enum(["data-limited", "capacity-limited"]).describe(
    "data-limited: memorized ≥ 1 - tolerance of its dataset (the data was the limit); " +
      "capacity-limited: memorized less (the model was full, or undertrained).",
  ),
  statuses: z.array(RunStatusSchema).optional().describe(
    "How each seed's run ended (its certificate's status), in memorizedBits' order.",
  ),
}).meta({
  id: "CapacityPoint",
  example: EXAMPLE_POINTS[3],
});

export const CapacityFit = z.object({
  capacityBits: z.number().describe("c of the least-squares fit memorized = min(datasetBits, c)."),
  rmsBits: z.number().describe("Root-mean-square residual of that fit, bits."),
  relativeRms: z.number().describe("rmsBits / capacityBits."),
  observations: z.number().int().describe("Values fitted (dataset sizes × seeds)."),
  bounded: z.boolean().describe(
    "false when no dataset holds more than (1 + tolerance)·c bits: c is then only a lower bound.",
  ),
});

/** The example of CapacityResult; CapacitySweepResult extends it (lib/capacity/sweep.ts). */
export const CAPACITY_RESULT_EXAMPLE = {
  parameterCount: 4592,
  capacityBits: 12066,
  bitsPerParameter: 2.6276,
  capacityDatasetSize: 368,
  verdict: "certified",
  reasons: [],
  plateauReached: true,
  plateau: { datasetSizes: [368, 735], spread: 0.00961, trend: "flat" },
  tolerance: 0.1,
  plateauTolerance: 0.03,
  fit: {
    capacityBits: 11939.33,
    rmsBits: 116.2,
    relativeRms: 0.00973,
    observations: 5,
    bounded: true,
  },
  points: EXAMPLE_POINTS.map((p) => ({ ...p, statuses: ["saturated"] })),
};

export const CapacityResult = z.object({
  parameterCount: z.number().int().describe("GPT-2 parameters with tied embeddings."),
  capacityBits: z.number().describe(
    "The largest mean memorized bits over the capacity-limited dataset sizes (tokens 2..S); " +
      "over all sizes when none is capacity-limited. A capacity only when verdict is certified.",
  ),
  bitsPerParameter: z.number().describe("capacityBits / parameterCount (α)."),
  capacityDatasetSize: z.number().int().describe("The dataset size holding capacityBits."),
  verdict: z.enum(["certified", "lower-bound"]).describe(
    "certified: capacityBits comes from saturated runs at capacity-limited points on a flat " +
      "plateau. lower-bound: something in `reasons` keeps it from being the capacity; the " +
      "true capacity is at least capacityBits (as far as the measured runs go).",
  ),
  reasons: z.array(z.object({
    code: z.enum([
      "no-capacity-limited-point",
      "still-rising",
      "too-few-plateau-points",
      "falling",
      "not-flat",
      "not-saturated",
      "saturation-unknown",
    ]),
    message: z.string(),
  })).describe("Why the verdict is lower-bound, in plain words; empty when certified."),
  plateauReached: z.boolean().describe(
    "The shape part of the verdict: two or more points past the knee, flat within " +
      "plateauTolerance, neither rising at the largest size nor falling with N.",
  ),
  plateau: z.object({
    datasetSizes: z.array(z.number().int()).describe(
      "Capacity-limited sizes past the knee (memorized ≤ 2/3 of their data).",
    ),
    spread: z.number().nullable().describe(
      "(max - min) / capacityBits of their mean bits; null with fewer than 2.",
    ),
    trend: z.enum(["flat", "rising", "falling", "none"]),
  }),
  tolerance: z.number().describe("Relative tolerance of the regime labels."),
  plateauTolerance: z.number().describe("How far below capacityBits a plateau point may lie."),
  fit: CapacityFit,
  points: z.array(CapacityPoint).describe("One per dataset size, ascending."),
}).meta({ id: "CapacityResult", example: CAPACITY_RESULT_EXAMPLE });
export type CapacityResult = z.infer<typeof CapacityResult>;
