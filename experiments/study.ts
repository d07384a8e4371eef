// What every study shares: its context (where sweeps go, where the report
// goes, which scale), the training settings of each scale, and small helpers
// to write a self-contained report folder.
import type { ExperimentClient } from "./client.ts";
import type { CapacityCreateInput, SweepResult } from "../lib/capacity/schemas.ts";
import type { ModelConfig, Precision } from "../lib/model/schemas.ts";

export type Scale = "cpu" | "paper";

export interface StudyContext {
  /** The study's name, as on the command line. */
  study: string;
  client: ExperimentClient;
  scale: Scale;
  /** Precisions to measure, where the study measures more than one. */
  precisions: Precision[];
  /** The report folder (created). */
  outDir: string;
  /** Report folders of other studies (the α of capacity-grid), by study name. */
  resultsDir: string;
  log: (line: string) => void;
  /** Bits per parameter to use instead of capacity-grid's (seq/vocab sweeps). */
  alpha?: number;
  /** Training budget per run instead of the scale's (trainingFor). */
  maxSteps?: number;
  /** Every sweep's maxFleetSize instead of the study's (1: no fleets). */
  maxFleetSize?: number;
  /** Seeds 0..seeds-1 per dataset size instead of the study's one (`--seeds`). */
  seeds?: number;
  /** Run only the sweeps whose label contains one of these (a subset of a study). */
  only?: string[];
  /** What computed it, from the service's GET /v1/health (adapter, backend, version). */
  hardware: string;
}

/** The sweeps `ctx.only` keeps (all without it); an error naming the labels if none. */
export function chosenSweeps<T extends { label: string }>(ctx: StudyContext, sweeps: T[]): T[] {
  const only = ctx.only;
  if (!only) return sweeps;
  const kept = sweeps.filter((s) => only.some((o) => s.label.includes(o)));
  if (kept.length === 0) {
    throw new Error(
      `--only ${only.join(",")}: no sweep label matches; labels: ${
        sweeps.map((s) => s.label).join("; ")
      }`,
    );
  }
  return kept;
}

export interface Study {
  name: string;
  /** One line for `deno task experiment --help`. */
  summary: string;
  /** Every sweep the study would submit at a scale (checked by tests without a GPU). */
  requests(
    scale: Scale,
    precisions: Precision[],
    maxSteps?: number,
  ): { label: string; request: CapacityCreateInput }[];
  run(ctx: StudyContext): Promise<void>;
}

/**
 * Training settings per scale. cpu: picked by the `schedules` study on the
 * 2-core software adapter (see docs/results/schedules-cpu/report.md); paper:
 * the paper's batch 2048 with the same schedule shape and a budget sized for a
 * GPU server.
 */
export function trainingFor(scale: Scale, maxSteps?: number): CapacityCreateInput["training"] {
  if (scale === "cpu") {
    return {
      optimizer: { type: "adamw", lr: 1e-2 },
      batchSize: 64,
      maxSteps: maxSteps ?? 8000,
      schedule: { kind: "cosine-restarts", warmupSteps: 100, firstCycleSteps: 500 },
      saturation: { fraction: 0.01, minSteps: 2000 },
    };
  }
  return {
    optimizer: { type: "adamw", lr: 1e-3 },
    batchSize: 2048,
    maxSteps: maxSteps ?? 256000,
    schedule: { kind: "cosine-restarts", warmupSteps: 500, firstCycleSteps: 2000 },
    saturation: { fraction: 0.01, minSteps: 8000 },
  };
}

/** heads = d/8 (head size 8) at cpu scale, d/32 at paper scale, at least 1. */
export function modelConfig(
  scale: Scale,
  shape: { vocabSize: number; seqLen: number; layers: number; dModel: number },
): ModelConfig {
  const headSize = scale === "cpu" ? 8 : 32;
  return { ...shape, heads: Math.max(1, Math.floor(shape.dModel / headSize)) };
}

/** A markdown table. */
export function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

export function fmt(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  return v.toFixed(digits);
}

/** Integer with thousands separators. */
export function int(v: number): string {
  return Math.round(v).toLocaleString("en-US");
}

export async function writeReport(
  outDir: string,
  files: { [name: string]: string },
): Promise<void> {
  await Deno.mkdir(outDir, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    const tmp = `${outDir}/.${name}.tmp`;
    await Deno.writeTextFile(tmp, text.endsWith("\n") ? text : text + "\n");
    await Deno.rename(tmp, `${outDir}/${name}`);
  }
}

/** Submits every sweep first (the service queues them), then waits for each in turn. */
export async function runSweeps<T extends { label: string; request: CapacityCreateInput }>(
  ctx: StudyContext,
  sweeps: T[],
) {
  sweeps = chosenSweeps(ctx, sweeps);
  const ids: string[] = [];
  for (const s of sweeps) ids.push(await ctx.client.submitSweep(s.label, s.request));
  ctx.log(`${sweeps.length} sweeps submitted`);
  const results = [];
  for (let i = 0; i < sweeps.length; i++) {
    const t0 = performance.now();
    const result = await ctx.client.waitSweep(sweeps[i].label, ids[i]);
    ctx.log(
      `${sweeps[i].label}: capacity ${int(result.capacityBits)} bits ` +
        `(${fmt(result.bitsPerParameter)} bits/param), ${fmt(result.seconds, 0)} s of training` +
        (result.resumedFrom?.length ? " in its last attempt" : "") +
        (performance.now() - t0 < 1500 ? " (done before)" : ""),
    );
    // The request as submitted: reports read its seeds and fleet size.
    results.push({
      ...sweeps[i],
      request: ctx.client.withOverrides(sweeps[i].request),
      id: ids[i],
      result,
    });
  }
  return results;
}

/**
 * "Certificates": per sweep its verdict (with the reasons' codes), how its runs ended
 * (saturated, unstable, budget-exhausted) and the training tokens it spent, so that a reader
 * knows which figures are certified and which are lower bounds.
 */
export function certificateSection(
  sweeps: { label: string; result: Pick<SweepResult, "verdict" | "reasons" | "runs" | "budget"> }[],
): string {
  const count = (r: { runs: SweepResult["runs"] }, status: string) =>
    r.runs.filter((x) => x.certificate.status === status).length;
  const saturated = sweeps.reduce((s, d) => s + count(d.result, "saturated"), 0);
  const runs = sweeps.reduce((s, d) => s + d.result.runs.length, 0);
  const certified = sweeps.filter((d) => d.result.verdict === "certified").length;
  return [
    "## Certificates",
    "",
    `${certified} of ${sweeps.length} sweep verdicts are certified; ${saturated} of ${runs} runs ` +
    "saturated (a gain under the saturation fraction over their last doubling of steps, with " +
    "no drop from their best annealed measurement). A lower-bound verdict says why. unseen: " +
    "the most, over the sweep's runs, that the per-sample measure credits to N sequences the " +
    "model never saw, as a share of the run's memorized bits; clip: the most that its clip " +
    "at 0 adds over the net saving, from training sequences coded longer than uniform (– " +
    "where not measured).",
    "",
    table(
      ["sweep", "verdict", "saturated", "unstable", "budget-exhausted", "tokens", "unseen", "clip"],
      sweeps.map((d) => [
        d.label,
        d.result.verdict +
        (d.result.reasons.length ? ` (${d.result.reasons.map((x) => x.code).join(", ")})` : ""),
        `${count(d.result, "saturated")}/${d.result.runs.length}`,
        count(d.result, "unstable"),
        count(d.result, "budget-exhausted"),
        d.result.budget.tokensSpent.toExponential(2),
        percentShare(d.result.runs, "unseenBits"),
        percentShare(d.result.runs, "clipCreditBits"),
      ]),
    ),
    "",
  ].join("\n");
}

/** "one seed (0)" or "3 seeds (0, 1, 2)", from a request's seeds (a list, or a count n: 0..n-1). */
export function seedsPhrase(seeds: number | readonly number[] | undefined): string {
  const list = Array.isArray(seeds)
    ? seeds
    : Array.from({ length: (seeds as number | undefined) ?? 1 }, (_, i) => i);
  return `${list.length === 1 ? "one seed" : `${list.length} seeds`} (${list.join(", ")})`;
}

/** A run's figure that says how much of its memorized bits the per-sample measure may overstate. */
type Overstatement = "unseenBits" | "clipCreditBits";

/** The run with the largest figure / memorizedBits, and that share; null when none has it. */
export function worstShare(runs: SweepResult["runs"], figure: Overstatement) {
  let worst: { datasetSize: number; share: number } | null = null;
  for (const r of runs) {
    const bits = r[figure];
    if (bits == null || !(r.memorizedBits > 0)) continue;
    const share = bits / r.memorizedBits;
    if (worst === null || share > worst.share) worst = { datasetSize: r.datasetSize, share };
  }
  return worst;
}

/** worstShare's share as a percentage; – when no run measured it. */
function percentShare(runs: SweepResult["runs"], figure: Overstatement): string {
  const worst = worstShare(runs, figure);
  return worst ? `${(100 * worst.share).toFixed(2)}%` : "–";
}

/** The "how it was made" section every report ends with. */
export function provenance(
  ctx: StudyContext,
  extra: string[] = [],
  via = "every sweep went through POST /v1/capacity",
): string {
  return [
    "## How this was made",
    "",
    `- Command: \`deno task experiment ${ctx.study} --scale ${ctx.scale} --precision ` +
    `${ctx.precisions.join(",")}` +
    (ctx.maxSteps === undefined ? "" : ` --max-steps ${ctx.maxSteps}`) +
    (ctx.maxFleetSize === undefined ? "" : ` --max-fleet-size ${ctx.maxFleetSize}`) +
    (ctx.seeds === undefined ? "" : ` --seeds ${ctx.seeds}`) +
    (ctx.only === undefined ? "" : ` --only "${ctx.only.join(",")}"`) + "\`",
    `- Service: ${ctx.client.service.url} (${via})`,
    `- Hardware: ${ctx.hardware}`,
    `- Written: ${new Date().toISOString()}`,
    ...extra.map((e) => `- ${e}`),
    "",
  ].join("\n");
}
