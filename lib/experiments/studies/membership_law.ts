// membership-law: memcap's own constants for POST /v1/predict. The membership
// law's c1, c2, c3 are fitted to the balanced membership F1 of every
// text-memorization cell at this scale (x = 1000·|D|/params), and α per
// precision comes from capacity-grid at this scale (measured, not
// extrapolated). Writes lib/privacy/fitted_constants.json (versioned) and a
// report comparing the fitted law with the paper's on our points.
import { fitMembershipLaw } from "../../privacy/law_fit.ts";
import { FITTED_CONSTANTS_URL, FittedConstantsFile } from "../../privacy/fitted_constants.ts";
import { membershipF1Law, PAPER_CONSTANTS } from "../../privacy/scaling_law.ts";
import { PALETTE, plotSvg } from "../../plot/svg.ts";
import { fmt, provenance, type Study, type StudyContext, table, writeReport } from "../study.ts";

async function readJson(path: string, hint: string) {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    throw new Error(`${path} is missing: run \`${hint}\` first`);
  }
}

async function run(ctx: StudyContext) {
  const text = await readJson(
    `${ctx.resultsDir}/text-memorization-${ctx.scale}/results.json`,
    `deno task experiment text-memorization --scale ${ctx.scale}`,
  );
  const grid = await readJson(
    `${ctx.resultsDir}/capacity-grid-${ctx.scale}/results.json`,
    `deno task experiment capacity-grid --scale ${ctx.scale}`,
  );
  const points = (text.cells as { count: number; parameters: number; membershipF1: number }[])
    .map((c) => ({ x: (1000 * c.count) / c.parameters, f1: c.membershipF1, ...c }));
  const fit = fitMembershipLaw(points);
  const alphaOf = (p: string) =>
    grid.fits.find((f: { precision: string }) => f.precision === p)?.measured.alpha;
  const alpha = { fp32: alphaOf("fp32"), bf16: alphaOf("bf16") };
  const file = FittedConstantsFile.parse({
    version: 1,
    fittedAt: new Date().toISOString(),
    source: `deno task experiment membership-law --scale ${ctx.scale}: c1..c3 from ` +
      `${points.length} text-memorization cells (balanced F1), α from capacity-grid (measured)`,
    alpha,
    c1: fit.c1,
    c2: fit.c2,
    c3: fit.c3,
    runs: points.length,
  });
  const tmp = new URL("./fitted_constants.json.tmp", FITTED_CONSTANTS_URL);
  await Deno.writeTextFile(tmp, JSON.stringify(file, null, 2) + "\n");
  await Deno.rename(tmp, FITTED_CONSTANTS_URL);
  ctx.log(`wrote ${FITTED_CONSTANTS_URL.pathname}`);

  const paperRms = Math.sqrt(
    points.reduce((s, p) => s + (p.f1 - membershipF1Law(p.x, PAPER_CONSTANTS)) ** 2, 0) /
      points.length,
  );
  const xs = points.map((p) => p.x);
  const lo = Math.min(...xs) / 1.5, hi = Math.max(...xs) * 1.5;
  const curve = (c: { c1: number; c2: number; c3: number }) =>
    Array.from({ length: 60 }, (_, i) => {
      const x = lo * (hi / lo) ** (i / 59);
      return [x, membershipF1Law(x, c)] as const;
    });
  const svg = plotSvg({
    title: `Membership F1 against sequences per thousand parameters (${ctx.scale} scale)`,
    width: 720,
    height: 460,
    idPrefix: "law",
    x: { scale: "log", min: lo, max: hi, label: "x = 1000·|D| / params" },
    y: { min: 0.45, max: 1.05, label: "membership F1 (balanced)" },
    series: [
      {
        label: "our runs",
        points: points.map((p) => [p.x, p.f1] as const),
        line: false,
        marker: "circle",
        color: PALETTE[0],
      },
      { label: "fitted law", points: curve(fit), color: PALETTE[1] },
      { label: "paper's constants", points: curve(PAPER_CONSTANTS), color: "#888888", dash: "6 4" },
    ],
    legend: "top-right",
  });
  await writeReport(ctx.outDir, {
    "law.svg": svg,
    "results.json": JSON.stringify(
      { study: "membership-law", scale: ctx.scale, fit, paperRms, constants: file, points },
      null,
      2,
    ),
    "report.md": [
      `# membership-law (${ctx.scale} scale)`,
      "",
      "The membership law F1 = ½(1 + c1·σ(c2·(x + c3))), x = 1000·|D|/params, fitted by least " +
      "squares to the balanced membership F1 of the text-memorization cells at this scale. " +
      "Written to `lib/privacy/fitted_constants.json`, which `POST /v1/predict` uses with " +
      '`constants: "fitted"`.',
      "",
      table(
        ["constants", "c1", "c2", "c3", "rms error on our points"],
        [
          ["fitted (ours)", fmt(fit.c1, 3), fmt(fit.c2, 4), fmt(fit.c3, 2), fmt(fit.rms, 3)],
          [
            "paper",
            fmt(PAPER_CONSTANTS.c1, 3),
            fmt(PAPER_CONSTANTS.c2, 4),
            fmt(PAPER_CONSTANTS.c3, 2),
            fmt(paperRms, 3),
          ],
        ],
      ),
      "",
      `α written with them: fp32 ${fmt(alpha.fp32)}, bf16 ${fmt(alpha.bf16)} bits/param ` +
      "(capacity-grid, measured at its budget).",
      "",
      "![law](law.svg)",
      "",
      table(
        ["model params", "N", "x", "observed F1", "fitted law", "paper law"],
        points.map((p) => [
          p.parameters,
          p.count,
          fmt(p.x, 2),
          fmt(p.f1, 3),
          fmt(membershipF1Law(p.x, fit), 3),
          fmt(membershipF1Law(p.x, PAPER_CONSTANTS), 3),
        ]),
      ),
      "",
      "Our models are tiny and trained to a fixed budget, far from the paper's GPT-2 scale; " +
      "the fitted constants describe this study's regime, and three constants from a dozen " +
      'points are loosely determined. Use `constants: "paper"` for the paper\'s law.',
      "",
      provenance(ctx, [], "no training: fitted from the text-memorization results"),
    ].join("\n"),
  });
}

export const membershipLaw: Study = {
  name: "membership-law",
  summary: "fit the membership law's constants to text-memorization's runs (for /v1/predict)",
  requests: () => [],
  run,
};
