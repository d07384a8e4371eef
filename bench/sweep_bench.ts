// `deno task bench sweep`: the workload capacity studies are made of. A
// 5-point capacity sweep of the 1-layer d=16 model (V=64, S=16, batch 128,
// cosine with 100 warm-up steps, the same step count for every point) run by
// the capacity job itself (gpu/jobs/capacity_sweep.ts, in this process,
// fleets of 5), against the same five trainings in PyTorch one after another.
// Prints `ratio sweep: <memcap seconds / pytorch seconds>` (target ≤ 0.5),
// then `bound sweep: <x>`, the least that ratio could be on this adapter
// while the step's fastest kernel runs as it does (bench/ceiling.ts).
//
// MEMCAP_BENCH_SWEEP_STEPS sets the steps per point (default 20000, as the
// issue states; both sides train the same number, so a shorter run gives the
// same ratio in a fraction of the time).
import { describeAdapter, getGpu } from "../gpu/device.ts";
import { GpuEngine } from "../gpu/engine.ts";
import { capacitySweepJob } from "../gpu/jobs/capacity_sweep.ts";
import { memoryJobHost } from "../lib/jobs/memory_host.ts";
import { CapacityCreateRequest, type SweepProgress } from "../lib/capacity/schemas.ts";
import { runTorch, torchAvailable, torchShapeArgs } from "./peers.ts";
import { fastestStepKernel } from "./ceiling.ts";
import { trainFlopsPerStep } from "./train_bench.ts";

const CONFIG = { vocabSize: 64, seqLen: 16, layers: 1, dModel: 16, heads: 2 };
/** 184·1.5^i: around the 1-layer d=16 model's plateau (docs/method.md), as pytorch_gpt.py's default. */
const SIZES = [0, 1, 2, 3, 4].map((i) => Math.round(184 * 1.5 ** i));
const BATCH = 128;

export async function sweepBench() {
  const steps = Number(Deno.env.get("MEMCAP_BENCH_SWEEP_STEPS") ?? 20000);
  if (!(Number.isInteger(steps) && steps > 100)) {
    throw new RangeError(`MEMCAP_BENCH_SWEEP_STEPS: ${steps} is not an integer > 100`);
  }
  const gpu = await getGpu();
  console.log(`adapter: ${describeAdapter(gpu.info)}`);
  console.log(
    `sweep: 1-layer d=16, V=64, S=16, sizes ${SIZES.join(",")}, batch ${BATCH}, ` +
      `${steps} cosine steps per point`,
  );
  const input = CapacityCreateRequest.parse({
    config: CONFIG,
    datasetSizes: SIZES,
    seeds: [0],
    testSequences: 0,
    maxFleetSize: SIZES.length,
    training: {
      batchSize: BATCH,
      maxSteps: steps,
      evalEvery: steps,
      optimizer: { type: "adamw", lr: 1e-2 },
      schedule: { kind: "cosine", warmupSteps: 100 },
      // Every point trains the whole budget, as the PyTorch side does.
      saturation: { fraction: 1e-9, minSteps: steps + 1 },
    },
  });
  const engine = new GpuEngine(getGpu);
  const tokens = SIZES.length * steps * BATCH * CONFIG.seqLen;
  const timed = async (maxFleetSize: number) => {
    const t0 = performance.now();
    const result = await capacitySweepJob(
      engine,
      memoryJobHost<CapacityCreateRequest, SweepProgress>({ ...input, maxFleetSize }),
    );
    return { seconds: (performance.now() - t0) / 1000, result };
  };
  const fleet = await timed(SIZES.length);
  const seconds = fleet.seconds;
  console.log(
    `memcap sweep: ${seconds.toFixed(1)} s (${(tokens / seconds).toFixed(0)} tokens/s, ` +
      `one fleet of ${SIZES.length}, capacity ${fleet.result.capacityBits.toFixed(0)} bits)`,
  );
  const alone = await timed(1);
  console.log(
    `memcap sweep-one-by-one: ${alone.seconds.toFixed(1)} s ` +
      `(${(tokens / alone.seconds).toFixed(0)} tokens/s, fleets of 1)`,
  );
  console.log(`ratio sweep-fleet-vs-one-by-one: ${(seconds / alone.seconds).toFixed(2)}`);
  if (!(await torchAvailable())) {
    console.log("pytorch sweep: skipped (apt-get install python3-torch)");
    return;
  }
  const t = await runTorch([
    "--mode=sweep",
    ...torchShapeArgs(CONFIG),
    `--batch=${BATCH}`,
    `--steps=${steps}`,
    `--points=${SIZES.length}`,
    `--sizes=${SIZES.join(",")}`,
    "--lr=0.01",
    "--threads=2",
  ]);
  const torchSeconds = Number(t.seconds);
  console.log(
    `pytorch sweep: ${torchSeconds.toFixed(1)} s (${Number(t.tokens_per_s).toFixed(0)} ` +
      `tokens/s, one model after another, ${t.device ?? "cpu"})`,
  );
  console.log(`ratio sweep: ${(seconds / torchSeconds).toFixed(2)}`);
  // The least the fleet could take here: its training FLOPs (the positions
  // that predict a token, gpu/memory_plan.ts positionsOf) at the rate of the
  // step's fastest kernel (bench/ceiling.ts), evaluation not counted.
  const best = await fastestStepKernel(CONFIG, SIZES.length, BATCH);
  const flops = trainFlopsPerStep(CONFIG, BATCH, CONFIG.seqLen - 1);
  const floorSeconds = (SIZES.length * steps * flops) / (best.gflops * 1e9);
  console.log(
    `memcap fastest-sweep-kernel: ${best.gflops.toFixed(1)} GFLOP/s (${best.name}, alone; ` +
      `the fleet's ${steps} steps at that rate: ${floorSeconds.toFixed(1)} s)`,
  );
  console.log(`bound sweep: ${(floorSeconds / torchSeconds).toFixed(2)}`);
}
