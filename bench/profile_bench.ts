// Per-kernel time of one training step, and beside it the whole step's own
// time (all ops in one pass, as training runs them). A tool for finding the
// slow kernel, not a benchmark with a target.
//
// Where the device has timestamp queries, the step's ops run in order, each
// in its own compute pass between two timestamps: GPU time per op, in the
// real sequence (caches and clocks as in training). Elsewhere each op is
// dispatched `few` and then `many` times on its own, one submit each, and
// the difference divided by (many - few) is its cost, free of the ~10 ms a
// submit and its sync cost on llvmpipe. On an H100 that second method
// summed to 2-3x the real step (one op repeated in short bursts, each burst
// from an idle GPU), so it is the fallback only.
import { getGpu } from "../gpu/device.ts";
import { GptFleet } from "../gpu/fleet/gpt_fleet.ts";
import { Kernels, type Op } from "../gpu/kernels.ts";
import type { ModelConfig } from "../lib/model/schemas.ts";
import { initialParameters } from "../lib/model/init.ts";
import { Rng } from "../lib/prng.ts";

/**
 * A training fleet of this shape after one real step (random tokens), so
 * its buffers hold a step's values when its ops are timed one by one.
 */
export async function fleetAfterOneStep(c: ModelConfig, K: number, batch: number) {
  const fleet = await GptFleet.create(await getGpu(), {
    config: c,
    fleetSize: K,
    batchSize: batch,
    precision: "fp32",
    optimizer: "adamw",
    training: true,
  });
  for (let z = 0; z < K; z++) fleet.setParameters(z, initialParameters(c, z));
  const rng = new Rng(1);
  const tokens = new Uint32Array(K * batch * c.seqLen).map(() => rng.int(c.vocabSize));
  const hyper = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
  fleet.trainStep(tokens, Array(K).fill(hyper));
  await fleet.meanLoss();
  return fleet;
}

export async function profileStep(c: ModelConfig, K: number, batch: number, reps = 20) {
  const gpu = await getGpu();
  const fleet = await fleetAfterOneStep(c, K, batch);
  try {
    const ops = fleet.stepOps();
    const stepMs = await wholeStepMs(gpu.device, ops, reps);
    const timestamps = gpu.device.features.has("timestamp-query");
    const perOp = timestamps
      ? await timestampedMs(gpu.device, ops, reps)
      : await repeatedMs(gpu.device, ops, reps);
    const times = new Map<string, number>();
    let total = 0;
    ops.forEach((op, i) => {
      const key = op.label.replace(/\.\d+/, "");
      times.set(key, (times.get(key) ?? 0) + perOp[i]);
      total += perOp[i];
    });
    console.log(
      `profile ${JSON.stringify(c)} fleet ${K} batch ${batch}: ${total.toFixed(2)} ms in ` +
        `kernels (${timestamps ? "timestamps" : "repeated dispatches"}), ` +
        `${stepMs.toFixed(2)} ms per whole step`,
    );
    for (const [k, v] of [...times].sort((a, b) => b[1] - a[1])) {
      console.log(`  ${k.padEnd(24)} ${v.toFixed(3)} ms`);
    }
  } finally {
    fleet.destroy();
  }
}

async function submitAndWait(device: GPUDevice, encode: (enc: GPUCommandEncoder) => void) {
  const enc = device.createCommandEncoder();
  encode(enc);
  device.queue.submit([enc.finish()]);
  await device.queue.onSubmittedWorkDone();
}

/** Every op in one pass, `reps` steps in one submit: ms per step. */
async function wholeStepMs(device: GPUDevice, ops: Op[], reps: number): Promise<number> {
  await device.queue.onSubmittedWorkDone();
  const t0 = performance.now();
  await submitAndWait(device, (enc) => {
    const pass = enc.beginComputePass();
    for (let r = 0; r < reps; r++) Kernels.encode(pass, ops);
    pass.end();
  });
  return (performance.now() - t0) / reps;
}

/** Median over `reps` steps of each op's time between its pass's two timestamps. */
async function timestampedMs(device: GPUDevice, ops: Op[], reps: number): Promise<number[]> {
  const count = 2 * ops.length;
  const querySet = device.createQuerySet({ type: "timestamp", count });
  const resolved = device.createBuffer({
    size: 8 * count,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  const staging = device.createBuffer({
    size: 8 * count,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const samples: number[][] = ops.map(() => []);
  try {
    for (let r = 0; r < reps; r++) {
      await submitAndWait(device, (enc) => {
        ops.forEach((op, i) => {
          const pass = enc.beginComputePass({
            timestampWrites: {
              querySet,
              beginningOfPassWriteIndex: 2 * i,
              endOfPassWriteIndex: 2 * i + 1,
            },
          });
          Kernels.encode(pass, [op]);
          pass.end();
        });
        enc.resolveQuerySet(querySet, 0, count, resolved, 0);
        enc.copyBufferToBuffer(resolved, 0, staging, 0, 8 * count);
      });
      await staging.mapAsync(GPUMapMode.READ);
      const ns = new BigUint64Array(staging.getMappedRange().slice(0));
      staging.unmap();
      ops.forEach((_, i) => samples[i].push(Number(ns[2 * i + 1] - ns[2 * i]) / 1e6));
    }
  } finally {
    querySet.destroy();
    resolved.destroy();
    staging.destroy();
  }
  return samples.map((s) => s.sort((a, b) => a - b)[Math.floor(s.length / 2)]);
}

/** Each op alone: (time of `many` dispatches - time of `few`) / (many - few). */
async function repeatedMs(device: GPUDevice, ops: Op[], reps: number): Promise<number[]> {
  const few = 2, many = few + reps;
  const timeOp = async (op: Op, n: number) => {
    await device.queue.onSubmittedWorkDone();
    const t0 = performance.now();
    await submitAndWait(device, (enc) => {
      const pass = enc.beginComputePass();
      Kernels.encode(pass, Array(n).fill(op));
      pass.end();
    });
    return performance.now() - t0;
  };
  const out: number[] = [];
  for (const op of ops) {
    out.push(Math.max(0, (await timeOp(op, many)) - (await timeOp(op, few))) / reps);
  }
  return out;
}
