// A small dependency-free SVG plotter: one rectangular plot area with linear
// or log10 axes, tick labels, grid, line and marker series, a legend and a
// title. Output is a standalone SVG document (valid XML, width/height and a
// viewBox), all text escaped. Coordinates are data units until `plotSvg`
// maps them to pixels; lines are clipped to the plot area.

export type ScaleKind = "linear" | "log";
export type MarkerShape = "circle" | "square" | "triangle" | "diamond" | "cross";
export type LegendPosition = "top-left" | "top-right" | "bottom-left" | "bottom-right";
const CORNERS: readonly LegendPosition[] = ["top-left", "top-right", "bottom-right", "bottom-left"];

export interface AxisSpec {
  /** Default linear. log: log10, only values > 0 are drawn. */
  scale?: ScaleKind;
  /** Axis range in data units; missing ends come from the data (padded 5%). */
  min?: number;
  max?: number;
  label?: string;
  /** Tick label text for a value (default formatSi). */
  format?: (v: number) => string;
}

export interface SeriesSpec {
  /** Legend text; a series without a label is not in the legend. */
  label?: string;
  /** [x, y] in data units; non-finite (or ≤ 0 on a log axis) points are skipped. */
  points: readonly (readonly [number, number])[];
  /** Draw a polyline through the points (default true). */
  line?: boolean;
  /** Draw a marker at each point (default none). */
  marker?: MarkerShape;
  color?: string;
  /** Stroke width in pixels (default 2). */
  width?: number;
  /** SVG stroke-dasharray, e.g. "6 4". */
  dash?: string;
  /** Marker radius in pixels (default 4). */
  markerSize?: number;
  /** Marker fill opacity (default 1; 0 gives hollow markers). */
  fillOpacity?: number;
  /** Leave this series out of the automatic axis ranges (reference lines). */
  excludeFromRange?: boolean;
}

export interface PlotSpec {
  /** Pixels (default 640 x 420); a legend "outside" adds its own width to the right. */
  width?: number;
  height?: number;
  title?: string;
  x?: AxisSpec;
  y?: AxisSpec;
  series: readonly SeriesSpec[];
  /**
   * Default "top-left"; "auto" takes the corner where the legend box covers the least of the
   * drawn lines and markers; "outside" puts it right of the plot area, which narrows to make
   * room (for plots whose lines leave no corner free); false hides it.
   */
  legend?: LegendPosition | "auto" | "outside" | false;
  /** Prefix of element ids (clip path), unique per SVG inlined in one page. */
  idPrefix?: string;
}

/** The default series colors (colour-blind-safe Okabe-Ito palette). */
export const PALETTE = [
  "#0072B2",
  "#D55E00",
  "#009E73",
  "#CC79A7",
  "#E69F00",
  "#56B4E9",
  "#000000",
];

const FONT = 'font-family="sans-serif"';

/** Escapes text for XML content and attribute values; drops characters XML 1.0 forbids. */
export function escapeXml(s: string): string {
  return s
    // deno-lint-ignore no-control-regex
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/**
 * Compact number with an SI suffix and up to 3 significant digits:
 * 12066 -> "12.1k", 2500000 -> "2.5M", 0.25 -> "0.25", 0 -> "0".
 */
export function formatSi(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  const units: [number, string][] = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
  for (const [scale, suffix] of units) {
    // 999.96k rounds to "1000k": move to the next unit instead
    if (a >= scale * 0.9995) return trimNumber(v / scale) + suffix;
  }
  if (a < 1e-3) return v.toExponential(1);
  return trimNumber(v);
}

function trimNumber(v: number): string {
  return String(Number(v.toPrecision(3)));
}

/** Bits with an SI prefix: 12066 -> "12.1 kbit", 850 -> "850 bit". */
export function formatBits(bits: number): string {
  const s = formatSi(bits);
  return /[kMGT]$/.test(s) ? `${s.slice(0, -1)} ${s.slice(-1)}bit` : `${s} bit`;
}

/** About `count` round linear ticks (steps of 1, 2 or 5 × 10^k) within [min, max]. */
export function linearTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let i = Math.ceil(min / step - 1e-9); i * step <= max + step * 1e-9; i++) {
    out.push(Number((i * step).toPrecision(12)));
  }
  return out;
}

/**
 * Log10 ticks within [min, max] (min > 0): powers of ten; when the range holds
 * fewer than three of them, also 2 and 5 × 10^k, then every 1..9 × 10^k, and
 * for a narrow range with fewer than two of those, linear ticks.
 */
export function logTicks(min: number, max: number): number[] {
  if (!(min > 0) || !(max >= min)) return [];
  const lo = Math.floor(Math.log10(min)), hi = Math.ceil(Math.log10(max));
  const pick = (mults: number[]) => {
    const out: number[] = [];
    for (let e = lo; e <= hi; e++) {
      for (const m of mults) {
        const v = Number((m * 10 ** e).toPrecision(12));
        if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) out.push(v);
      }
    }
    return out;
  };
  for (const mults of [[1], [1, 2, 5]]) {
    const t = pick(mults);
    if (t.length >= 3) return t;
  }
  const all = pick([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // Less than a decade with at most one round value: round linear ticks read better.
  return all.length >= 2 ? all : linearTicks(min, max, 4).filter((v) => v > 0);
}

interface Scale {
  kind: ScaleKind;
  min: number;
  max: number;
  /** data -> pixel */
  map(v: number): number;
  ok(v: number): boolean;
}

function makeScale(kind: ScaleKind, min: number, max: number, p0: number, p1: number): Scale {
  const f = kind === "log" ? Math.log10 : (v: number) => v;
  const a = f(min), b = f(max);
  const span = b - a || 1;
  return {
    kind,
    min,
    max,
    map: (v) => p0 + ((f(v) - a) / span) * (p1 - p0),
    ok: (v) => Number.isFinite(v) && (kind === "linear" || v > 0),
  };
}

/** Data range of one axis: explicit ends win, the rest comes from the data, padded 5%. */
function axisRange(
  axis: AxisSpec,
  values: number[],
): [number, number] {
  const kind = axis.scale ?? "linear";
  const usable = values.filter((v) => Number.isFinite(v) && (kind === "linear" || v > 0));
  let lo = axis.min ?? (usable.length ? Math.min(...usable) : kind === "log" ? 1 : 0);
  let hi = axis.max ?? (usable.length ? Math.max(...usable) : kind === "log" ? 10 : 1);
  if (kind === "log") {
    if (!(lo > 0)) lo = hi > 0 ? hi / 10 : 1;
    if (!(hi > lo)) hi = lo * 10;
    const pad = 0.05 * (Math.log10(hi) - Math.log10(lo));
    if (axis.min === undefined) lo = lo / 10 ** pad;
    if (axis.max === undefined) hi = hi * 10 ** pad;
  } else {
    if (!(hi > lo)) {
      const d = Math.abs(lo) || 1;
      if (axis.min === undefined) lo -= d / 2;
      if (axis.max === undefined || !(hi > lo)) hi = lo + d;
    }
    const pad = 0.05 * (hi - lo);
    if (axis.min === undefined) lo -= pad;
    if (axis.max === undefined) hi += pad;
  }
  return [lo, hi];
}

const n2 = (v: number) => String(Math.round(v * 100) / 100);

function markerSvg(shape: MarkerShape, x: number, y: number, r: number, style: string): string {
  switch (shape) {
    case "circle":
      return `<circle cx="${n2(x)}" cy="${n2(y)}" r="${n2(r)}" ${style}/>`;
    case "square":
      return `<rect x="${n2(x - r)}" y="${n2(y - r)}" width="${n2(2 * r)}" height="${
        n2(2 * r)
      }" ${style}/>`;
    case "triangle":
      return `<polygon points="${n2(x)},${n2(y - r * 1.15)} ${n2(x - r)},${n2(y + r * 0.7)} ${
        n2(x + r)
      },${n2(y + r * 0.7)}" ${style}/>`;
    case "diamond":
      return `<polygon points="${n2(x)},${n2(y - r * 1.3)} ${n2(x + r)},${n2(y)} ${n2(x)},${
        n2(y + r * 1.3)
      } ${n2(x - r)},${n2(y)}" ${style}/>`;
    case "cross":
      return `<path d="M${n2(x - r)},${n2(y - r)}L${n2(x + r)},${n2(y + r)}M${n2(x - r)},${
        n2(y + r)
      }L${n2(x + r)},${n2(y - r)}" ${style}/>`;
  }
}

/** Renders a plot as a standalone SVG document. */
export function plotSvg(spec: PlotSpec): string {
  const legendBox = legendSize(spec);
  const outside = spec.legend === "outside" && legendBox !== null;
  // A legend outside widens the picture: the plot area keeps the width asked for.
  const width = (spec.width ?? 640) + (outside ? Math.ceil(legendBox.w + 10) : 0);
  const height = spec.height ?? 420;
  const id = (spec.idPrefix ?? "plot").replace(/[^A-Za-z0-9_-]/g, "_");
  const xAxis = spec.x ?? {}, yAxis = spec.y ?? {};
  const margin = {
    left: 72,
    right: 20 + (outside ? Math.ceil(legendBox.w + 10) : 0),
    top: spec.title ? 40 : 16,
    bottom: 52,
  };
  const px0 = margin.left, px1 = width - margin.right;
  const py0 = height - margin.bottom, py1 = margin.top;
  const ranged = spec.series.filter((s) => !s.excludeFromRange);
  const [xmin, xmax] = axisRange(xAxis, ranged.flatMap((s) => s.points.map((p) => p[0])));
  const [ymin, ymax] = axisRange(yAxis, ranged.flatMap((s) => s.points.map((p) => p[1])));
  const sx = makeScale(xAxis.scale ?? "linear", xmin, xmax, px0, px1);
  const sy = makeScale(yAxis.scale ?? "linear", ymin, ymax, py0, py1);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`,
  );
  if (spec.title) out.push(`<title>${escapeXml(spec.title)}</title>`);
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(
    `<defs><clipPath id="${id}-area"><rect x="${px0}" y="${py1}" width="${px1 - px0}" ` +
      `height="${py0 - py1}"/></clipPath></defs>`,
  );

  // grid + ticks
  const ticks = (s: Scale) => s.kind === "log" ? logTicks(s.min, s.max) : linearTicks(s.min, s.max);
  const xf = xAxis.format ?? formatSi, yf = yAxis.format ?? formatSi;
  const grid: string[] = [], labels: string[] = [];
  for (const t of ticks(sx)) {
    const x = n2(sx.map(t));
    grid.push(`<line x1="${x}" y1="${py0}" x2="${x}" y2="${py1}"/>`);
    labels.push(`<line x1="${x}" y1="${py0}" x2="${x}" y2="${py0 + 5}" stroke="#333333"/>`);
    labels.push(
      `<text x="${x}" y="${py0 + 18}" text-anchor="middle">${escapeXml(xf(t))}</text>`,
    );
  }
  for (const t of ticks(sy)) {
    const y = n2(sy.map(t));
    grid.push(`<line x1="${px0}" y1="${y}" x2="${px1}" y2="${y}"/>`);
    labels.push(`<line x1="${px0 - 5}" y1="${y}" x2="${px0}" y2="${y}" stroke="#333333"/>`);
    labels.push(
      `<text x="${px0 - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${
        escapeXml(yf(t))
      }</text>`,
    );
  }
  out.push(`<g stroke="#e5e5e5" stroke-width="1">${grid.join("")}</g>`);
  out.push(
    `<rect x="${px0}" y="${py1}" width="${px1 - px0}" height="${py0 - py1}" fill="none" ` +
      `stroke="#333333"/>`,
  );
  out.push(`<g fill="#333333">${labels.join("")}</g>`);
  if (xAxis.label) {
    out.push(
      `<text x="${n2((px0 + px1) / 2)}" y="${height - 12}" text-anchor="middle">${
        escapeXml(xAxis.label)
      }</text>`,
    );
  }
  if (yAxis.label) {
    const cy = n2((py0 + py1) / 2);
    out.push(
      `<text x="16" y="${cy}" text-anchor="middle" transform="rotate(-90 16 ${cy})">${
        escapeXml(yAxis.label)
      }</text>`,
    );
  }
  if (spec.title) {
    out.push(
      `<text x="${n2(width / 2)}" y="24" text-anchor="middle" font-size="15" ` +
        `font-weight="bold">${escapeXml(spec.title)}</text>`,
    );
  }

  // series
  const styled = spec.series.map((s, i) => ({
    ...s,
    color: s.color ?? PALETTE[i % PALETTE.length],
  }));
  const body: string[] = [];
  // What the legend should not hide, in pixels: polylines, and markers.
  const drawnLines: (readonly (readonly [number, number])[])[] = [];
  const drawnMarkers: (readonly [number, number])[] = [];
  for (const s of styled) {
    const pts = s.points.filter(([x, y]) => sx.ok(x) && sy.ok(y))
      .map(([x, y]) => [sx.map(x), sy.map(y)] as const);
    if (s.line ?? true) drawnLines.push(pts);
    if (s.marker) drawnMarkers.push(...pts);
    const strokeW = s.width ?? 2;
    const dash = s.dash ? ` stroke-dasharray="${escapeXml(s.dash)}"` : "";
    const color = escapeXml(s.color);
    if ((s.line ?? true) && pts.length >= 2) {
      body.push(
        `<polyline points="${pts.map(([x, y]) => `${n2(x)},${n2(y)}`).join(" ")}" ` +
          `fill="none" stroke="${color}" stroke-width="${strokeW}"${dash} ` +
          `stroke-linejoin="round"/>`,
      );
    }
    if (s.marker) {
      const style = markerStyle(s.marker, color, s.fillOpacity ?? 1);
      for (const [x, y] of pts) body.push(markerSvg(s.marker, x, y, s.markerSize ?? 4, style));
    }
  }
  out.push(`<g clip-path="url(#${id}-area)">${body.join("")}</g>`);

  // legend
  const entries = styled.filter((s) => s.label);
  if (legendBox) {
    const { rowH, sample, pad } = LEGEND;
    const box = legendBox, boxW = box.w, boxH = box.h;
    const area = { px0, px1, py0, py1 };
    const [bx, by] = outside ? [px1 + 10, py1] : legendOrigin(
      spec.legend === "auto" || spec.legend === "outside"
        ? leastCoveredCorner(drawnLines, drawnMarkers, box, area)
        : spec.legend || "top-left", // (never false here: there is a legend box)
      box,
      area,
    );
    const rows: string[] = [];
    entries.forEach((s, i) => {
      const cy = by + pad + rowH * i + 7;
      const x0 = bx + pad, x1 = x0 + sample;
      const color = escapeXml(s.color);
      if (s.line ?? true) {
        const dash = s.dash ? ` stroke-dasharray="${escapeXml(s.dash)}"` : "";
        rows.push(
          `<line x1="${n2(x0)}" y1="${n2(cy)}" x2="${n2(x1)}" y2="${n2(cy)}" stroke="${color}" ` +
            `stroke-width="${s.width ?? 2}"${dash}/>`,
        );
      }
      if (s.marker) {
        rows.push(
          markerSvg(
            s.marker,
            (x0 + x1) / 2,
            cy,
            s.markerSize ?? 4,
            markerStyle(s.marker, color, s.fillOpacity ?? 1),
          ),
        );
      }
      rows.push(
        `<text x="${n2(x1 + pad)}" y="${n2(cy)}" dominant-baseline="middle" fill="#222222">${
          escapeXml(s.label!)
        }</text>`,
      );
    });
    out.push(
      `<g><rect x="${n2(bx)}" y="${n2(by)}" width="${n2(boxW)}" height="${n2(boxH)}" ` +
        `fill="#ffffff" fill-opacity="0.9" stroke="#bbbbbb"/>${rows.join("")}</g>`,
    );
  }
  out.push("</svg>");
  return out.join("\n") + "\n";
}

const LEGEND = { rowH: 18, sample: 28, pad: 8, charW: 6.6 };

/** The legend box's size in pixels, or null when there is no legend to draw. */
function legendSize(spec: PlotSpec): { w: number; h: number } | null {
  const labels = spec.series.flatMap((s) => (s.label ? [s.label] : []));
  if (spec.legend === false || labels.length === 0) return null;
  const { rowH, sample, pad, charW } = LEGEND;
  const textW = Math.max(...labels.map((l) => l.length)) * charW;
  return { w: pad * 3 + sample + textW, h: pad * 2 + rowH * labels.length - 4 };
}

/** Where a legend box of this size sits for a corner of the plot area (10 px inset). */
function legendOrigin(
  pos: LegendPosition,
  box: { w: number; h: number },
  area: { px0: number; px1: number; py0: number; py1: number },
): [number, number] {
  const bx = pos.endsWith("left") ? area.px0 + 10 : area.px1 - 10 - box.w;
  const by = pos.startsWith("top") ? area.py1 + 10 : area.py0 - 10 - box.h;
  return [bx, by];
}

/**
 * The corner whose legend box hides the least of the drawn series: polylines are sampled
 * every 3 px, markers count once each, and the samples inside the box are counted (ties go
 * to the first in CORNERS).
 */
function leastCoveredCorner(
  lines: readonly (readonly (readonly [number, number])[])[],
  markers: readonly (readonly [number, number])[],
  box: { w: number; h: number },
  area: { px0: number; px1: number; py0: number; py1: number },
): LegendPosition {
  const samples: (readonly [number, number])[] = [...markers];
  for (const pts of lines) {
    for (let i = 1; i < pts.length; i++) {
      const [x0, y0] = pts[i - 1], [x1, y1] = pts[i];
      const n = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0) / 3));
      for (let k = 0; k <= n; k++) samples.push([x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n]);
    }
  }
  let best = CORNERS[0], bestCount = Infinity;
  for (const corner of CORNERS) {
    const [bx, by] = legendOrigin(corner, box, area);
    const count = samples.filter(([x, y]) =>
      x >= bx && x <= bx + box.w && y >= by && y <= by + box.h
    ).length;
    if (count < bestCount) [best, bestCount] = [corner, count];
  }
  return best;
}

function markerStyle(shape: MarkerShape, color: string, fillOpacity: number): string {
  return shape === "cross"
    ? `fill="none" stroke="${color}" stroke-width="1.5"`
    : `fill="${color}" fill-opacity="${fillOpacity}" stroke="${color}" stroke-width="1.2"`;
}
