// `deno task bench [name...]`: prints one line per measurement,
//   memcap <what>: <N> tokens/s | pytorch <what>: <N> tokens/s | ratio <what>: <x>
//   | bound <what>: <x> (the best that ratio could be here, bench/ceiling.ts)
// so scripts can read it. Names: train (default), http (likelihood over HTTP vs the
// engine, health latency during training), load (50 concurrent clients for 30 s during
// training), load-hostile (the same while 2,000 idle or slowloris connections are held),
// profile (per-kernel times), profile-paper (per-kernel times of the paper-scale
// grid's first model at batch 2048: for GPUs, beyond a software adapter's limits), train-paper
// (that model's training speed against PyTorch: for GPUs too), sweep (a 5-point capacity sweep
// in fleets vs PyTorch training the five models one after another), extrapolation (out-of-sample
// check of the asymptote fit on the committed run curves, bench/extrapolation_check.ts),
// verdicts (today's certificate and verdict rules applied to the committed capacity reports),
// queue (the job queue on PostgreSQL with 3 nodes against Deno KV's, bench/queue_bench.ts),
// reference-cell (Table 1's 1-layer d=32 cell in memcap and PyTorch: for GPUs,
// bench/reference_cell.ts).
import { FLEET_MEMBER, REFERENCE, trainBench, trainPaperBench } from "./train_bench.ts";
import { profileStep } from "./profile_bench.ts";
import { httpBench } from "./http_bench.ts";
import { loadBench } from "./load_bench.ts";
import { sweepBench } from "./sweep_bench.ts";
import { extrapolationCheck } from "./extrapolation_check.ts";
import { reportVerdicts } from "./report_verdicts.ts";
import { queueBench } from "./queue_bench.ts";
import { referenceCellBench } from "./reference_cell.ts";
import { gridShapes } from "../experiments/studies/capacity_grid.ts";
import { trainingFor } from "../experiments/study.ts";

const benches: Record<string, () => Promise<void>> = {
  train: () => trainBench(),
  http: () => httpBench(),
  load: () => loadBench(),
  "load-hostile": () => loadBench({ hostile: 2000 }),
  sweep: () => sweepBench(),
  extrapolation: () => extrapolationCheck(),
  verdicts: () => Promise.resolve(reportVerdicts()),
  queue: () => queueBench(),
  "reference-cell": () => referenceCellBench(),
  profile: async () => {
    await profileStep(REFERENCE, 1, 64);
    await profileStep(FLEET_MEMBER, 1, 32);
    await profileStep(FLEET_MEMBER, 8, 32);
  },
  "profile-paper": () =>
    profileStep(gridShapes("paper")[0], 1, trainingFor("paper")!.batchSize!, 5),
  "train-paper": () => trainPaperBench(gridShapes("paper")[0], trainingFor("paper")!.batchSize!),
};

const names = Deno.args.length > 0 ? Deno.args : ["train"];
for (const name of names) {
  const run = benches[name];
  if (!run) {
    console.error(`unknown bench ${name}; known: ${Object.keys(benches).join(", ")}`);
    Deno.exit(2);
  }
  console.log(`== bench ${name}`);
  try {
    await run();
  } catch (e) {
    // The paper-scale benches exceed a software adapter's buffer limits: say so in one line.
    if (!(e instanceof RangeError && name.endsWith("-paper"))) throw e;
    console.error(`bench ${name} is for GPUs: ${e.message}`);
    Deno.exit(2);
  }
}
