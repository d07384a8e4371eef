import assert from "node:assert/strict";
import {
  escapeXml,
  formatBits,
  formatSi,
  linearTicks,
  logTicks,
  plotSvg,
} from "../../lib/plot/svg.ts";
import { parseXml } from "./xml.ts";

Deno.test("xml checker: accepts well-formed, rejects broken documents", () => {
  assert.equal(parseXml(`<a x="1"><b/>t &amp; u<c y='2'></c></a>`).length, 3);
  for (
    const bad of [
      "<a><b></a></b>",
      "<a>",
      "<a></a><b></b>",
      "<a x=1></a>",
      "<a>x & y</a>",
      '<a x="1" x="2"/>',
      "text",
    ]
  ) {
    assert.throws(() => parseXml(bad), Error, bad);
  }
});

Deno.test("escapeXml: markup characters and forbidden control characters", () => {
  assert.equal(escapeXml(`a<b>&"c'`), "a&lt;b&gt;&amp;&quot;c&apos;");
  assert.equal(escapeXml("x\u0001y\u0007"), "xy");
  assert.equal(escapeXml("tab\tnew\nline"), "tab\tnew\nline");
});

Deno.test("formatSi / formatBits", () => {
  assert.equal(formatSi(0), "0");
  assert.equal(formatSi(12066), "12.1k");
  assert.equal(formatSi(2_500_000), "2.5M");
  assert.equal(formatSi(1000), "1k");
  assert.equal(formatSi(999.97), "1k");
  assert.equal(formatSi(850), "850");
  assert.equal(formatSi(0.25), "0.25");
  assert.equal(formatSi(-3400), "-3.4k");
  assert.equal(formatSi(3.39e5), "339k");
  assert.equal(formatBits(12066), "12.1 kbit");
  assert.equal(formatBits(850), "850 bit");
  assert.equal(formatBits(3.56e6), "3.56 Mbit");
});

Deno.test("ticks: linear 1-2-5 steps, log decades (then 2 and 5 multiples)", () => {
  assert.deepEqual(linearTicks(0, 10), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(linearTicks(-0.05, 0.95), [0, 0.2, 0.4, 0.6, 0.8]);
  assert.deepEqual(logTicks(50, 2e5), [100, 1000, 10000, 100000]);
  assert.deepEqual(logTicks(300, 9000), [500, 1000, 2000, 5000]);
  assert.deepEqual(logTicks(2, 70), [2, 5, 10, 20, 50]);
  assert.deepEqual(logTicks(2, 4.5), [2, 3, 4]);
  // no multiple of a power of ten inside: round linear ticks instead
  assert.deepEqual(logTicks(1200, 1900), [1200, 1400, 1600, 1800]);
  assert.deepEqual(logTicks(-1, 10), []);
});

Deno.test("plotSvg: a well-formed document with size, viewBox, title, labels, legend", () => {
  const svg = plotSvg({
    width: 500,
    height: 300,
    title: `Memorized <bits> & "more"`,
    x: { scale: "log", label: "dataset bits" },
    y: { scale: "linear", label: "memorized bits" },
    series: [
      { label: "mean", points: [[100, 1], [1000, 3], [10000, 4]], marker: "square" },
      { label: "runs", points: [[100, 1.1], [1000, 2.9], [-5, 1]], line: false, marker: "circle" },
      { points: [[100, 0], [10000, 5]], dash: "4 4" },
      { label: "x", points: [[200, 2]], marker: "cross" },
      { label: "t", points: [[300, 2]], marker: "triangle" },
      { label: "d", points: [[400, 2]], marker: "diamond" },
    ],
  });
  const els = parseXml(svg);
  const root = els[0];
  assert.equal(root.name, "svg");
  assert.equal(root.attrs.width, "500");
  assert.equal(root.attrs.height, "300");
  assert.equal(root.attrs.viewBox, "0 0 500 300");
  assert.equal(root.attrs.xmlns, "http://www.w3.org/2000/svg");
  const texts = els.filter((e) => e.name === "text").map((e) => e.text);
  assert.ok(texts.includes(`Memorized <bits> & "more"`));
  assert.ok(texts.includes("dataset bits"));
  assert.ok(texts.includes("memorized bits"));
  for (const t of ["100", "1k", "10k", "mean", "runs", "x", "t", "d"]) {
    assert.ok(texts.includes(t), `missing text ${t}`);
  }
  // lines: "mean" and the unlabeled series ("runs" has none, single points draw none)
  assert.equal(els.filter((e) => e.name === "polyline").length, 2);
  assert.equal(els.filter((e) => e.name === "clipPath").length, 1);
  // the point at x = -5 is dropped on the log axis: 2 circles (runs) + 1 in the legend
  assert.equal(els.filter((e) => e.name === "circle").length, 3);
  // every number in coordinates is finite
  assert.ok(!/NaN|Infinity/.test(svg));
});

Deno.test("plotSvg: degenerate inputs still give a valid document", () => {
  for (
    const series of [
      [],
      [{ points: [] }],
      [{ label: "one", points: [[5, 5]] as [number, number][] }],
      [{ label: "zeros", points: [[0, 0], [0, 0]] as [number, number][] }],
    ]
  ) {
    for (const scale of ["linear", "log"] as const) {
      const svg = plotSvg({ x: { scale }, y: { scale }, series, legend: "bottom-left" });
      parseXml(svg);
      assert.ok(!/NaN|Infinity/.test(svg), svg);
    }
  }
});

/** The legend's frame: the white, grey-stroked rect after the plot area. */
function legendRect(svg: string) {
  const rect = parseXml(svg).filter((e) => e.name === "rect" && e.attrs.stroke === "#bbbbbb");
  assert.equal(rect.length, 1);
  const { x, y, width, height } = rect[0].attrs;
  return { x: Number(x), y: Number(y), w: Number(width), h: Number(height) };
}

Deno.test("plotSvg legend 'auto': the corner its box covers least of the lines", () => {
  const area = { width: 400, height: 300 };
  // A line across the top, just below the edge: only the bottom corners are free of it; a
  // second one up the right side leaves only bottom-left.
  const top = { label: "top", points: [[0, 9], [10, 9]] as [number, number][] };
  const right = { label: "right", points: [[9, 0], [9, 10]] as [number, number][] };
  const svg = plotSvg({
    ...area,
    x: { min: 0, max: 10 },
    y: { min: 0, max: 10 },
    series: [top, right],
    legend: "auto",
  });
  const r = legendRect(svg);
  assert.ok(r.x < 200 && r.y > 150, `legend at ${JSON.stringify(r)}: not bottom-left`);
  // With the fixed default, it sits top-left, over the top line.
  const fixed = legendRect(
    plotSvg({ ...area, x: { min: 0, max: 10 }, y: { min: 0, max: 10 }, series: [top, right] }),
  );
  assert.ok(fixed.y < 150);
});

Deno.test("plotSvg legend 'outside': right of a full-width plot area, in a wider picture", () => {
  const series = [{
    label: "a long label for the legend",
    points: [[0, 0], [10, 10]] as [number, number][],
  }];
  const inside = plotSvg({ width: 500, height: 300, series });
  const outside = plotSvg({ width: 500, height: 300, series, legend: "outside" });
  const areaRight = (svg: string) => {
    const clip = svg.match(/<clipPath[^>]*><rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"/)!;
    return Number(clip[1]) + Number(clip[2]);
  };
  // The legend takes no width from the data: the picture grows by the legend's width.
  assert.equal(areaRight(outside), areaRight(inside));
  const r = legendRect(outside);
  assert.ok(r.x > areaRight(outside), `legend x ${r.x} inside the area (${areaRight(outside)})`);
  const width = Number(outside.match(/<svg [^>]*width="(\d+)"/)![1]);
  assert.ok(width > 500 && r.x + r.w <= width, `legend ${r.x}+${r.w} in a picture ${width} wide`);
});
