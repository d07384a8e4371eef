// seed-spread: how far one seed's memorized bits stray. Every other study
// trains one seed per dataset size, and a verdict compares single-seed points
// against a 3% plateau tolerance; this study trains four seeds (each its own
// dataset draw and initialization) at the sizes the reference study's 1-layer
// d=16 sweep used, on the capacity grid's budget, and says how many standard
// deviations of seed noise that tolerance is. It also reports what the
// per-sample measure credits to sequences the models never saw (unseenBits).
import type { SweepResult } from "../../lib/capacity/schemas.ts";
import type { Precision } from "../../lib/model/schemas.ts";
import { parameterCount } from "../../lib/model/config.ts";
import { predictedPlateauSize } from "../../lib/capacity/grid.ts";
import { capacityPlotSvg } from "../../lib/plot/capacity_plot.ts";
import {
  certificateSection,
  fmt,
  int,
  modelConfig,
  provenance,
  runSweeps,
  type Scale,
  type Study,
  type StudyContext,
  table,
  trainingFor,
  worstShare,
  writeReport,
} from "../study.ts";

const SEEDS = [0, 1, 2, 3];

function shape(scale: Scale) {
  return scale === "cpu"
    ? modelConfig(scale, { vocabSize: 64, seqLen: 16, layers: 1, dModel: 16 })
    : modelConfig(scale, { vocabSize: 2048, seqLen: 64, layers: 1, dModel: 32 });
}

/** cpu: the reference study's L1 d16 sizes with its two added ones; paper: 2–16 × N*. */
function sizes(scale: Scale): number[] {
  if (scale === "cpu") return [220, 500, 1000, 2000];
  const nStar = predictedPlateauSize(shape(scale), 3.6);
  return [2, 4, 8, 16].map((k) => Math.round(k * nStar));
}

function requests(scale: Scale, precisions: Precision[], maxSteps?: number) {
  return [{
    label: `seed-spread ${precisions[0]}`,
    request: {
      config: shape(scale),
      precision: precisions[0],
      datasetSizes: sizes(scale),
      seeds: SEEDS,
      training: trainingFor(scale, maxSteps),
      // The spread at these sizes is the question: no sizes added.
      maxExtraSizes: 0,
      maxFleetSize: scale === "cpu" ? 16 : 4,
      testSequences: 512,
    },
  }];
}

export interface SpreadRow {
  datasetSize: number;
  bits: number[];
  mean: number;
  /** Sample standard deviation over seeds / mean. */
  relativeSd: number;
  /** (max − min) / mean. */
  relativeRange: number;
  /** Mean unseenBits over the seeds that report it, null when none does. */
  unseenBits: number | null;
  /** Mean clipCreditBits over the seeds that report it, null when none does. */
  clipCreditBits: number | null;
}

/** Per dataset size: the seeds' memorized bits, their relative spread, unseen bits and clip credit. */
export function spreadRows(r: Pick<SweepResult, "runs">): SpreadRow[] {
  const bySize = Map.groupBy(r.runs, (x) => x.datasetSize);
  return [...bySize.entries()].sort(([a], [b]) => a - b).map(([datasetSize, runs]) => {
    const bits = runs.map((x) => x.memorizedBits);
    const mean = bits.reduce((s, b) => s + b, 0) / bits.length;
    const variance = bits.length > 1
      ? bits.reduce((s, b) => s + (b - mean) ** 2, 0) / (bits.length - 1)
      : NaN;
    const known = (values: (number | null | undefined)[]) => {
      const got = values.filter((u): u is number => u != null);
      return got.length ? got.reduce((s, u) => s + u, 0) / got.length : null;
    };
    return {
      datasetSize,
      bits,
      mean,
      relativeSd: Math.sqrt(variance) / mean,
      relativeRange: (Math.max(...bits) - Math.min(...bits)) / mean,
      unseenBits: known(runs.map((x) => x.unseenBits)),
      clipCreditBits: known(runs.map((x) => x.clipCreditBits)),
    };
  });
}

/** P(|Z| > z) for a standard normal Z (Abramowitz & Stegun 7.1.26, error under 1.5e-7). */
export function twoSidedTail(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly = t * (0.254829592 + t * (-0.284496736 +
        t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return poly * Math.exp(-x * x); // erfc(x)
}

/** The relative standard deviation pooled over sizes: √(mean of the relative variances). */
export function pooledRelativeSd(rows: SpreadRow[]): number {
  return Math.sqrt(rows.reduce((s, x) => s + x.relativeSd ** 2, 0) / rows.length);
}

async function run(ctx: StudyContext) {
  const [done] = await runSweeps(ctx, requests(ctx.scale, ctx.precisions, ctx.maxSteps));
  const r: SweepResult = done.result;
  const config = shape(ctx.scale);
  const rows = spreadRows(r);
  const sd = pooledRelativeSd(rows);
  const tol = r.plateauTolerance;
  // Two single-seed points differ by noise with standard deviation √2·sd.
  const sigmas = tol / (Math.SQRT2 * sd);
  const means = rows.map((x) => x.mean);
  const gap = (Math.max(...means) - Math.min(...means)) / Math.max(...means);
  const worst = worstShare(r.runs, "unseenBits");
  const worstClip = worstShare(r.runs, "clipCreditBits");
  const t = trainingFor(ctx.scale, ctx.maxSteps)!;
  const files: Record<string, string> = {
    "capacity.svg": capacityPlotSvg(r, { title: `${SEEDS.length} seeds per dataset size` }),
    "results.json": JSON.stringify(
      { study: "seed-spread", scale: ctx.scale, pooledRelativeSd: sd, rows, sweep: done },
      null,
      2,
    ),
  };
  files["report.md"] = [
    `# seed-spread (${ctx.scale} scale)`,
    "",
    `How far one seed's memorized bits stray. One model (${config.layers} layer, d = ` +
    `${config.dModel}, ${config.heads} heads, V = ${config.vocabSize}, S = ${config.seqLen}, ` +
    `${int(parameterCount(config))} parameters, ${done.request.precision}) trained with ` +
    `${SEEDS.length} seeds at each dataset size; a seed draws both the dataset and the ` +
    "initialization. Every other study trains one seed per size.",
    "",
    `**One seed's value has a relative standard deviation of ${fmt(sd * 100, 1)}%** (pooled ` +
    `over ${rows.length} sizes), so two single-seed points differ by noise with a standard ` +
    `deviation of ${fmt(Math.SQRT2 * sd * 100, 1)}%. The plateau tolerance of ${
      fmt(tol * 100, 0)
    }% is ${fmt(sigmas, 1)} of those standard deviations: on a truly flat plateau two ` +
    `single-seed points would differ by more than it in ${
      fmt(100 * twoSidedTail(sigmas), 0)
    }% of pairs (normal noise). The seed means here span ${fmt(gap * 100, 1)}% over the sizes.`,
    "",
    worst
      ? `What the per-sample measure credits to sequences the models never saw (unseen bits: ` +
        `the clipped sum over each seed's held-out set, scaled to N) reaches ` +
        `${fmt(worst.share * 100, 1)}% of a run's memorized bits (N = ${worst.datasetSize}).`
      : "No run reported unseen bits.",
    "",
    worstClip
      ? `What the clip at 0 adds over the net saving Σ (uniform − NLL) on the training ` +
        `sequences (clip credit: the bits of the sequences coded longer than uniform) reaches ` +
        `${fmt(worstClip.share * 100, 1)}% of a run's memorized bits (N = ` +
        `${worstClip.datasetSize}).`
      : "No run reported clip credit.",
    "",
    table(
      [
        "N",
        "memorized bits per seed",
        "mean",
        "seed sd",
        "range",
        "unseen bits (mean)",
        "clip credit (mean)",
      ],
      rows.map((x) => [
        x.datasetSize,
        x.bits.map(int).join(", "),
        int(x.mean),
        `${fmt(x.relativeSd * 100, 1)}%`,
        `${fmt(x.relativeRange * 100, 1)}%`,
        x.unseenBits === null ? "–" : int(x.unseenBits),
        x.clipCreditBits === null ? "–" : int(x.clipCreditBits),
      ]),
    ),
    "",
    "seed sd and range are relative to the mean. The capacity of the seed means is " +
    `${int(r.capacityBits)} bits (${fmt(r.bitsPerParameter)} bits/param, ${r.verdict}` +
    (r.reasons.length ? `: ${r.reasons.map((x) => x.code).join(", ")}` : "") + ").",
    "",
    "![capacity](capacity.svg)",
    "",
    certificateSection([done]),
    "## Budget and settings",
    "",
    `- The capacity grid's budget: AdamW lr ${t.optimizer?.lr}, batch ${t.batchSize}, ` +
    `${t.schedule?.kind} (first cycle ${t.schedule?.firstCycleSteps}), at most ` +
    `${int(t.maxSteps!)} steps. Seed noise of runs trained longer may differ.`,
    `- Seeds ${SEEDS.join(", ")}; ${done.request.testSequences} held-out sequences ` +
    "per seed.",
    "",
    provenance(ctx, [`Sweep id: ${done.id}`]),
  ].join("\n");
  await writeReport(ctx.outDir, files);
}

export const seedSpread: Study = {
  name: "seed-spread",
  summary: "memorized bits of four seeds per dataset size: the noise a one-seed verdict carries",
  requests,
  run,
};
