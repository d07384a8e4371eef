// membership-law: memcap's own constants for POST /v1/predict. The membership
// law's c1, c2, c3 are fitted to the balanced membership F1 of every
// text-memorization cell at this scale, with x = 1000·|D|·S/(64·params)
// (`lawX`: 15.625 × tokens per parameter, the paper's sequences per thousand
// parameters at S = 64), and α per precision comes from capacity-grid at this
// scale (measured, not extrapolated). Writes lib/privacy/fitted_constants.json
// (versioned) and a report comparing the fitted law with the paper's on our
// points. The pure steps (points, α, the fit) are exported so tests can redo
// them from the committed reports without a service.
import { fitMembershipLaw, type LawFit, type LawPoint, lawRms } from "../../lib/privacy/law_fit.ts";
import { FITTED_CONSTANTS_URL } from "../../lib/privacy/fitted_constants.ts";
import { FittedConstantsFile } from "../../lib/privacy/schemas.ts";
import {
  type LawPrecision,
  lawX,
  membershipF1Law,
  PAPER_CONSTANTS,
} from "../../lib/privacy/scaling_law.ts";
import { PALETTE, plotSvg } from "../../lib/plot/svg.ts";
import { fmt, provenance, type Study, type StudyContext, table, writeReport } from "../study.ts";

async function readJson(path: string, hint: string) {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    throw new Error(`${path} is missing: run \`${hint}\` first`);
  }
}

/** What this study reads of text-memorization's results.json. */
export interface TextResults {
  settings: { pool: { seqLen: number } };
  /** tokens: the run's training tokens (absent in results written before it was recorded). */
  cells: { count: number; parameters: number; membershipF1: number; tokens?: number }[];
}

/** What this study reads of capacity-grid's results.json. */
export interface GridResults {
  fits: { precision: string; measured: { alpha: number } }[];
  /** The grid's sweeps, for how many of their capacities are certified. */
  sweeps?: { precision: string; result: { verdict: string } }[];
}

export type MembershipLawPoint<C> = LawPoint & C & { seqLen: number; xSequences: number };

/**
 * One law point per text-memorization cell: x = lawX(|D|, S, params) with S the study's
 * sequence length; `xSequences` = 1000·|D|/params, the S-tied form used before.
 */
export function lawPointsFrom<C extends TextResults["cells"][number]>(
  text: { settings: TextResults["settings"]; cells: C[] },
): MembershipLawPoint<C>[] {
  const seqLen = text.settings?.pool?.seqLen;
  if (!(Number.isInteger(seqLen) && seqLen >= 2)) {
    throw new Error(`text-memorization results: settings.pool.seqLen is ${seqLen}, not a length`);
  }
  return text.cells.map((c) => ({
    ...c,
    seqLen,
    x: lawX(c.count, seqLen, c.parameters),
    xSequences: (1000 * c.count) / c.parameters,
    f1: c.membershipF1,
  }));
}

/** α per precision: capacity-grid's measured slope. */
export function alphaFrom(grid: GridResults): Record<LawPrecision, number> {
  const alphaOf = (p: LawPrecision) => {
    const a = grid.fits.find((f) => f.precision === p)?.measured.alpha;
    if (a === undefined) throw new Error(`capacity-grid results: no measured α for ${p}`);
    return a;
  };
  return { fp32: alphaOf("fp32"), bf16: alphaOf("bf16") };
}

/** The paper's constants' RMS error on the points, with the token-form x and the S-tied x. */
export function paperRmsOf(points: readonly MembershipLawPoint<unknown>[]) {
  return {
    tokens: lawRms(points, PAPER_CONSTANTS),
    sequences: lawRms(points.map((p) => ({ x: p.xSequences, f1: p.f1 })), PAPER_CONSTANTS),
  };
}

/** The law fitted to the text points and the α read from the grid, as the study writes them. */
export function fitFromReports(text: TextResults, grid: GridResults): {
  points: MembershipLawPoint<TextResults["cells"][number]>[];
  fit: LawFit;
  alpha: Record<LawPrecision, number>;
} {
  const points = lawPointsFrom(text);
  return { points, fit: fitMembershipLaw(points), alpha: alphaFrom(grid) };
}

/** "; 98.3M training tokens there", from the runs' recorded tokens; "" when not recorded. */
function textTokens(text: TextResults): string {
  if (text.cells.some((c) => c.tokens === undefined)) return "";
  return `; ${fmt(text.cells.reduce((n, c) => n + c.tokens!, 0) / 1e6, 1)}M training tokens there`;
}

/** "0 of 10 capacities certified, so α is a lower bound …", from the grid's sweeps' verdicts. */
function gridVerdicts(grid: GridResults): string {
  const sweeps = grid.sweeps ?? [];
  if (sweeps.length === 0) return "its verdicts are not recorded";
  const certified = sweeps.filter((s) => s.result.verdict === "certified").length;
  return `${certified} of ${sweeps.length} capacities certified` +
    (certified < sweeps.length
      ? ", so α is a lower bound, and so are the memorized bits `/v1/predict` derives from it"
      : "");
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
  // Every field of each cell travels into the report's points (results.json).
  const { points, fit, alpha } = fitFromReports(text, grid);
  const seqLen = points[0].seqLen;
  const file = FittedConstantsFile.parse({
    version: 1,
    fittedAt: new Date().toISOString(),
    source: `deno task experiment membership-law --scale ${ctx.scale}: c1..c3 from ` +
      `${points.length} text-memorization cells (balanced F1, S = ${seqLen}, x = ` +
      "1000·|D|·S/(64·params)), α from capacity-grid (measured)",
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

  const paper = paperRmsOf(points);
  const xs = points.map((p) => p.x);
  const lo = Math.min(...xs) / 1.5, hi = Math.max(...xs) * 1.5;
  const curve = (c: { c1: number; c2: number; c3: number }) =>
    Array.from({ length: 60 }, (_, i) => {
      const x = lo * (hi / lo) ** (i / 59);
      return [x, membershipF1Law(x, c)] as const;
    });
  const svg = plotSvg({
    title: `Membership F1 against x = 15.625 × tokens per parameter (${ctx.scale} scale)`,
    width: 720,
    height: 460,
    idPrefix: "law",
    x: { scale: "log", min: lo, max: hi, label: "x = 1000·|D|·S / (64·params)" },
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
      {
        study: "membership-law",
        scale: ctx.scale,
        x: "1000·|D|·S/(64·params)",
        seqLen,
        fit,
        paperRms: paper.tokens,
        paperRmsSequencesX: paper.sequences,
        constants: file,
        points,
      },
      null,
      2,
    ),
    "report.md": [
      `# membership-law (${ctx.scale} scale)`,
      "",
      "The membership law F1 = ½(1 + c1·σ(c2·(x + c3))), x = 1000·|D|·S/(64·params) " +
      "(15.625 × tokens per parameter), fitted by least squares to the balanced membership F1 " +
      `of the text-memorization cells at this scale (S = ${seqLen}). ` +
      "Written to `lib/privacy/fitted_constants.json`, which `POST /v1/predict` uses with " +
      '`constants: "fitted"`.',
      "",
      "At S = 64 this x is the paper's 1000·|D|/params (sequences per thousand parameters), " +
      "the variable its constants were fitted with; the token form keeps other sequence " +
      `lengths comparable. With the S-tied 1000·|D|/params the paper's constants would fit ` +
      `these points with rms ${fmt(paper.sequences, 3)} instead of ${fmt(paper.tokens, 3)}.`,
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
            fmt(paper.tokens, 3),
          ],
        ],
      ),
      "",
      `α written with them: fp32 ${fmt(alpha.fp32)}, bf16 ${fmt(alpha.bf16)} bits/param ` +
      "(capacity-grid, measured at its budget).",
      "",
      "## Budget and verdicts",
      "",
      "- No training here (0 tokens). The points are text-memorization's " +
      `${points.length} runs, each a fixed budget with no saturation check (0 of ` +
      `${points.length} certified${textTokens(text)}).`,
      `- α is capacity-grid's measured slope: ${gridVerdicts(grid)}.`,
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
