// The figures of the experiment reports, after the paper's: capacity
// plateaus per model size (Figure 1), capacity against parameters with the
// fitted α (Figure 3), memorized bits against training steps with the fitted
// asymptote, train/test loss against dataset bits / capacity (double
// descent), and measured against predicted memorization (the A.1 sweeps).
import { formatBits, PALETTE, plotSvg, type SeriesSpec } from "./svg.ts";
import type { AsymptoteFit } from "../capacity/asymptote.ts";
import { predictAsymptote } from "../capacity/asymptote.ts";

const MARKERS = ["circle", "square", "triangle", "diamond", "cross"] as const;
const color = (i: number) => PALETTE[i % PALETTE.length];
const marker = (i: number) => MARKERS[i % MARKERS.length];

export interface PlateauSeries {
  label: string;
  /** Per dataset size: dataset bits and mean memorized bits. */
  points: { datasetBits: number; memorizedBits: number }[];
  capacityBits: number;
}

/** Figure 1: memorized against dataset bits, one line and plateau per model. */
export function plateausSvg(models: PlateauSeries[], title: string): string {
  const xs = models.flatMap((m) => m.points.map((p) => p.datasetBits));
  const lo = Math.min(...xs) / 1.3, hi = Math.max(...xs) * 1.3;
  const series: SeriesSpec[] = [{
    label: "all data memorized (y = x)",
    points: [[lo, lo], [hi, hi]],
    color: "#888888",
    dash: "6 4",
    width: 1.5,
    excludeFromRange: true,
  }];
  models.forEach((m, i) => {
    series.push({
      label: `${m.label}: ${formatBits(m.capacityBits)}`,
      points: m.points.map((p) => [p.datasetBits, p.memorizedBits] as const),
      marker: marker(i),
      markerSize: 3.5,
      color: color(i),
    }, {
      points: [[lo, m.capacityBits], [hi, m.capacityBits]],
      color: color(i),
      dash: "2 3",
      width: 1,
      excludeFromRange: true,
    });
  });
  return plotSvg({
    title,
    width: 720,
    height: 480,
    idPrefix: "plateaus",
    x: { scale: "log", min: lo, max: hi, label: "dataset bits, N·(S-1)·log2 V" },
    y: { scale: "log", label: "memorized bits (tokens 2..S)" },
    series,
    legend: "auto",
  });
}

export interface AlphaSeries {
  label: string;
  points: { parameters: number; capacityBits: number }[];
  alpha: number;
  /** Hollow markers (e.g. extrapolated values beside measured ones). */
  hollow?: boolean;
}

/** Figure 3: capacity against parameters, with capacity = α·params lines. */
export function alphaSvg(groups: AlphaSeries[], title: string): string {
  const ps = groups.flatMap((g) => g.points.map((p) => p.parameters));
  const lo = Math.min(...ps) / 1.3, hi = Math.max(...ps) * 1.3;
  const series: SeriesSpec[] = [];
  groups.forEach((g, i) => {
    series.push({
      label: `${g.label} (α = ${g.alpha.toFixed(2)})`,
      points: g.points.map((p) => [p.parameters, p.capacityBits] as const),
      line: false,
      marker: marker(i),
      fillOpacity: g.hollow ? 0 : 1,
      color: color(i),
    }, {
      points: [[lo, g.alpha * lo], [hi, g.alpha * hi]],
      color: color(i),
      dash: g.hollow ? "6 4" : undefined,
      width: 1.2,
      excludeFromRange: true,
    });
  });
  return plotSvg({
    title,
    width: 720,
    height: 480,
    idPrefix: "alpha",
    x: { scale: "log", min: lo, max: hi, label: "parameters" },
    y: { scale: "log", label: "capacity, bits" },
    series,
    legend: "auto",
  });
}

export interface CurveSeries {
  label: string;
  curve: { step: number; bits: number }[];
  asymptote: AsymptoteFit | null;
}

/** Memorized bits against steps per run, with the fitted m(t) dashed out to 4× the budget. */
export function curvesSvg(runs: CurveSeries[], title: string): string {
  const series: SeriesSpec[] = [];
  runs.forEach((r, i) => {
    series.push({
      label: r.asymptote
        ? `${r.label} (m∞ ${formatBits(r.asymptote.mInf)}${
          r.asymptote.bounded ? "" : ", unbounded"
        })`
        : r.label,
      points: r.curve.map((p) => [p.step, p.bits] as const),
      marker: marker(i),
      markerSize: 3,
      color: color(i),
    });
    const fit = r.asymptote;
    const last = r.curve.at(-1)?.step ?? 0;
    if (fit && last > 0) {
      const first = r.curve[0].step;
      const pts: [number, number][] = [];
      for (let k = 0; k <= 40; k++) {
        const t = first * (4 * last / first) ** (k / 40);
        pts.push([t, predictAsymptote(fit, t)]);
      }
      series.push({ points: pts, color: color(i), dash: "4 3", width: 1 });
    }
  });
  return plotSvg({
    title,
    width: 720,
    height: 480,
    idPrefix: "curves",
    x: { scale: "log", label: "optimizer steps" },
    y: { label: "memorized bits" },
    series,
    legend: "outside",
  });
}

export interface LossPoint {
  /** Dataset bits / capacity. */
  ratio: number;
  trainLossBits: number;
  testLossBits: number;
}

/** Double descent: train and test loss (bits/token) against dataset bits / capacity. */
export function doubleDescentSvg(points: LossPoint[], floorBits: number, title: string): string {
  const xs = points.map((p) => p.ratio);
  const lo = Math.min(...xs) / 1.2, hi = Math.max(...xs) * 1.2;
  return plotSvg({
    title,
    width: 720,
    height: 480,
    idPrefix: "dd",
    x: { scale: "log", min: lo, max: hi, label: "dataset bits / capacity" },
    y: { label: "loss, bits per token" },
    series: [
      {
        label: "test loss (held-out uniform tokens)",
        points: points.map((p) => [p.ratio, p.testLossBits] as const),
        marker: "circle",
        color: color(5),
      },
      {
        label: "train loss",
        points: points.map((p) => [p.ratio, p.trainLossBits] as const),
        marker: "square",
        color: color(0),
      },
      {
        label: `log2 V = ${floorBits.toFixed(2)} (best possible on test)`,
        points: [[lo, floorBits], [hi, floorBits]],
        color: "#888888",
        dash: "6 4",
        width: 1.2,
        excludeFromRange: true,
      },
      {
        label: "dataset bits = capacity",
        points: [[1, 0], [1, floorBits * 1.5]],
        color: "#888888",
        dash: "2 3",
        width: 1,
        excludeFromRange: true,
      },
    ],
    legend: "auto",
  });
}

export interface PredictionRow {
  label: string;
  /** H(X) of the dataset, bits. */
  datasetBits: number;
  capacityBits: number;
  memorizedBits: number;
}

/** The A.1 sweeps: memorized beside min(capacity, H(X)) per setting. */
export function predictionSvg(rows: PredictionRow[], xLabel: string, title: string): string {
  const xs = rows.map((_, i) => i + 1);
  return plotSvg({
    title,
    width: 720,
    height: 440,
    idPrefix: "pred",
    x: {
      min: 0.5,
      max: rows.length + 0.5,
      label: xLabel,
      format: (v) => (Number.isInteger(v) && rows[v - 1] ? rows[v - 1].label : ""),
    },
    y: { scale: "log", label: "bits" },
    series: [
      {
        label: "H(X), dataset bits",
        points: rows.map((r, i) => [xs[i], r.datasetBits] as const),
        color: "#888888",
        dash: "6 4",
        marker: "triangle",
      },
      {
        label: "capacity α·params",
        points: rows.map((r, i) => [xs[i], r.capacityBits] as const),
        color: color(1),
        dash: "3 3",
        marker: "diamond",
      },
      {
        label: "memorized (measured)",
        points: rows.map((r, i) => [xs[i], r.memorizedBits] as const),
        color: color(0),
        marker: "circle",
      },
    ],
    legend: "auto",
  });
}
