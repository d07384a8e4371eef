// Which restart schedule keeps a capacity-limited model memorizing over long
// training (issue 21's recipe search). One fleet, one uniform dataset, the same
// initial weights and batch order for every model; only the learning-rate
// schedule differs. Memorized bits are measured at the cycle ends 625·2^k,
// where every restart schedule is annealed (the single cosine only at its end).
//
//   deno run -A bench/restart_recipes.ts [N=500] [steps=40000] [out.jsonl]
//
// Prints one JSON line per measurement (and appends it to out.jsonl when
// given). Not a `deno task bench` name: at 40,000 steps it takes most of an
// hour on a 2-core CPU.
import { getGpu } from "../gpu/device.ts";
import { GptFleet, type StepHyper } from "../gpu/fleet/gpt_fleet.ts";
import { fleetSequenceNll } from "../gpu/likelihood.ts";
import { memorizedBits } from "../gpu/jobs/train_run.ts";
import { generateUniform } from "../lib/datasets/uniform.ts";
import { uniformSequenceBits } from "../lib/memorization/memorization.ts";
import { initialParameters } from "../lib/model/init.ts";
import { BatchSampler, gatherSequences } from "../lib/training/batches.ts";
import { learningRate } from "../lib/training/schedule.ts";
import { Schedule } from "../lib/training/schemas.ts";

const N = Number(Deno.args[0] ?? 500);
const STEPS = Number(Deno.args[1] ?? 40_000);
const OUT = Deno.args[2];
// The reference study's shape and recipe (experiments/studies/reference.ts).
const config = { vocabSize: 64, seqLen: 16, layers: 1, dModel: 16, heads: 2 };
const BATCH = 128, LR = 1e-2, FIRST_CYCLE = 625;

const restarts = (fields: Partial<Schedule>) =>
  Schedule.parse({
    kind: "cosine-restarts",
    warmupSteps: 100,
    firstCycleSteps: FIRST_CYCLE,
    ...fields,
  });
const recipes: [string, Schedule][] = [
  ["restarts at the full peak", restarts({})],
  ["restarts, 10% re-warmup", restarts({ restartWarmupFraction: 0.1 })],
  ["restarts, peak x0.5 per cycle", restarts({ restartPeakDecay: 0.5 })],
  [
    "restarts, peak x0.7 per cycle, 10% re-warmup",
    restarts({ restartPeakDecay: 0.7, restartWarmupFraction: 0.1 }),
  ],
  [`single cosine to ${STEPS}`, Schedule.parse({ kind: "cosine", warmupSteps: 100 })],
];

const K = recipes.length, S = config.seqLen;
const fleet = await GptFleet.create(await getGpu(), {
  config,
  fleetSize: K,
  batchSize: BATCH,
  precision: "fp32",
  optimizer: "adamw",
  training: true,
});
const data = generateUniform({ vocabSize: config.vocabSize, seqLen: S, count: N, seed: 7 });
for (let z = 0; z < K; z++) fleet.setParameters(z, initialParameters(config, 0, "fp32"));
const samplers = recipes.map(() => new BatchSampler(N, BATCH, 11));
const batch = new Uint32Array(K * BATCH * S);
const uniformBits = uniformSequenceBits(S, config.vocabSize);
const measureAt = new Set<number>();
for (let t = FIRST_CYCLE; t <= STEPS; t *= 2) measureAt.add(t);
const t0 = performance.now();
for (let step = 1; step <= STEPS; step++) {
  for (let z = 0; z < K; z++) {
    gatherSequences(data.tokens, S, samplers[z].next(), batch, z * BATCH * S);
  }
  const hyper: StepHyper[] = recipes.map(([, schedule]) => ({
    lr: learningRate(schedule, LR, step, STEPS),
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 0,
  }));
  fleet.trainStep(batch, hyper);
  if (measureAt.has(step)) {
    const nll = await fleetSequenceNll(fleet, recipes.map(() => data.tokens));
    const line = JSON.stringify({
      N,
      step,
      seconds: Math.round((performance.now() - t0) / 1000),
      bits: recipes.map(([name], z) => [name, Math.round(memorizedBits(nll[z].bits, uniformBits))]),
    });
    console.log(line);
    if (OUT) await Deno.writeTextFile(OUT, line + "\n", { append: true });
  } else if (step % 200 === 0) {
    await fleet.meanLoss(); // a read-back now and then keeps the queue of GPU work short
  }
}
fleet.destroy();
