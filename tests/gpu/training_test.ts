// Training end to end on the GPU: memorizing a handful of random sequences,
// the exact full-batch SGD update, bf16 rounding (both modes; tests/gpu/bf16_test.ts
// tells them apart), fleets vs single models,
// and refusal of bad shapes before any GPU work.
import assert from "node:assert/strict";
import { getGpu } from "../../gpu/device.ts";
import { GptFleet } from "../../gpu/fleet/gpt_fleet.ts";
import { sequenceNll } from "../../gpu/likelihood.ts";
import { trainFleet } from "../../gpu/trainer.ts";
import type { ModelConfig } from "../../lib/model/schemas.ts";
import { initialParameters } from "../../lib/model/init.ts";
import { bf16Round } from "../../lib/bf16.ts";
import { Rng } from "../../lib/prng.ts";
import { cpuLossAndGrad } from "../../lib/model/gpt_reference.ts";
import { noisyParams, randomTokens } from "./helpers.ts";

const tiny: ModelConfig = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 16, heads: 2 };
const adam = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };

Deno.test("a tiny model memorizes a handful of random sequences (loss -> ~0)", async () => {
  const gpu = await getGpu();
  const fleet = await GptFleet.create(gpu, {
    config: tiny,
    fleetSize: 1,
    batchSize: 4,
    precision: "fp32",
    optimizer: "adamw",
    training: true,
  });
  try {
    fleet.setParameters(0, initialParameters(tiny, 1));
    const data = randomTokens(new Rng(3), 4 * tiny.seqLen, tiny.vocabSize);
    // Distinct first tokens: otherwise two sequences with the same first token
    // and different second tokens put a floor under the loss.
    for (let i = 0; i < 4; i++) data[i * tiny.seqLen] = i;
    const before = await sequenceNll(fleet, data);
    const progress = await trainFleet(fleet, {
      datasets: [data],
      seeds: [1],
      optimizer: adam,
      schedule: { kind: "constant", warmupSteps: 10, minLrFraction: 0, firstCycleSteps: 500 },
      totalSteps: 500,
      readEvery: 250,
    });
    assert.ok(progress.loss[0] < 0.05, `final loss ${progress.loss[0]}`);
    const after = await sequenceNll(fleet, data);
    const bitsBefore = before.bits.reduce((a, b) => a + b, 0);
    const bitsAfter = after.bits.reduce((a, b) => a + b, 0);
    // Untrained: about log2(16) = 4 bits per predicted token.
    assert.ok(Math.abs(bitsBefore / (4 * 7) - 4) < 0.3, `untrained ${bitsBefore / 28} bits/token`);
    assert.ok(bitsAfter < 0.05 * bitsBefore, `after training ${bitsAfter} of ${bitsBefore}`);
  } finally {
    fleet.destroy();
  }
});

Deno.test("a full-batch SGD step moves every weight by exactly -lr * gradient", async () => {
  const gpu = await getGpu();
  const N = 3;
  const fleet = await GptFleet.create(gpu, {
    config: tiny,
    fleetSize: 1,
    batchSize: N,
    precision: "fp32",
    optimizer: "sgd",
    training: true,
  });
  try {
    const p0 = noisyParams(tiny, 5);
    fleet.setParameters(0, p0);
    const data = randomTokens(new Rng(9), N * tiny.seqLen, tiny.vocabSize);
    const lr = Math.fround(0.37); // the kernel's learning rate is an f32
    fleet.computeGradients(data);
    const grad = await fleet.getGradients(0);
    fleet.trainStep(data, [{ lr, beta1: 0, beta2: 0, eps: 0, weightDecay: 0 }]);
    const p1 = await fleet.getParameters(0);
    // The gradient is that of the mean token cross-entropy in nats.
    const ref = cpuLossAndGrad(tiny, p0, data, N);
    let worst = 0, scale = 0;
    for (let i = 0; i < p0.length; i++) {
      // The kernel may fuse the multiply-add (one rounding) or not (two).
      const fused = Math.fround(p0[i] - lr * grad[i]);
      const unfused = Math.fround(p0[i] - Math.fround(lr * grad[i]));
      assert.ok(p1[i] === fused || p1[i] === unfused, `weight ${i}: ${p1[i]} vs ${fused}`);
      worst = Math.max(worst, Math.abs(grad[i] - ref.grad[i]));
      scale = Math.max(scale, Math.abs(ref.grad[i]));
    }
    assert.ok(worst < 1e-3 * scale, `gradient vs reference: ${worst} of ${scale}`);
  } finally {
    fleet.destroy();
  }
});

for (const precision of ["bf16", "bf16-pure"] as const) {
  Deno.test(`${precision} precision keeps every parameter a bfloat16 value`, async () => {
    const gpu = await getGpu();
    const fleet = await GptFleet.create(gpu, {
      config: tiny,
      fleetSize: 1,
      batchSize: 2,
      precision,
      optimizer: "adamw",
      training: true,
    });
    try {
      fleet.setParameters(0, noisyParams(tiny, 2));
      const data = randomTokens(new Rng(4), 2 * tiny.seqLen, tiny.vocabSize);
      await trainFleet(fleet, {
        datasets: [data],
        seeds: [0],
        optimizer: adam,
        schedule: { kind: "constant", warmupSteps: 0, minLrFraction: 0, firstCycleSteps: 500 },
        totalSteps: 5,
        readEvery: 5,
      });
      const p = await fleet.getParameters(0);
      let changed = 0;
      for (const x of p) {
        assert.equal(x, bf16Round(x));
        if (x !== 0) changed++;
      }
      assert.ok(changed > p.length / 2);
    } finally {
      fleet.destroy();
    }
  });
}

Deno.test("each model of a fleet trains as it would alone", async () => {
  const gpu = await getGpu();
  const K = 3;
  const make = (k: number) =>
    GptFleet.create(gpu, {
      config: tiny,
      fleetSize: k,
      batchSize: 2,
      precision: "fp32",
      optimizer: "adamw",
      training: true,
    });
  const datasets = [0, 1, 2].map((z) => randomTokens(new Rng(50 + z), 6 * tiny.seqLen, 16));
  const train = {
    optimizer: adam,
    schedule: { kind: "cosine" as const, warmupSteps: 2, minLrFraction: 0, firstCycleSteps: 500 },
    totalSteps: 12,
    readEvery: 12,
  };
  const fleet = await make(K);
  try {
    for (let z = 0; z < K; z++) fleet.setParameters(z, initialParameters(tiny, 10 + z));
    await trainFleet(fleet, { ...train, datasets, seeds: [1, 2, 3] });
    for (let z = 0; z < K; z++) {
      const alone = await make(1);
      try {
        alone.setParameters(0, initialParameters(tiny, 10 + z));
        await trainFleet(alone, { ...train, datasets: [datasets[z]], seeds: [z + 1] });
        assert.deepEqual(await fleet.getParameters(z), await alone.getParameters(0), `model ${z}`);
      } finally {
        alone.destroy();
      }
    }
  } finally {
    fleet.destroy();
  }
});

Deno.test("bad shapes are refused before any GPU work, naming the problem", async () => {
  const gpu = await getGpu();
  const base = {
    fleetSize: 1,
    batchSize: 1,
    precision: "fp32",
    optimizer: "adamw",
    training: true,
  } as const;
  await assert.rejects(
    GptFleet.create(gpu, { ...base, config: { ...tiny, dModel: 10, heads: 3 } }),
    /heads/,
  );
  await assert.rejects(GptFleet.create(gpu, { ...base, config: { ...tiny, layers: 0 } }), /layers/);
  await assert.rejects(
    GptFleet.create(gpu, {
      ...base,
      batchSize: 4096,
      config: { vocabSize: 50257, seqLen: 1024, layers: 1, dModel: 64, heads: 4 },
    }),
    /too large for this GPU adapter: the \S+ buffer needs [\d.]+ MiB/,
  );
  const fleet = await GptFleet.create(gpu, { ...base, config: tiny });
  try {
    const bad = new Uint32Array(tiny.seqLen).fill(3);
    bad[5] = 16;
    await assert.rejects(fleet.tokenNll(bad), /tokens\[5\]: token id 16 is not below vocabSize 16/);
  } finally {
    fleet.destroy();
  }
});
