// Training throughput: the reference config against PyTorch (and the bound
// its fastest kernel puts on that ratio, bench/ceiling.ts), and a fleet of 8
// small models against the same 8 trained one after another.
import { describeAdapter, getGpu } from "../gpu/device.ts";
import { GptFleet } from "../gpu/fleet/gpt_fleet.ts";
import type { ModelConfig } from "../lib/model/schemas.ts";
import { initialParameters } from "../lib/model/init.ts";
import { Rng } from "../lib/prng.ts";
import { fastestMatmul } from "./ceiling.ts";
import { REFERENCE_CASES } from "./matmul_bench.ts";
import { runTorch, torchAvailable, torchShapeArgs } from "./peers.ts";

/** Model FLOPs of one training step (forward + backward = 3x the forward matmuls). */
export function trainFlopsPerStep(c: ModelConfig, batch: number, positions = c.seqLen): number {
  const BT = batch * positions, d = c.dModel;
  const matmul = 2 * BT * (c.layers * 12 * d * d + c.vocabSize * d);
  // Causal attention: scores and weighted sum, about half of the T x T square.
  const attention = 2 * 2 * batch * c.layers * positions * positions * d / 2;
  return 3 * (matmul + attention);
}

/** GFLOP/s of training `c` at `batch` at the given steps per second. */
function trainGflops(c: ModelConfig, batch: number, stepsPerSecond: number): number {
  return (stepsPerSecond * trainFlopsPerStep(c, batch)) / 1e9;
}

const ADAM = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };

/** Steps/s of a fleet of K models on random tokens, after warm-up steps. */
export async function timeFleet(
  c: ModelConfig,
  K: number,
  batch: number,
  steps: number,
  warmup = 3,
) {
  const fleet = await GptFleet.create(await getGpu(), {
    config: c,
    fleetSize: K,
    batchSize: batch,
    precision: "fp32",
    optimizer: "adamw",
    training: true,
  });
  try {
    const rng = new Rng(1);
    for (let z = 0; z < K; z++) fleet.setParameters(z, initialParameters(c, z));
    const tokens = new Uint32Array(K * batch * c.seqLen).map(() => rng.int(c.vocabSize));
    const hyper = Array.from({ length: K }, () => ADAM);
    for (let i = 0; i < warmup; i++) fleet.trainStep(tokens, hyper);
    await fleet.meanLoss();
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) fleet.trainStep(tokens, hyper);
    const loss = await fleet.meanLoss(); // waits for the GPU
    const seconds = (performance.now() - t0) / 1000;
    if (!Number.isFinite(loss[0])) throw new Error("bench: loss is not finite");
    return { seconds, stepsPerSecond: steps / seconds };
  } finally {
    fleet.destroy();
  }
}

export const REFERENCE: ModelConfig = {
  vocabSize: 2048,
  seqLen: 64,
  layers: 2,
  dModel: 64,
  heads: 4,
};
export const FLEET_MEMBER: ModelConfig = {
  vocabSize: 64,
  seqLen: 16,
  layers: 1,
  dModel: 32,
  heads: 4,
};

/**
 * Timed steps per measurement: 20 suits the software adapter; a GPU finishes
 * 20 steps in milliseconds, so bench/gpu/check.sh sets MEMCAP_BENCH_STEPS
 * higher there (the PyTorch peer runs at least as many).
 */
function benchSteps(): number {
  const raw = Deno.env.get("MEMCAP_BENCH_STEPS");
  const n = raw === undefined ? 20 : Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`MEMCAP_BENCH_STEPS: ${raw} is not a positive integer`);
  }
  return n;
}

/**
 * The paper-scale grid's first model (V 2048, S 64, 1 layer, d 32) at the
 * paper's batch of 2048, against the same model in PyTorch: the training
 * speed of a `--scale paper` study. For GPUs (a step is 131,072 tokens).
 */
export async function trainPaperBench(
  config: ModelConfig,
  batch: number,
  opts: { steps?: number } = {},
) {
  const steps = opts.steps ?? benchSteps();
  const gpu = await getGpu();
  console.log(`adapter: ${describeAdapter(gpu.info)}, ${JSON.stringify(config)}`);
  const run = await timeFleet(config, 1, batch, steps);
  const tokens = run.stepsPerSecond * batch * config.seqLen;
  const gflops = trainGflops(config, batch, run.stepsPerSecond);
  console.log(`memcap train-paper: ${tokens.toFixed(0)} tokens/s (${gflops.toFixed(1)} GFLOP/s)`);
  await torchPeer("train-paper", tokens, config, batch, steps);
}

/**
 * PyTorch training the same model at the same batch, and the ratio (when
 * installed). Returns PyTorch's tokens/s, or undefined without it.
 */
async function torchPeer(
  what: string,
  memcapTokens: number,
  c: ModelConfig,
  batch: number,
  steps: number,
): Promise<number | undefined> {
  if (!(await torchAvailable())) {
    console.log(`pytorch ${what}: skipped (apt-get install python3-torch)`);
    return undefined;
  }
  const t = await runTorch([
    "--mode=train",
    ...torchShapeArgs(c),
    `--batch=${batch}`,
    `--steps=${Math.max(30, steps)}`,
    "--warmup=5",
    "--threads=2",
  ]);
  const torchTokens = Number(t.tokens_per_s);
  const on = `torch ${t.torch}, ` +
    (t.device === "cpu" || t.device === undefined ? `blas: ${t.blas}` : `${t.device}`);
  console.log(`pytorch ${what}: ${torchTokens.toFixed(0)} tokens/s (${on})`);
  console.log(`ratio ${what}: ${(memcapTokens / torchTokens).toFixed(2)}`);
  return torchTokens;
}

/**
 * The most the reference step could reach here: its fastest kernel's rate
 * (bench/ceiling.ts) over PyTorch's whole-step rate bounds the train ratio
 * from above.
 */
async function referenceCeiling(torchGflops: number | undefined) {
  const best = await fastestMatmul(REFERENCE_CASES);
  console.log(
    `memcap fastest-reference-matmul: ${best.gflops.toFixed(1)} GFLOP/s (${best.name}, alone)`,
  );
  if (torchGflops === undefined) return;
  console.log(`pytorch train-reference-gflops: ${torchGflops.toFixed(1)} GFLOP/s`);
  console.log(`bound train-reference: ${(best.gflops / torchGflops).toFixed(2)}`);
}

export async function trainBench(opts: { steps?: number } = {}) {
  const batch = 64, steps = opts.steps ?? benchSteps();
  const gpu = await getGpu();
  console.log(`adapter: ${describeAdapter(gpu.info)}`);
  const ref = await timeFleet(REFERENCE, 1, batch, steps);
  const tokens = ref.stepsPerSecond * batch * REFERENCE.seqLen;
  const gflops = trainGflops(REFERENCE, batch, ref.stepsPerSecond);
  console.log(`memcap train-reference: ${tokens.toFixed(0)} tokens/s`);
  console.log(`memcap train-reference-gflops: ${gflops.toFixed(1)} GFLOP/s`);
  const torchTokens = await torchPeer("train-reference", tokens, REFERENCE, batch, steps);
  await referenceCeiling(
    torchTokens === undefined
      ? undefined
      : trainGflops(REFERENCE, batch, torchTokens / (batch * REFERENCE.seqLen)),
  );

  // Fleet of 8 vs the same 8 one after another.
  const K = 8, fb = 32, fsteps = steps * 10;
  const fleet = await timeFleet(FLEET_MEMBER, K, fb, fsteps);
  let sequentialSeconds = 0;
  for (let z = 0; z < K; z++) {
    sequentialSeconds += (await timeFleet(FLEET_MEMBER, 1, fb, fsteps)).seconds;
  }
  const fleetTokens = (K * fsteps * fb * FLEET_MEMBER.seqLen) / fleet.seconds;
  const seqTokens = (K * fsteps * fb * FLEET_MEMBER.seqLen) / sequentialSeconds;
  console.log(`memcap fleet-8: ${fleetTokens.toFixed(0)} tokens/s`);
  console.log(`memcap sequential-8: ${seqTokens.toFixed(0)} tokens/s`);
  console.log(`ratio fleet-8/sequential-8: ${(fleetTokens / seqTokens).toFixed(2)}`);
}
