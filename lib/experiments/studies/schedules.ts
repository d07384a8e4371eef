// schedules: which learning-rate schedule, rate and batch size reach
// saturation fastest in wall time. One model, one dataset twice its guessed
// capacity (so it is capacity-limited), one sweep per setting through the
// same API; each reports its memorized bits along the way, whether it
// saturated, and the wall time. The winner sets trainingFor("cpu").
import type { ScheduleInput } from "../../training/schedule.ts";
import { predictedPlateauSize } from "../../capacity/plan.ts";
import { parameterCount, type Precision } from "../../model/config.ts";
import { curvesSvg } from "../../plot/study_plots.ts";
import {
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

interface Setting {
  schedule: ScheduleInput;
  lr: number;
  batchSize: number;
}

function shape(scale: Scale) {
  return scale === "cpu"
    ? modelConfig(scale, { vocabSize: 64, seqLen: 16, layers: 1, dModel: 16 })
    : modelConfig(scale, { vocabSize: 2048, seqLen: 64, layers: 1, dModel: 64 });
}

function settings(scale: Scale): Setting[] {
  const base = trainingFor(scale)!;
  const lr = base.optimizer!.lr!, batch = base.batchSize!;
  const restarts = { ...base.schedule } as ScheduleInput;
  const out: Setting[] = [
    { schedule: { kind: "constant", warmupSteps: 100 }, lr, batchSize: batch },
    { schedule: { kind: "cosine", warmupSteps: 100 }, lr, batchSize: batch },
  ];
  for (const f of [0.3, 1, 3]) out.push({ schedule: restarts, lr: lr * f, batchSize: batch });
  for (const f of [0.5, 2, 4]) out.push({ schedule: restarts, lr, batchSize: batch * f });
  return out;
}

function label(s: Setting) {
  return `${s.schedule.kind} lr ${s.lr} batch ${s.batchSize}`;
}

function requests(scale: Scale, precisions: Precision[]) {
  const config = shape(scale);
  const base = trainingFor(scale)!;
  const n = Math.round(2 * predictedPlateauSize(config, scale === "cpu" ? 2.6 : 3.6));
  const maxSteps = scale === "cpu" ? 8000 : 64000;
  return settings(scale).map((s) => ({
    label: label(s),
    setting: s,
    request: {
      config,
      precision: precisions[0],
      datasetSizes: [n],
      seeds: [0],
      testSequences: 0,
      training: {
        ...base,
        optimizer: { type: "adamw" as const, lr: s.lr },
        batchSize: s.batchSize,
        maxSteps,
        schedule: s.schedule,
        evalEvery: 1000,
        // Measure the whole budget: the study compares curves, not stop rules.
        saturation: { fraction: 1e-9, minSteps: maxSteps },
      },
    },
  }));
}

async function run(ctx: StudyContext) {
  const done = await runSweeps(ctx, requests(ctx.scale, ctx.precisions));
  const config = shape(ctx.scale);
  const rows = done.map((d) => {
    const r = d.result.runs[0];
    // Wall time to saturation: the first measurement after which a doubling of
    // steps added less than 1% (the service's rule), scaled from the sweep's time.
    const curve = r.curve;
    const satAt = curve.find((p, i) => {
      const half = curve.findLast((q) => q.step <= p.step / 2);
      return i > 0 && half !== undefined && p.step >= 2000 && (p.bits - half.bits) / p.bits < 0.01;
    });
    const secondsPerStep = d.result.seconds / r.steps;
    return {
      label: d.label,
      ...d.setting,
      finalBits: r.memorizedBits,
      steps: r.steps,
      seconds: d.result.seconds,
      saturatedAt: satAt?.step ?? null,
      secondsToSaturation: satAt ? satAt.step * secondsPerStep : null,
      bitsAt: Object.fromEntries(curve.map((p) => [p.step, p.bits])),
      curve,
    };
  });
  const best = rows.reduce((a, b) => (b.finalBits > a.finalBits ? b : a));
  const files: Record<string, string> = {
    "curves.svg": curvesSvg(
      rows.map((r) => ({ label: r.label, curve: r.curve, asymptote: null })),
      `Memorized bits against steps per setting (${ctx.scale} scale)`,
    ),
    "results.json": JSON.stringify({ study: "schedules", scale: ctx.scale, rows, sweeps: done }, null, 2),
  };
  const steps = [...new Set(rows.flatMap((r) => r.curve.map((p) => p.step)))].sort((a, b) => a - b)
    .filter((s) => rows.filter((r) => r.bitsAt[s] !== undefined).length >= rows.length / 2);
  files["report.md"] = [
    `# schedules (${ctx.scale} scale)`,
    "",
    `Which schedule, learning rate and batch size memorize most per unit of wall time. One ` +
    `model (${config.layers} layer, d = ${config.dModel}, V = ${config.vocabSize}, S = ` +
    `${config.seqLen}, ${int(parameterCount(config))} parameters), one uniform dataset of ` +
    `${done[0].request.datasetSizes[0]} sequences (about twice its capacity), AdamW, every ` +
    "setting trained for the same number of steps through POST /v1/capacity. Memorized bits " +
    "are measured every 1000 steps for constant and cosine, and at the cycle ends (annealed) " +
    "for cosine-restarts.",
    "",
    `**Most memorized at the end: ${best.label}** (${int(best.finalBits)} bits).`,
    "",
    table(
      ["setting", ...steps.map((s) => `bits @${s}`), "wall s", "steps/s", "saturated at step", "s to saturation"],
      rows.map((r) => [
        r.label,
        ...steps.map((s) => (r.bitsAt[s] !== undefined ? int(r.bitsAt[s]) : "–")),
        fmt(r.seconds, 0),
        fmt(r.steps / r.seconds, 0),
        r.saturatedAt ?? "–",
        fmt(r.secondsToSaturation, 0),
      ]),
    ),
    "",
    "A single cosine is only annealed at the end of its budget, so its intermediate values " +
    "are not comparable; cosine-restarts is annealed at every doubling, which is where the " +
    "saturation rule looks. 'saturated at step': the first measurement at which the last " +
    "doubling of steps added less than 1% (not before step 2000).",
    "",
    "![curves](curves.svg)",
    "",
    provenance(ctx, [`Sweep ids: ${done.map((d) => d.id).join(", ")}`]),
  ].join("\n");
  await writeReport(ctx.outDir, files);
}

export const schedules: Study = {
  name: "schedules",
  summary: "schedule, learning rate and batch size against memorized bits and wall time",
  requests,
  run,
};
