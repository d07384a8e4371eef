// The paper's Figure 1 for one model (GET /v1/capacity/{id}/plot.svg):
// memorized bits against dataset bits on log-log axes. Small datasets sit on
// the y = x line (all data memorized); large ones on the horizontal plateau,
// the capacity.
import type { CapacityResult } from "../capacity/schemas.ts";
import { formatBits, plotSvg, type SeriesSpec } from "./svg.ts";

export interface CapacityPlotOptions {
  /** Default: "Capacity of a <params>-parameter model". */
  title?: string;
  /** Pixels (default 640 x 420). */
  width?: number;
  height?: number;
  /** Prefix of element ids, unique per SVG inlined in one page. */
  idPrefix?: string;
}

/** Legend text of the plateau, e.g. "capacity 12.1 kbit, 2.63 bits/param (certified)". */
export function capacityLabel(
  r: Pick<CapacityResult, "capacityBits" | "bitsPerParameter" | "verdict">,
): string {
  const certified = r.verdict === "certified";
  const rel = certified ? "" : "≥ ";
  const tail = certified ? " (certified)" : " (lower bound)";
  return `capacity ${rel}${formatBits(r.capacityBits)}, ${rel}${r.bitsPerParameter.toFixed(2)} ` +
    `bits/param${tail}`;
}

/**
 * SVG of a capacity sweep: per-seed markers (filled for saturated runs,
 * hollow for the others), the mean memorized bits per dataset size (line),
 * the y = x line and the capacity plateau, on log10 axes of bits (x: dataset
 * bits N·(S-1)·log2 V, y: memorized bits, tokens 2..S). An extrapolation is
 * drawn only when its fits pinned it down (bounded); the legend sits outside
 * the data.
 */
export function capacityPlotSvg(
  result: CapacityResult & {
    extrapolated?: { capacityBits: number; bounded: boolean } | null;
  },
  opts: CapacityPlotOptions = {},
): string {
  const points = [...result.points].sort((a, b) => a.datasetBits - b.datasetBits);
  const pos = (v: number) => Number.isFinite(v) && v > 0;
  const xs = points.map((p) => p.datasetBits).filter(pos);
  const ys = points.flatMap((p) => p.memorizedBits).filter(pos);
  if (pos(result.capacityBits)) ys.push(result.capacityBits);
  const extrapolated = result.extrapolated?.bounded ? result.extrapolated.capacityBits : undefined;
  if (extrapolated !== undefined && pos(extrapolated)) ys.push(extrapolated);
  const decade = (lo: number, hi: number) => Math.log10(hi / lo);
  let xmin = xs.length ? Math.min(...xs) : 1, xmax = xs.length ? Math.max(...xs) : 10;
  if (!(xmax > xmin)) [xmin, xmax] = [xmin / 2, xmax * 2];
  const xpad = 10 ** (0.06 * decade(xmin, xmax));
  xmin /= xpad;
  xmax *= xpad;
  let ymin = Math.min(...ys, xmin * xpad), ymax = ys.length ? Math.max(...ys) : 10;
  if (!(ymax > ymin)) [ymin, ymax] = [ymin / 2, ymax * 2];
  ymin /= 10 ** (0.06 * decade(ymin, ymax));
  ymax *= 10 ** (0.12 * decade(ymin, ymax)); // headroom above the plateau
  const seeds = Math.max(0, ...points.map((p) => p.memorizedBits.length));
  const series: SeriesSpec[] = [
    {
      label: "all data memorized (y = x)",
      points: [[xmin, xmin], [xmax, xmax]],
      color: "#888888",
      dash: "6 4",
      width: 1.5,
    },
    {
      label: capacityLabel(result),
      points: [[xmin, result.capacityBits], [xmax, result.capacityBits]],
      color: "#D55E00",
      dash: "3 3",
      width: 1.5,
    },
    ...(extrapolated !== undefined && pos(extrapolated)
      ? [{
        label: `extrapolated to unlimited training: ${formatBits(extrapolated)}`,
        points: [[xmin, extrapolated], [xmax, extrapolated]] as [number, number][],
        color: "#E69F00",
        dash: "1 3",
        width: 1.5,
      }]
      : []),
    // The mean first: one seed's marker sits on it, and its fill (saturated or not) must show.
    {
      label: "mean memorized",
      points: points.map((p) => [p.datasetBits, p.meanBits] as const),
      marker: "square",
      markerSize: 2,
      color: "#0072B2",
    },
    ...runSeries(points, seeds),
  ];
  return plotSvg({
    width: opts.width,
    height: opts.height,
    idPrefix: opts.idPrefix ?? "capacity",
    title: opts.title ??
      `Capacity of a ${result.parameterCount.toLocaleString("en-US")}-parameter model`,
    x: { scale: "log", min: xmin, max: xmax, label: "dataset bits, N·(S-1)·log2 V" },
    y: { scale: "log", min: ymin, max: ymax, label: "memorized bits (tokens 2..S)" },
    series,
    legend: "outside",
  });
}

/** Per-seed markers: saturated runs filled, the others (or unknown) hollow. */
function runSeries(points: CapacityResult["points"], seeds: number): SeriesSpec[] {
  const runs = points.flatMap((p) =>
    p.memorizedBits.map((y, i) => ({
      xy: [p.datasetBits, y] as const,
      saturated: p.statuses?.[i] === "saturated",
    }))
  );
  const plural = `${seeds} seed${seeds === 1 ? "" : "s"}`;
  const series = (saturated: boolean, label: string): SeriesSpec => ({
    label,
    points: runs.filter((r) => r.saturated === saturated).map((r) => r.xy),
    line: false,
    marker: "circle",
    color: "#56B4E9",
    markerSize: 5,
    fillOpacity: saturated ? 0.6 : 0,
  });
  const filled = runs.filter((r) => r.saturated).length;
  return [
    ...(filled > 0 ? [series(true, `saturated runs (${plural})`)] : []),
    ...(filled < runs.length ? [series(false, `runs not saturated (hollow; ${plural})`)] : []),
  ];
}
