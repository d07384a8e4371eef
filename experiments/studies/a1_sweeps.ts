// seq-sweep and vocab-sweep: the paper's A.1 sweeps, scaled down. One model
// shape and one dataset size; the sequence length (or vocabulary) varies, so
// the dataset's bits H(X) = N·(S-1)·log2 V cross the model's capacity
// α·params somewhere in the sweep. Memorization should follow
// min(capacity, H(X)) with the α measured by capacity-grid; the report gives
// the mean relative error of that prediction.
import { meanRelativeError } from "../../lib/capacity/alpha.ts";
import { datasetBits } from "../../lib/capacity/grid.ts";
import type { SweepResult } from "../../lib/capacity/schemas.ts";
import { paperConventionFactor } from "../../lib/memorization/memorization.ts";
import { parameterCount } from "../../lib/model/config.ts";
import type { Precision } from "../../lib/model/schemas.ts";
import { predictionSvg } from "../../lib/plot/study_plots.ts";
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
  writeReport,
} from "../study.ts";

type Axis = "seqLen" | "vocabSize";

interface SweepSpec {
  base: { vocabSize: number; seqLen: number; layers: number; dModel: number };
  values: number[];
  datasetSize: number;
}

/** cpu: a 1-layer d=16 model; paper: 2 layers, d=128, N=4096 as in the paper's A.1. */
function spec(axis: Axis, scale: Scale): SweepSpec {
  if (scale === "cpu") {
    const base = { vocabSize: 64, seqLen: 16, layers: 1, dModel: 16 };
    return axis === "seqLen"
      ? { base, values: [4, 8, 16, 32, 64], datasetSize: 128 }
      : { base, values: [16, 32, 64, 128, 256], datasetSize: 128 };
  }
  const base = { vocabSize: 2048, seqLen: 64, layers: 2, dModel: 128 };
  return axis === "seqLen"
    ? { base, values: [4, 8, 16, 32, 64, 128, 256], datasetSize: 4096 }
    : { base, values: [128, 256, 512, 1024, 2048, 4096], datasetSize: 4096 };
}

function requests(axis: Axis, scale: Scale, precisions: Precision[], maxSteps?: number) {
  const s = spec(axis, scale);
  const precision = precisions[0];
  return s.values.map((v) => {
    const config = modelConfig(scale, { ...s.base, [axis]: v });
    return {
      label: `${axis === "seqLen" ? "S" : "V"}=${v} ${precision}`,
      value: v,
      config,
      request: {
        config,
        precision,
        datasetSizes: [s.datasetSize],
        seeds: [0],
        training: trainingFor(scale, maxSteps),
        testSequences: 0,
      },
    };
  });
}

/** α from capacity-grid's report at this scale (or --alpha), for the given precision. */
async function gridAlpha(ctx: StudyContext, precision: Precision): Promise<number> {
  if (ctx.alpha !== undefined) return ctx.alpha;
  const path = `${ctx.resultsDir}/capacity-grid-${ctx.scale}/results.json`;
  let json;
  try {
    json = JSON.parse(await Deno.readTextFile(path));
  } catch {
    throw new Error(
      `no α: run \`deno task experiment capacity-grid --scale ${ctx.scale}\` ` +
        `first (it writes ${path}), or pass --alpha`,
    );
  }
  const fit = json.fits.find((f: { precision: string }) => f.precision === precision);
  if (!fit) throw new Error(`${path} has no ${precision} fit; pass --alpha`);
  return fit.measured.alpha;
}

function study(axis: Axis): Study {
  const name = axis === "seqLen" ? "seq-sweep" : "vocab-sweep";
  const symbol = axis === "seqLen" ? "S" : "V";
  return {
    name,
    summary: axis === "seqLen"
      ? "memorized vs min(α·params, H(X)) as the sequence length grows (paper A.1)"
      : "memorized vs min(α·params, H(X)) as the vocabulary grows (paper A.1)",
    requests: (scale, precisions, maxSteps) => requests(axis, scale, precisions, maxSteps),
    async run(ctx) {
      const precision = ctx.precisions[0];
      const alpha = await gridAlpha(ctx, precision);
      const done = await runSweeps(ctx, requests(axis, ctx.scale, ctx.precisions, ctx.maxSteps));
      const rows = done.map((d) => {
        const r: SweepResult = d.result;
        const c = d.config;
        const params = parameterCount(c);
        const hx = datasetBits(r.points[0].datasetSize, c.seqLen, c.vocabSize);
        const capacityBits = alpha * params;
        const predicted = Math.min(capacityBits, hx);
        return {
          value: d.value,
          parameters: params,
          datasetBits: hx,
          capacityBits,
          predicted,
          memorizedBits: r.points[0].meanBits,
          relativeError: (r.points[0].meanBits - predicted) / predicted,
          paperFactor: paperConventionFactor(c.seqLen),
          saturated: r.runs.every((x) => x.saturated),
          steps: r.runs[0].steps,
        };
      });
      const mre = meanRelativeError(
        rows.map((x) => ({ predicted: x.predicted, observed: x.memorizedBits })),
      );
      const s = spec(axis, ctx.scale);
      const files: Record<string, string> = {
        [`${name}.svg`]: predictionSvg(
          rows.map((x) => ({ label: `${symbol}=${x.value}`, ...x })),
          axis === "seqLen" ? "sequence length S" : "vocabulary size V",
          `Memorized bits against min(capacity, H(X)) (${ctx.scale} scale)`,
        ),
        "results.json": JSON.stringify(
          { study: name, scale: ctx.scale, alpha, meanRelativeError: mre, rows, sweeps: done },
          null,
          2,
        ),
      };
      const t = trainingFor(ctx.scale, ctx.maxSteps)!;
      files["report.md"] = [
        `# ${name} (${ctx.scale} scale)`,
        "",
        `A ${s.base.layers}-layer, d = ${s.base.dModel} model (${precision}) trained on ` +
        `N = ${s.datasetSize} uniform sequences while ${symbol} varies` +
        `${axis === "seqLen" ? ` (V = ${s.base.vocabSize})` : ` (S = ${s.base.seqLen})`}. ` +
        `Prediction: min(α·params, H(X)) with α = ${fmt(alpha)} bits/param from ` +
        `${
          ctx.alpha !== undefined
            ? "--alpha"
            : `capacity-grid (${ctx.scale} scale, ${precision}, measured)`
        }` +
        `; H(X) = N·(S-1)·log2 V counts tokens 2..S, as memorization does. Parameters change ` +
        `with ${symbol} (${axis === "seqLen" ? "position" : "token"} embeddings).`,
        "",
        `**Mean relative error of the prediction: ${fmt(mre * 100, 1)}%** (the paper: within ` +
        "about 2% across its vocabulary sweep).",
        "",
        `![${name}](${name}.svg)`,
        "",
        table(
          [
            symbol,
            "params",
            "H(X) bits",
            "α·params",
            "predicted",
            "memorized",
            "error",
            "saturated",
            "steps",
          ],
          rows.map((x) => [
            x.value,
            int(x.parameters),
            int(x.datasetBits),
            int(x.capacityBits),
            int(x.predicted),
            int(x.memorizedBits),
            `${fmt(x.relativeError * 100, 1)}%`,
            x.saturated ? "yes" : "no",
            x.steps,
          ]),
        ),
        "",
        "In the paper's convention (all S tokens) H(X) and memorized bits are both S/(S-1) " +
        "times larger; the relative errors are the same." +
        (axis === "seqLen"
          ? " At the smallest S a data-limited model cannot reach H(X) even in principle: " +
            "sequences that share their first tokens (N = " + s.datasetSize + " sequences over " +
            "V values) need different next tokens from the same prefix."
          : ""),
        "",
        certificateSection(done),
        "## Budget and settings",
        "",
        `- AdamW lr ${t.optimizer?.lr}, batch ${t.batchSize}, ${t.schedule?.kind}, at most ` +
        `${int(t.maxSteps!)} steps, one seed.`,
        "",
        provenance(ctx, [`Sweep ids: ${done.map((d) => d.id).join(", ")}`]),
      ].join("\n");
      await writeReport(ctx.outDir, files);
    },
  };
}

export const seqSweep = study("seqLen");
export const vocabSweep = study("vocabSize");
