// Capacity from a finished sweep. Each point is one dataset size with the
// memorized bits (tokens 2..S, lib/memorization.ts) of the model trained on it,
// one value per seed. PAPER.md: memorized bits follow min(H(X), capacity) —
// all of a small dataset, then a plateau that no more data raises.
import { z } from "zod";
import { paperConventionFactor } from "../memorization.ts";

export interface CapacityPointInput {
  /** Sequences in the dataset (N). */
  datasetSize: number;
  /** Its uniform code length N·(S-1)·log2 V, bits. */
  datasetBits: number;
  /** Memorized bits of the trained model, one per seed. */
  memorizedBits: number[];
}

export interface FitOptions {
  /** GPT-2 parameter count of the model (lib/model/config.ts parameterCount). */
  parameterCount: number;
  /** Tokens per sequence; when given, the paper's S/(S-1) figures are reported too. */
  seqLen?: number;
  /**
   * Relative tolerance (default 0.1): a point memorizing ≥ (1 - tolerance) of
   * its dataset bits is data-limited, and the two largest sizes must agree
   * within it for the plateau to count as reached.
   */
  tolerance?: number;
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
 * Summarizes a sweep: per-point mean/min/max over seeds, the capacity as the
 * plateau (the largest mean memorized bits over dataset sizes), the min-model
 * fit, and whether the plateau was reached: the two largest dataset sizes both
 * hold more bits than the capacity, are capacity-limited (memorized less than
 * 1 - tolerance of their data) and agree within `tolerance`. Without that the
 * largest point may still be data-limited or still rising, and capacityBits is
 * a lower bound. bitsPerParameter = capacityBits / parameterCount.
 */
export function fitCapacity(
  points: readonly CapacityPointInput[],
  opts: FitOptions,
): CapacityResult {
  const tolerance = opts.tolerance ?? 0.1;
  if (!(opts.parameterCount > 0)) {
    throw new RangeError(`parameterCount: ${opts.parameterCount} is not > 0`);
  }
  if (!(tolerance >= 0 && tolerance < 1)) {
    throw new RangeError(`tolerance: ${tolerance} is not in [0, 1)`);
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
  });
  const sorted = [...points].sort((a, b) => a.datasetSize - b.datasetSize);
  const summarized: CapacityPoint[] = sorted.map((p) => {
    const bits = p.memorizedBits;
    const meanBits = bits.reduce((s, b) => s + b, 0) / bits.length;
    const fractionMemorized = meanBits / p.datasetBits;
    return {
      datasetSize: p.datasetSize,
      datasetBits: p.datasetBits,
      memorizedBits: [...bits],
      meanBits,
      minBits: Math.min(...bits),
      maxBits: Math.max(...bits),
      fractionMemorized,
      regime: fractionMemorized >= 1 - tolerance ? "data-limited" : "capacity-limited",
    };
  });
  let top = summarized[0];
  for (const p of summarized) if (p.meanBits > top.meanBits) top = p;
  const capacityBits = top.meanBits;
  const fit = fitMinModel(
    summarized.flatMap((p) => p.memorizedBits.map((y) => ({ x: p.datasetBits, y }))),
    tolerance,
  );
  let plateauReached = false;
  if (summarized.length >= 2) {
    const [a, b] = summarized.slice(-2);
    const full = (p: CapacityPoint) =>
      p.datasetBits > capacityBits && p.regime === "capacity-limited";
    const hi = Math.max(a.meanBits, b.meanBits);
    plateauReached = full(a) && full(b) && hi > 0 &&
      Math.abs(a.meanBits - b.meanBits) <= tolerance * hi;
  }
  const bitsPerParameter = capacityBits / opts.parameterCount;
  const result: CapacityResult = {
    parameterCount: opts.parameterCount,
    capacityBits,
    bitsPerParameter,
    capacityDatasetSize: top.datasetSize,
    plateauReached,
    tolerance,
    fit,
    points: summarized,
  };
  if (opts.seqLen !== undefined) {
    const factor = paperConventionFactor(opts.seqLen);
    result.paperConvention = {
      factor,
      capacityBits: capacityBits * factor,
      bitsPerParameter: bitsPerParameter * factor,
    };
  }
  return result;
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
  plateauReached: true,
  tolerance: 0.1,
  fit: {
    capacityBits: 11939.33,
    rmsBits: 116.2,
    relativeRms: 0.00973,
    observations: 5,
    bounded: true,
  },
  points: EXAMPLE_POINTS,
  paperConvention: { factor: 16 / 15, capacityBits: 12870.4, bitsPerParameter: 2.8028 },
};

export const CapacityResult = z.object({
  parameterCount: z.number().int().describe("GPT-2 parameters with tied embeddings."),
  capacityBits: z.number().describe(
    "The plateau: the largest mean memorized bits over dataset sizes (tokens 2..S).",
  ),
  bitsPerParameter: z.number().describe("capacityBits / parameterCount (α)."),
  capacityDatasetSize: z.number().int().describe("The dataset size where the plateau was met."),
  plateauReached: z.boolean().describe(
    "The two largest dataset sizes hold more bits than capacityBits, are capacity-limited and " +
      "agree within tolerance. false: capacityBits is a lower bound (add larger datasets or " +
      "train longer).",
  ),
  tolerance: z.number().describe("Relative tolerance of regime labels and the plateau test."),
  fit: CapacityFit,
  points: z.array(CapacityPoint).describe("One per dataset size, ascending."),
  paperConvention: z.object({
    factor: z.number().describe("S/(S-1)."),
    capacityBits: z.number(),
    bitsPerParameter: z.number(),
  }).optional().describe(
    "capacityBits and bitsPerParameter × S/(S-1), the paper's all-S-tokens convention, " +
      "for comparison with its Table 1 only.",
  ),
}).meta({ id: "CapacityResult", example: CAPACITY_RESULT_EXAMPLE });
export type CapacityResult = z.infer<typeof CapacityResult>;
