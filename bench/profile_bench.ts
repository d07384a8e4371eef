// Per-kernel time of one training step (each op's own cost, see below). A tool for finding the slow kernel, not a
// benchmark with a target.
import { getGpu } from "../gpu/device.ts";
import { GptFleet } from "../gpu/gpt_fleet.ts";
import { Kernels, type Op } from "../gpu/kernels.ts";
import type { ModelConfig } from "../lib/model/config.ts";
import { initialParameters } from "../lib/model/init.ts";
import { Rng } from "../lib/prng.ts";

export async function profileStep(c: ModelConfig, K: number, batch: number, reps = 20) {
  const gpu = await getGpu();
  const fleet = await GptFleet.create(gpu, {
    config: c,
    fleetSize: K,
    batchSize: batch,
    precision: "fp32",
    optimizer: "adamw",
    training: true,
  });
  try {
    for (let z = 0; z < K; z++) fleet.setParameters(z, initialParameters(c, z));
    const rng = new Rng(1);
    const tokens = new Uint32Array(K * batch * c.seqLen).map(() => rng.int(c.vocabSize));
    const hyper = Array.from({ length: K }, () => ({
      lr: 1e-3,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0,
    }));
    fleet.trainStep(tokens, hyper);
    await fleet.meanLoss();
    // Each op dispatched `few` and then `many` times, one submit each: the
    // difference divided by (many - few) is the op's own cost, free of the
    // ~10 ms a submit and its sync cost on llvmpipe.
    const few = 2, many = few + reps;
    const timeOp = async (op: Op, n: number) => {
      await gpu.device.queue.onSubmittedWorkDone();
      const t0 = performance.now();
      const enc = gpu.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      Kernels.encode(pass, Array(n).fill(op));
      pass.end();
      gpu.device.queue.submit([enc.finish()]);
      await gpu.device.queue.onSubmittedWorkDone();
      return performance.now() - t0;
    };
    const times = new Map<string, number>();
    let total = 0;
    for (const op of fleet.stepOps()) {
      const ms = Math.max(0, (await timeOp(op, many)) - (await timeOp(op, few))) / reps;
      const key = op.label.replace(/\.\d+/, "");
      times.set(key, (times.get(key) ?? 0) + ms);
      total += ms;
    }
    console.log(`profile ${JSON.stringify(c)} fleet ${K} batch ${batch}: ${total.toFixed(2)} ms`);
    for (const [k, v] of [...times].sort((a, b) => b[1] - a[1])) {
      console.log(`  ${k.padEnd(24)} ${v.toFixed(3)} ms`);
    }
  } finally {
    fleet.destroy();
  }
}
