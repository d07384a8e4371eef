import assert from "node:assert/strict";
import { fitCapacity } from "../../lib/capacity/fit.ts";
import { CapacityResult } from "../../lib/capacity/schemas.ts";
import { capacityLabel, capacityPlotSvg } from "../../lib/plot/capacity_plot.ts";
import { parseXml } from "./xml.ts";

const example = CapacityResult.parse(CapacityResult.meta()?.example);

Deno.test("capacityLabel: value in kbit and bits/param; lower bound unless certified", () => {
  assert.equal(
    capacityLabel({ capacityBits: 12066, bitsPerParameter: 12066 / 4592, verdict: "certified" }),
    "capacity 12.1 kbit, 2.63 bits/param (certified)",
  );
  assert.equal(
    capacityLabel({ capacityBits: 88215, bitsPerParameter: 3.147, verdict: "lower-bound" }),
    "capacity ≥ 88.2 kbit, ≥ 3.15 bits/param (lower bound)",
  );
});

Deno.test("capacityPlotSvg: unsaturated runs hollow; an unbounded extrapolation is not drawn", () => {
  const pts = example.points.map((p, i) => ({
    ...p,
    statuses: [i < 3 ? "saturated" as const : "budget-exhausted" as const],
  }));
  const r = fitCapacity(pts, { parameterCount: example.parameterCount });
  const svg = capacityPlotSvg({ ...r, extrapolated: { capacityBits: 64300, bounded: false } });
  const els = parseXml(svg);
  const circles = els.filter((e) => e.name === "circle");
  const hollow = circles.filter((e) => e.attrs["fill-opacity"] === "0");
  // 2 unsaturated runs + their legend marker; 3 saturated + theirs, filled.
  assert.equal(hollow.length, 3, svg);
  assert.equal(circles.length - hollow.length, 4);
  const texts = els.filter((e) => e.name === "text").map((e) => e.text);
  assert.ok(texts.some((t) => t.startsWith("runs not saturated")), JSON.stringify(texts));
  assert.ok(!texts.some((t) => t.startsWith("extrapolated")), "no unbounded extrapolation");
  // Axes are set by the data, not by the 64.3 kbit an unbounded fit said: the same figure as
  // with no extrapolation at all.
  assert.equal(svg, capacityPlotSvg({ ...r, extrapolated: null }));
  const bounded = capacityPlotSvg({ ...r, extrapolated: { capacityBits: 12500, bounded: true } });
  assert.ok(bounded.includes("extrapolated to unlimited training"));
});

Deno.test("capacityPlotSvg: Figure 1 for one model, well-formed with the expected labels", () => {
  const svg = capacityPlotSvg(example, { title: "1 layer, d=16 <tiny> & fp32" });
  const els = parseXml(svg);
  assert.equal(els[0].name, "svg");
  assert.match(els[0].attrs.viewBox, /^0 0 \d+ \d+$/);
  const texts = els.filter((e) => e.name === "text").map((e) => e.text);
  for (
    const t of [
      "1 layer, d=16 <tiny> & fp32",
      "capacity 12.1 kbit, 2.63 bits/param (certified)",
      "all data memorized (y = x)",
      "mean memorized",
      "saturated runs (1 seed)",
      "dataset bits, N·(S-1)·log2 V",
      "memorized bits (tokens 2..S)",
      "10k",
    ]
  ) {
    assert.ok(texts.includes(t), `missing text "${t}" in ${JSON.stringify(texts)}`);
  }
  // 5 per-seed markers + 1 in the legend; the mean line has 5 square markers + 1 in the legend
  assert.equal(els.filter((e) => e.name === "circle").length, 6);
  assert.equal(
    els.filter((e) => e.name === "rect" && e.attrs.width === e.attrs.height).length >= 6,
    true,
  );
  // y = x, plateau, mean: three polylines
  assert.equal(els.filter((e) => e.name === "polyline").length, 3);
  assert.ok(!/NaN|Infinity/.test(svg));
});

Deno.test("capacityPlotSvg: the plateau line is horizontal at capacityBits, y = x is diagonal", () => {
  const svg = capacityPlotSvg(example);
  const els = parseXml(svg);
  const lines = els.filter((e) => e.name === "polyline").map((e) =>
    e.attrs.points.split(" ").map((p) => p.split(",").map(Number))
  );
  const [diag, plateau, mean] = lines;
  assert.equal(plateau[0][1], plateau[1][1]); // horizontal
  assert.ok(diag[0][1] > diag[1][1]); // rising (SVG y grows downward)
  // the mean reaches the plateau at its highest point
  assert.equal(Math.min(...mean.map((p) => p[1])), plateau[0][1]);
  assert.ok(svg.includes("Capacity of a 4,592-parameter model"));
});

Deno.test("capacityPlotSvg: several seeds, zero values and a single point stay valid", () => {
  const r = fitCapacity([
    { datasetSize: 10, datasetBits: 900, memorizedBits: [880, 890, 0] },
    { datasetSize: 40, datasetBits: 3600, memorizedBits: [2000, 2100, 2050] },
  ], { parameterCount: 1000 });
  const svg = capacityPlotSvg(r);
  const texts = parseXml(svg).filter((e) => e.name === "text").map((e) => e.text);
  assert.ok(texts.includes("runs not saturated (hollow; 3 seeds)"));
  assert.ok(!/NaN|Infinity/.test(svg));
  const one = fitCapacity([{ datasetSize: 1, datasetBits: 90, memorizedBits: [0] }], {
    parameterCount: 10,
  });
  parseXml(capacityPlotSvg(one));
  assert.ok(!/NaN|Infinity/.test(capacityPlotSvg(one)));
});
