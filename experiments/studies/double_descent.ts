// double-descent: one model size, many dataset sizes from well below to well
// above its capacity, and train/test loss on each (docs/method.md: test loss peaks
// where dataset bits / capacity ≈ 1). On uniform tokens no model can beat
// log2 V bits per token on held-out data; memorizing its training set pulls
// its predictions away from uniform and pushes test loss above that floor,
// most where the model is just full. Past capacity it can only memorize a
// shrinking fraction of the data and its predictions flatten again.
import type { SweepResult } from "../../lib/capacity/schemas.ts";
import type { Precision } from "../../lib/model/schemas.ts";
import { parameterCount } from "../../lib/model/config.ts";
import { doubleDescentSvg } from "../../lib/plot/study_plots.ts";
import { capacityPlotSvg } from "../../lib/plot/capacity_plot.ts";
import { predictedPlateauSize } from "../../lib/capacity/grid.ts";
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

function shape(scale: Scale) {
  return scale === "cpu"
    ? modelConfig(scale, { vocabSize: 64, seqLen: 16, layers: 1, dModel: 16 })
    : modelConfig(scale, { vocabSize: 2048, seqLen: 64, layers: 2, dModel: 64 });
}

// 9 sizes on a geometric grid from N*·2^-3 to N*·2^3, N* the guessed plateau size.
function sizes(scale: Scale): number[] {
  const nStar = predictedPlateauSize(shape(scale), scale === "cpu" ? 2.6 : 3.6);
  const out = new Set<number>();
  for (let i = -3; i <= 3; i += 0.75) out.add(Math.max(1, Math.round(nStar * 2 ** i)));
  return [...out].sort((a, b) => a - b);
}

function requests(scale: Scale, precisions: Precision[], maxSteps?: number) {
  const precision = precisions[0];
  return [{
    label: `double-descent ${precision}`,
    request: {
      config: shape(scale),
      precision,
      datasetSizes: sizes(scale),
      seeds: [0],
      training: trainingFor(scale, maxSteps),
      maxFleetSize: scale === "cpu" ? 16 : 1,
      testSequences: scale === "cpu" ? 512 : 2048,
    },
  }];
}

interface Row {
  datasetSize: number;
  datasetBits: number;
  ratio: number;
  memorizedBits: number;
  trainLossBits: number;
  testLossBits: number;
  steps: number;
  saturated: boolean;
}

async function run(ctx: StudyContext) {
  const [done] = await runSweeps(ctx, requests(ctx.scale, ctx.precisions, ctx.maxSteps));
  const r: SweepResult = done.result;
  const config = shape(ctx.scale);
  const capacity = r.capacityBits;
  const rows: Row[] = r.runs.map((run) => {
    const p = r.points.find((q) => q.datasetSize === run.datasetSize)!;
    return {
      datasetSize: run.datasetSize,
      datasetBits: p.datasetBits,
      ratio: p.datasetBits / capacity,
      memorizedBits: run.memorizedBits,
      trainLossBits: run.trainLossBits,
      testLossBits: run.testLossBits ?? NaN,
      steps: run.steps,
      saturated: run.saturated,
    };
  });
  const peak = rows.reduce((a, b) => (b.testLossBits > a.testLossBits ? b : a));
  const floor = Math.log2(config.vocabSize);
  const files: Record<string, string> = {
    "double-descent.svg": doubleDescentSvg(
      rows,
      floor,
      `Train and test loss against dataset bits / capacity (${ctx.scale} scale)`,
    ),
    "capacity.svg": capacityPlotSvg(r, { title: "The same sweep: memorized bits (capacity)" }),
    "results.json": JSON.stringify(
      {
        study: "double-descent",
        scale: ctx.scale,
        capacityBits: capacity,
        peak,
        rows,
        sweep: done,
      },
      null,
      2,
    ),
  };
  const t = trainingFor(ctx.scale, ctx.maxSteps)!;
  files["report.md"] = [
    `# double-descent (${ctx.scale} scale)`,
    "",
    `One model (${config.layers} layer${config.layers > 1 ? "s" : ""}, d = ${config.dModel}, ` +
    `${config.heads} heads, V = ${config.vocabSize}, S = ${config.seqLen}, ` +
    `${int(parameterCount(config))} parameters, ${done.request.precision}) trained on uniform ` +
    `datasets from about 1/8 to 8 times its capacity. Capacity here is this sweep's: ` +
    `${int(capacity)} bits (${fmt(r.bitsPerParameter)} bits/param` +
    (r.verdict === "certified"
      ? ", certified"
      : `, a lower bound: ${r.reasons.map((x) => x.code).join(", ")}; see Certificates`) +
    `). Test loss is measured on ` +
    `${done.request.testSequences} held-out uniform sequences; no model can do better than ` +
    `log2 V = ${fmt(floor)} bits per token there.`,
    "",
    `**Test loss peaks at dataset bits / capacity = ${fmt(peak.ratio)}** ` +
    `(N = ${peak.datasetSize}, ${fmt(peak.testLossBits, 3)} bits/token). The paper: the peak ` +
    "sits where dataset bits / capacity ≈ 1.",
    "",
    "![double descent](double-descent.svg)",
    "",
    table(
      [
        "N",
        "dataset bits",
        "bits / capacity",
        "memorized bits",
        "train loss",
        "test loss",
        "steps",
        "saturated",
      ],
      rows.map((x) => [
        x.datasetSize,
        int(x.datasetBits),
        fmt(x.ratio),
        int(x.memorizedBits),
        fmt(x.trainLossBits, 3),
        fmt(x.testLossBits, 3),
        x.steps,
        x.saturated ? "yes" : "no",
      ]),
    ),
    "",
    "Losses are bits per predicted token (tokens 2..S).",
    "",
    "![capacity](capacity.svg)",
    "",
    certificateSection([done]),
    "## Budget and settings",
    "",
    `- AdamW lr ${t.optimizer?.lr}, batch ${t.batchSize}, ${t.schedule?.kind} (first cycle ` +
    `${t.schedule?.firstCycleSteps}), at most ${int(t.maxSteps!)} steps; a run stops when a ` +
    `doubling of steps adds less than ${
      (t.saturation!.fraction! * 100).toFixed(0)
    }% memorized bits.`,
    "",
    provenance(ctx, [`Sweep id: ${done.id}`]),
  ].join("\n");
  await writeReport(ctx.outDir, files);
}

export const doubleDescent: Study = {
  name: "double-descent",
  summary: "train/test loss against dataset bits / capacity for one model",
  requests,
  run,
};
