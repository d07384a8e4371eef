// reference: memcap's certified capacities against independent numbers. At
// cpu scale, three tiny shapes an independent PyTorch implementation measured
// on our machines (docs/method.md); at paper scale, Table 1's 1-layer d=32 cell.
// Each sweep trains until its verdict is certified (or its token budget is
// spent) and the report says, shape by shape, whether memcap agrees: a
// certified capacity no more than 3% under the reference figure.
import type { SweepResult } from "../../lib/capacity/schemas.ts";
import { parameterCount } from "../../lib/model/config.ts";
import type { Precision } from "../../lib/model/schemas.ts";
import { capacityPlotSvg } from "../../lib/plot/capacity_plot.ts";
import { curvesSvg } from "../../lib/plot/study_plots.ts";
import {
  fmt,
  int,
  modelConfig,
  provenance,
  runSweeps,
  type Scale,
  seedsPhrase,
  type Study,
  type StudyContext,
  table,
  writeReport,
} from "../study.ts";

/** memcap agrees when its certified capacity is at least this fraction of the reference. */
export const AGREEMENT = 0.97;

export interface Reference {
  label: string;
  layers: number;
  dModel: number;
  /** The independent figure, bits; `atLeast` when that run was still rising. */
  bits: number;
  atLeast: boolean;
  source: string;
  /** Dataset sizes past the knee: the reference's bits fill at most 2/3 of the smallest. */
  datasetSizes: number[];
}

export function references(scale: Scale): Reference[] {
  if (scale === "paper") {
    return [{
      label: "L1 d32",
      layers: 1,
      dModel: 32,
      bits: 3.39e5,
      atLeast: false,
      source: "the paper, Table 1 (α 4.23)",
      datasetSizes: [1000, 2000],
    }];
  }
  const pytorch = "PyTorch 1.13 on our CPUs (docs/method.md)";
  return [
    {
      label: "L1 d16",
      layers: 1,
      dModel: 16,
      bits: 12_066,
      atLeast: false,
      source: `${pytorch}: cosine, 40k steps, batch 128, flat over N = 184..735`,
      datasetSizes: [220, 330, 500],
    },
    {
      label: "L1 d32",
      layers: 1,
      dModel: 32,
      bits: 40_115,
      atLeast: false,
      source: `${pytorch}: cosine, 30k steps`,
      datasetSizes: [700, 1050, 1600],
    },
    {
      label: "L2 d32",
      layers: 2,
      dModel: 32,
      bits: 88_215,
      atLeast: true,
      source: `${pytorch}: cosine, 25k steps, still rising 2-3% per 10k steps`,
      datasetSizes: [1800, 2700, 4000],
    },
  ];
}

export function shapeOf(scale: Scale, ref: Reference) {
  const data = scale === "cpu" ? { vocabSize: 64, seqLen: 16 } : { vocabSize: 2048, seqLen: 64 };
  return modelConfig(scale, { ...data, layers: ref.layers, dModel: ref.dModel });
}

/** The reference runs' recipe, on restarts so that training can go on until certified. */
export function training(scale: Scale, maxSteps?: number) {
  return {
    optimizer: { type: "adamw" as const, lr: scale === "cpu" ? 1e-2 : 3e-3 },
    batchSize: scale === "cpu" ? 128 : 512,
    maxSteps: maxSteps ?? 40_000,
    // Cycle ends at 625·2^k: 5k, 10k, 20k, 40k, the reference runs' budgets; every restart
    // ramps up over a tenth of its cycle (bench/restart_recipes.ts: jumps to the peak stall).
    schedule: {
      kind: "cosine-restarts" as const,
      warmupSteps: 100,
      firstCycleSteps: 625,
      restartWarmupFraction: 0.1,
    },
    saturation: { fraction: 0.01, minSteps: 2000 },
  };
}

/** " (extended from 1.23e+9)" for a sweep a smaller budget stopped first; else "". */
function extension(r: SweepResult): string {
  const from = r.budget.extendedFrom ?? [];
  return from.length > 0 ? ` (extended from ${from.map(tokens).join(", then ")})` : "";
}

/** A token count as the report prints it (the budget is null for sweeps without one). */
function tokens(n: number | null): string {
  return n === null ? "none" : n.toExponential(2);
}

function requests(scale: Scale, precisions: Precision[], maxSteps?: number) {
  return references(scale).map((ref) => ({
    label: `${precisions[0]} ${ref.label}`,
    ref,
    request: {
      config: shapeOf(scale, ref),
      precision: precisions[0],
      datasetSizes: ref.datasetSizes,
      seeds: [0],
      training: training(scale, maxSteps),
      until: "certified" as const,
      maxFleetSize: scale === "cpu" ? 16 : 2,
    },
  }));
}

/** Whether a sweep agrees with its reference: certified, and within AGREEMENT of it or above. */
export function agreement(result: SweepResult, ref: { bits: number }) {
  const ratio = result.capacityBits / ref.bits;
  return { ratio, agrees: result.verdict === "certified" && ratio >= AGREEMENT };
}

type Done = Awaited<ReturnType<typeof runSweeps<ReturnType<typeof requests>[number]>>>[number];

/**
 * With --only, the shapes this run leaves out keep their sweeps from the report already in
 * the folder, so that shapes run in separate sittings make one report.
 */
async function keptSweeps(ctx: StudyContext, ran: Done[]): Promise<Done[]> {
  if (ctx.only === undefined) return [];
  let earlier: { scale?: string; sweeps?: Done[] };
  try {
    earlier = JSON.parse(await Deno.readTextFile(`${ctx.outDir}/results.json`));
  } catch {
    return [];
  }
  if (earlier.scale !== ctx.scale) return [];
  const labels = requests(ctx.scale, ctx.precisions).map((r) => r.label);
  return (earlier.sweeps ?? []).filter((d) =>
    labels.includes(d.label) && !ran.some((r) => r.label === d.label)
  );
}

async function run(ctx: StudyContext) {
  const ran = await runSweeps(ctx, requests(ctx.scale, ctx.precisions, ctx.maxSteps));
  const kept = await keptSweeps(ctx, ran);
  const order = requests(ctx.scale, ctx.precisions).map((r) => r.label);
  const done = [...kept, ...ran].sort((a, b) => order.indexOf(a.label) - order.indexOf(b.label));
  const rows = done.map((d) => {
    const r = d.result;
    const { ratio, agrees } = agreement(r, d.ref);
    return {
      label: d.label,
      parameters: parameterCount(d.request.config),
      reference: d.ref,
      capacityBits: r.capacityBits,
      bitsPerParameter: r.bitsPerParameter,
      verdict: r.verdict,
      reasons: r.reasons.map((x) => x.code),
      ratio,
      agrees,
      runsCertified: r.runs.filter((x) => x.certificate.status === "saturated").length,
      runs: r.runs.length,
      tokensSpent: r.budget.tokensSpent,
      stopped: r.budget.stopped,
      seconds: r.seconds,
      resumed: (r.resumedFrom ?? []).length > 0,
      sweepId: d.id,
    };
  });
  const files: Record<string, string> = {
    "results.json": JSON.stringify(
      { study: "reference", scale: ctx.scale, rows, sweeps: done },
      null,
      2,
    ),
  };
  done.forEach((d) => {
    const slug = d.ref.label.replace(" ", "-").toLowerCase();
    files[`capacity-${slug}.svg`] = capacityPlotSvg(d.result, { title: `${d.label}` });
    files[`curves-${slug}.svg`] = curvesSvg(
      d.result.runs.map((x) => ({
        label: `N=${x.datasetSize}` + (x.seed === 0 ? "" : ` seed ${x.seed}`),
        curve: x.curve,
        asymptote: null,
      })),
      `${d.label}: memorized bits at the annealed cycle ends`,
    );
  });
  const t = training(ctx.scale, ctx.maxSteps);
  const agreed = rows.filter((r) => r.agrees).length;
  files["report.md"] = [
    `# reference (${ctx.scale} scale)`,
    "",
    "memcap's capacities against independent measurements of the same shapes. Each sweep " +
    'trains with `until: "certified"`: past its first pass, the runs that decide the answer ' +
    "train on, one doubling of steps at a time, until the verdict is certified or the token " +
    `budget is spent. memcap agrees with a reference when its verdict is certified and its ` +
    `capacity is at least ${AGREEMENT * 100}% of the reference figure.`,
    "",
    `**${agreed} of ${rows.length} shapes agree.**`,
    "",
    table(
      [
        "shape",
        "params",
        "reference (bits)",
        "memcap (bits)",
        "α",
        "memcap / reference",
        "verdict",
        "runs saturated",
        "tokens",
        "wall s",
        "agrees",
      ],
      rows.map((r) => [
        r.label,
        int(r.parameters),
        `${r.reference.atLeast ? "≥ " : ""}${int(r.reference.bits)}`,
        int(r.capacityBits),
        fmt(r.bitsPerParameter),
        fmt(r.ratio, 3),
        r.verdict + (r.reasons.length ? ` (${r.reasons.join(", ")})` : ""),
        `${r.runsCertified}/${r.runs}`,
        tokens(r.tokensSpent),
        fmt(r.seconds, 0) + (r.resumed ? " (resumed)" : ""),
        r.agrees ? "yes" : "no",
      ]),
    ),
    "",
    "wall s: the attempt that finished the sweep. A sweep marked resumed went on from its " +
    "checkpoints after a stop (`resumedFrom`), so the time of its earlier attempts is not in it.",
    "",
    "References:",
    "",
    ...rows.map((r) => `- ${r.label}: ${r.reference.source}.`),
    "",
    "## Per run",
    "",
    table(
      [
        "shape",
        "N",
        "seed",
        "certificate",
        "steps",
        "best bits (step)",
        "last bits",
        "gain",
        "drop",
        "unseen bits",
        "clip credit",
      ],
      done.flatMap((d) =>
        d.result.runs.map((x) => {
          const c = x.certificate;
          return [
            d.ref.label,
            x.datasetSize,
            x.seed,
            c.status,
            int(c.steps),
            `${int(c.bestBits)} (${int(c.bestStep)})`,
            int(c.lastBits),
            c.gain === null ? "–" : `${fmt(c.gain * 100, 1)}%`,
            `${fmt(c.drop * 100, 1)}%`,
            x.unseenBits == null ? "–" : int(x.unseenBits),
            x.clipCreditBits == null ? "–" : int(x.clipCreditBits),
          ];
        })
      ),
    ),
    "",
    "gain: memorized bits added over the last doubling of steps; drop: how far the last " +
    "measurement fell under the best. A run is saturated with a gain in [0, 1%) and a drop " +
    "under 1%. unseen bits: what the same per-sample measure credits to N sequences the model " +
    "never saw (its held-out set, scaled to N): the share of the memorized bits that could be " +
    "chance wins rather than memory. clip credit: what the per-sample clip adds at the last " +
    "measurement, the bits of the training sequences coded longer than uniform (– for runs " +
    "measured before memcap reported these).",
    "",
    ...done.flatMap((d) => {
      const slug = d.ref.label.replace(" ", "-").toLowerCase();
      const why = d.result.reasons.map((x) => `  - ${x.message}`);
      return [
        `### ${d.label}`,
        "",
        `- Verdict: ${d.result.verdict}` +
        (d.result.budget.stopped ? `; stopped: ${d.result.budget.stopped}` : ""),
        ...why,
        "",
        `![capacity ${d.ref.label}](capacity-${slug}.svg)`,
        "",
        `![curves ${d.ref.label}](curves-${slug}.svg)`,
        "",
      ];
    }),
    "## Budget and settings",
    "",
    `- AdamW lr ${t.optimizer.lr}, betas (0.9, 0.999), weight decay 0, batch ${t.batchSize}; ` +
    `cosine-restarts (warmup ${t.schedule.warmupSteps}, cycle ends at ` +
    `${t.schedule.firstCycleSteps}·2^k, each restart ramped over ` +
    `${t.schedule.restartWarmupFraction * 100}% of its cycle); first pass ${
      int(t.maxSteps)
    } steps, then until certified within each sweep's token budget (4× the first pass unless ` +
    `\`--token-budget\` says otherwise): ${
      done.map((d) => `${d.label} ${tokens(d.result.budget.tokenBudget)}${extension(d.result)}`)
        .join(", ")
    }.`,
    `- Uniform tokens; ${
      seedsPhrase(done[0]?.request.seeds)
    } per dataset size; memorized bits count tokens 2..S.`,
    "",
    provenance(ctx, [
      `Sweep ids: ${rows.map((r) => r.sweepId).join(", ")}`,
      ...(kept.length > 0
        ? [
          `Kept from the earlier report in this folder (run in an earlier sitting, with ` +
          `--only): ${
            kept.map((d) => `${d.label} (${d.id}, ${fmt(d.result.seconds, 0)} s)`).join(", ")
          }`,
        ]
        : []),
    ]),
  ].join("\n");
  await writeReport(ctx.outDir, files);
}

export const reference: Study = {
  name: "reference",
  summary: "certified capacities against independent PyTorch runs (cpu) or Table 1 (paper)",
  requests,
  run,
};
