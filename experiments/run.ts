// `deno task experiment <name> [--scale cpu|paper] [--precision fp32,bf16]
//   [--url http://host:port] [--out docs/results] [--alpha 3.6] [--max-steps N]
//   [--max-fleet-size N] [--seeds N] [--token-budget N] [--only A,B]`
//
// Runs a named study through the HTTP API. Without --url it starts the
// service (main.ts) itself, with its store under data/experiments/<study>-<scale>,
// so running the same command again after an interruption picks up the
// sweeps where the service left them. With --url it uses a running service
// (MEMCAP_TOKEN from the environment when that service needs one). The report
// folder is <out>/<study>-<scale>.
import { parseArgs } from "node:util";
import { ExperimentClient } from "./client.ts";
import { remoteService, type Service, startService } from "./service.ts";
import type { Scale, Study } from "./study.ts";
import { capacityGrid } from "./studies/capacity_grid.ts";
import { doubleDescent } from "./studies/double_descent.ts";
import { seqSweep, vocabSweep } from "./studies/a1_sweeps.ts";
import { schedules } from "./studies/schedules.ts";
import { textMemorization } from "./studies/text_memorization.ts";
import { membershipLaw } from "./studies/membership_law.ts";
import { reference } from "./studies/reference.ts";
import { seedSpread } from "./studies/seed_spread.ts";
import { Precision } from "../lib/model/schemas.ts";
import { MAX_CAPACITY_RUNS } from "../lib/capacity/schemas.ts";
import type { Health } from "../routes/health.ts";

export const STUDIES: Study[] = [
  capacityGrid,
  seqSweep,
  vocabSweep,
  doubleDescent,
  schedules,
  textMemorization,
  membershipLaw,
  reference,
  seedSpread,
];

function usage(): string {
  return [
    "usage: deno task experiment <study> [--scale cpu|paper] [--precision fp32,bf16]",
    "         [--url URL] [--out DIR] [--alpha A] [--max-steps N] [--max-fleet-size N]",
    "         [--seeds N] [--token-budget N] [--only A,B]",
    "",
    "studies:",
    ...STUDIES.map((s) => `  ${s.name.padEnd(16)} ${s.summary}`),
    "",
    "--scale      cpu (default): small V, S and models, about an hour or less on 2 CPU cores",
    "             with the software adapter; paper: the paper's V=2048, S=64 grid, for GPUs",
    "--precision  comma-separated fp32, bf16 (f32 master weights), bf16-pure (capacity-grid",
    "             measures each; other studies use the first); default fp32,bf16 for",
    "             capacity-grid, fp32 otherwise",
    "--url        use a running service instead of starting one (MEMCAP_TOKEN for its token)",
    "--out        reports go to <out>/<study>-<scale> (default docs/results)",
    "--alpha      bits per parameter for seq-sweep/vocab-sweep instead of capacity-grid's",
    "--max-steps  training budget per run instead of the scale's (capacity sweeps only); the",
    "             state and report folders get a -<N>steps suffix, so budgets do not mix",
    "--max-fleet-size  every sweep's fleet size instead of the study's (1: each model alone,",
    "             to compare with fleets); the folders get a -fleet<N> suffix",
    "--seeds      capacity-grid, reference: seeds 0..N-1 per dataset size instead of one seed;",
    "             the folders get a -seeds<N> suffix",
    "--token-budget  reference: the training tokens each sweep may spend until certified",
    "             instead of 4× its first pass (e.g. 2e9); the same folders, so a sweep an",
    "             earlier, smaller budget stopped is extended from its kept runs, not retrained",
    "--only       capacity-grid, reference: run only the sweeps whose label contains one of these",
    '             comma-separated strings, e.g. "L1 d32,L1 d64" (the report covers just those)',
  ].join("\n");
}

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      scale: { type: "string", default: "cpu" },
      precision: { type: "string" },
      url: { type: "string" },
      out: { type: "string", default: "docs/results" },
      alpha: { type: "string" },
      "max-steps": { type: "string" },
      "max-fleet-size": { type: "string" },
      seeds: { type: "string" },
      "token-budget": { type: "string" },
      only: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const study = STUDIES.find((s) => s.name === positionals[0]);
  if (values.help || !study || positionals.length !== 1) {
    if (!values.help && positionals.length === 1) {
      console.error(`unknown study "${positionals[0]}"; the studies are listed below`);
    } else if (!values.help) {
      console.error("name one study; the studies are listed below");
    }
    console.log(usage());
    return values.help ? 0 : 2;
  }
  const scale = values.scale as Scale;
  if (scale !== "cpu" && scale !== "paper") {
    console.error(`--scale: ${values.scale} is not cpu or paper`);
    return 2;
  }
  const precisions = (values.precision ?? (study === capacityGrid ? "fp32,bf16" : "fp32"))
    .split(",").map((p) => Precision.parse(p.trim()));
  const alpha = values.alpha === undefined ? undefined : Number(values.alpha);
  if (alpha !== undefined && !(alpha > 0)) {
    console.error(`--alpha: ${values.alpha} is not a positive number`);
    return 2;
  }
  const maxSteps = values["max-steps"] === undefined ? undefined : Number(values["max-steps"]);
  if (maxSteps !== undefined && !(Number.isInteger(maxSteps) && maxSteps > 0)) {
    console.error(`--max-steps: ${values["max-steps"]} is not a positive integer`);
    return 2;
  }
  if (maxSteps !== undefined && study.requests(scale, precisions).length === 0) {
    console.error(`--max-steps: ${study.name} runs no capacity sweeps`);
    return 2;
  }
  // The other studies fit or compare all their sweeps together.
  if (values.only !== undefined && study !== capacityGrid && study !== reference) {
    console.error(
      `--only: ${study.name} runs its sweeps as one set; only capacity-grid and reference take it`,
    );
    return 2;
  }
  const fleetArg = values["max-fleet-size"];
  const maxFleetSize = fleetArg === undefined ? undefined : Number(fleetArg);
  if (maxFleetSize !== undefined && !(Number.isInteger(maxFleetSize) && maxFleetSize > 0)) {
    console.error(`--max-fleet-size: ${fleetArg} is not a positive integer`);
    return 2;
  }
  if (maxFleetSize !== undefined && study.requests(scale, precisions).length === 0) {
    console.error(`--max-fleet-size: ${study.name} runs no capacity sweeps`);
    return 2;
  }
  const seeds = values.seeds === undefined ? undefined : Number(values.seeds);
  // A sweep trains at most MAX_CAPACITY_RUNS models (sizes × seeds); the service says so.
  if (
    seeds !== undefined && !(Number.isInteger(seeds) && seeds >= 1 && seeds <= MAX_CAPACITY_RUNS)
  ) {
    console.error(`--seeds: ${values.seeds} is not an integer in 1..${MAX_CAPACITY_RUNS}`);
    return 2;
  }
  // The other studies compare one run per dataset size, or set their own seeds.
  if (seeds !== undefined && study !== capacityGrid && study !== reference) {
    console.error(`--seeds: only capacity-grid and reference take it, not ${study.name}`);
    return 2;
  }
  const budgetArg = values["token-budget"];
  const tokenBudget = budgetArg === undefined ? undefined : Number(budgetArg);
  if (tokenBudget !== undefined && !(Number.isSafeInteger(tokenBudget) && tokenBudget > 0)) {
    console.error(`--token-budget: ${budgetArg} is not a positive integer`);
    return 2;
  }
  if (
    tokenBudget !== undefined &&
    !study.requests(scale, precisions).some((s) => s.request.until === "certified")
  ) {
    console.error(`--token-budget: ${study.name} runs no sweeps with until: "certified"`);
    return 2;
  }
  const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
  const tag = `${study.name}-${scale}` +
    (maxSteps === undefined ? "" : `-${maxSteps}steps`) +
    (maxFleetSize === undefined ? "" : `-fleet${maxFleetSize}`) +
    (seeds === undefined ? "" : `-seeds${seeds}`);
  // No suffix for --token-budget: a larger budget goes on with the sweeps a smaller one stopped.
  const stateDir = `data/experiments/${tag}`;
  const service: Service = values.url
    ? remoteService(values.url, Deno.env.get("MEMCAP_TOKEN") || undefined)
    : await startService(`${stateDir}/store`, (l) => /listening|gpu:/.test(l) && log(l));
  const stop = () => void service.close().finally(() => Deno.exit(130));
  Deno.addSignalListener("SIGINT", stop);
  try {
    await Deno.mkdir(stateDir, { recursive: true });
    const client = await ExperimentClient.open(service, `${stateDir}/sweeps.json`, log, {
      maxFleetSize,
      seeds,
      tokenBudget,
    });
    const hardware = describeHardware(await client.request<Health>("GET", "/v1/health"));
    const outDir = `${values.out}/${tag}`;
    log(`${study.name} at ${scale} scale (${precisions.join(", ")}) → ${outDir}`);
    await study.run({
      client,
      scale,
      precisions,
      outDir,
      resultsDir: values.out!,
      log,
      alpha,
      maxSteps,
      maxFleetSize,
      seeds,
      only: values.only?.split(",").map((s) => s.trim()).filter((s) => s.length > 0),
      study: study.name,
      hardware,
    });
    log(`report: ${outDir}/report.md`);
    return 0;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    await service.close();
  }
}

/** The adapter a report's numbers come from, as its provenance names it. */
export function describeHardware(h: Health): string {
  const gpu = h.gpu
    ? `${h.gpu.description} (${h.gpu.backend}${h.gpu.software ? ", software adapter" : ""})`
    : `no GPU adapter (${h.error ?? "unknown"})`;
  return `${gpu}; memcap ${h.version}`;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
