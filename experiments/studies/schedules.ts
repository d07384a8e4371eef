// schedules: which learning-rate schedule, rate and batch size reach
// saturation fastest in wall time. One model, one dataset twice its guessed
// capacity (so it is capacity-limited), one sweep per setting through the
// same API; each reports its memorized bits along the way, whether it
// saturated, and the wall time. The winner sets trainingFor("cpu").
import type { ScheduleInput } from "../../lib/training/schemas.ts";
import { predictedPlateauSize } from "../../lib/capacity/grid.ts";
import { parameterCount } from "../../lib/model/config.ts";
import type { Precision } from "../../lib/model/schemas.ts";
import { curvesSvg } from "../../lib/plot/study_plots.ts";
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

function requests(scale: Scale, precisions: Precision[], budget?: number) {
  const config = shape(scale);
  const base = trainingFor(scale)!;
  const n = Math.round(2 * predictedPlateauSize(config, scale === "cpu" ? 2.6 : 3.6));
  const maxSteps = budget ?? (scale === "cpu" ? 8000 : 64000);
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
  const done = await runSweeps(ctx, requests(ctx.scale, ctx.precisions, ctx.maxSteps));
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
  // Equal wall time: every setting's memorized bits after the time the quickest one took,
  // interpolated in log-time between its measurements (each measurement's time is its step
  // times the sweep's seconds per step).
  const wall = Math.min(...rows.map((r) => r.seconds));
  const withWall = rows.map((r) => ({
    ...r,
    bitsAtWall: bitsAtTime(r.curve, r.seconds / r.steps, wall),
  }));
  const best = withWall.reduce((a, b) => (b.bitsAtWall > a.bitsAtWall ? b : a));
  const mostAtEnd = rows.reduce((a, b) => (b.finalBits > a.finalBits ? b : a));
  const files: Record<string, string> = {
    "curves.svg": curvesSvg(
      rows.map((r) => ({ label: r.label, curve: r.curve, asymptote: null })),
      `Memorized bits against steps per setting (${ctx.scale} scale)`,
    ),
    "results.json": JSON.stringify(
      { study: "schedules", scale: ctx.scale, rows, sweeps: done },
      null,
      2,
    ),
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
    `**Most memorized in equal wall time (${fmt(wall, 0)} s): ${best.label}** ` +
    `(${int(best.bitsAtWall)} bits). Most at the end of the same step budget: ` +
    `${mostAtEnd.label} (${int(mostAtEnd.finalBits)} bits, in ${fmt(mostAtEnd.seconds, 0)} s).`,
    "",
    chosenLine(ctx.scale, withWall, best.bitsAtWall, wall),
    "",
    table(
      [
        "setting",
        ...steps.map((s) => `bits @${s}`),
        `bits after ${fmt(wall, 0)} s`,
        "wall s",
        "steps/s",
        "saturated at step",
        "s to saturation",
      ],
      withWall.map((r) => [
        r.label,
        ...steps.map((s) => (r.bitsAt[s] !== undefined ? int(r.bitsAt[s]) : "–")),
        int(r.bitsAtWall),
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
    "doubling of steps added less than 1% (not before step 2000); '–': none did within the " +
    "budget. Wall times are those of the service's engine on this machine; bigger batches " +
    "cost more per step but memorize more per step.",
    "",
    "![curves](curves.svg)",
    "",
    provenance(ctx, [`Sweep ids: ${done.map((d) => d.id).join(", ")}`]),
  ].join("\n");
  await writeReport(ctx.outDir, files);
}

/** Where the setting the studies use (trainingFor) stands against the best. */
function chosenLine(
  scale: Scale,
  rows: { label: string; bitsAtWall: number; finalBits: number }[],
  bestBits: number,
  wall: number,
): string {
  const t = trainingFor(scale)!;
  const chosen = label({ schedule: t.schedule!, lr: t.optimizer!.lr!, batchSize: t.batchSize! });
  const row = rows.find((r) => r.label === chosen);
  if (!row) return `The studies use ${chosen}, which this run did not measure.`;
  return `The studies at this scale use **${chosen}** (trainingFor in experiments/study.ts): ` +
    `${int(row.bitsAtWall)} bits after ${fmt(wall, 0)} s, ${
      fmt((100 * row.bitsAtWall) / bestBits, 1)
    }% ` +
    "of the best, and annealed at every doubling of steps, which the saturation rule and the " +
    "asymptote fit need; a single cosine is annealed only at the end of a budget fixed in advance.";
}

/** Bits at wall time `t` (seconds), interpolated in log-time; before the first point, 0. */
function bitsAtTime(curve: { step: number; bits: number }[], secondsPerStep: number, t: number) {
  const pts = curve.map((p) => ({ t: p.step * secondsPerStep, bits: p.bits }));
  if (pts.length === 0 || t < pts[0].t) return 0;
  for (let i = 1; i < pts.length; i++) {
    if (t <= pts[i].t) {
      const f = Math.log(t / pts[i - 1].t) / Math.log(pts[i].t / pts[i - 1].t);
      return pts[i - 1].bits + f * (pts[i].bits - pts[i - 1].bits);
    }
  }
  return pts.at(-1)!.bits;
}

export const schedules: Study = {
  name: "schedules",
  summary: "schedule, learning rate and batch size against memorized bits and wall time",
  requests,
  run,
};
