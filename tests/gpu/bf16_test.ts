// The two bf16 modes on the GPU. "bf16" is mixed precision: the optimizer
// keeps f32 master weights (and f32 Adam moments), and the model, the one
// every forward, backward and evaluation uses and every read-back exposes,
// is the master rounded to bf16; so updates below half a bf16 step add up.
// "bf16-pure" rounds the only copy after every step, which drops them. A
// checkpoint keeps the master weights, so a resumed bf16 fleet continues
// bit-identically.
import assert from "node:assert/strict";
import { getGpu } from "../../gpu/device.ts";
import { GptFleet } from "../../gpu/fleet/gpt_fleet.ts";
import { type ModelData, trainFleet, trainSteps } from "../../gpu/trainer.ts";
import {
  captureFleetCheckpoint,
  parseFleetCheckpoint,
  writeModelState,
} from "../../gpu/jobs/checkpoint.ts";
import type { ModelConfig, Precision } from "../../lib/model/schemas.ts";
import { tensorLayout } from "../../lib/model/layout.ts";
import { initialParameters } from "../../lib/model/init.ts";
import { exportWeights, importWeights, precisionFromMetadata } from "../../lib/model/weights.ts";
import { BatchSampler } from "../../lib/training/batches.ts";
import type { Schedule } from "../../lib/training/schemas.ts";
import { bf16Round } from "../../lib/bf16.ts";
import { Rng } from "../../lib/prng.ts";
import { randomTokens } from "./helpers.ts";

const tiny: ModelConfig = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 16, heads: 2 };
/**
 * Adam moves a weight by about lr per step (|m̂|/√v̂ ≲ 1): 1e-4 is far below half
 * a bf16 step at 1.0 (2^-9 ≈ 0.002 downwards, 2^-8 upwards).
 */
const tinyLr = { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
const constant: Schedule = {
  kind: "constant",
  warmupSteps: 0,
  minLrFraction: 0,
  firstCycleSteps: 1000,
};

function fleetOf(precision: Precision, K = 1, batchSize = 4) {
  return getGpu().then((gpu) =>
    GptFleet.create(gpu, {
      config: tiny,
      fleetSize: K,
      batchSize,
      precision,
      optimizer: "adamw",
      training: true,
    })
  );
}

/** The LayerNorm gains (initialised to 1) of a flat parameter vector. */
function gains(p: Float32Array): number[] {
  return tensorLayout(tiny)
    .filter((t) => t.role === "ln1_w" || t.role === "ln2_w" || t.role === "lnf_w")
    .flatMap((t) => [...p.subarray(t.offset, t.offset + t.size)]);
}

const notBf16 = (p: Float32Array) => p.filter((x) => x !== bf16Round(x)).length;

Deno.test("updates below half a bf16 step move bf16 weights, and are lost in bf16-pure", async () => {
  const data = randomTokens(new Rng(7), 16 * tiny.seqLen, tiny.vocabSize);
  const moved: Record<string, number> = {};
  for (const precision of ["bf16", "bf16-pure"] as const) {
    const fleet = await fleetOf(precision);
    try {
      fleet.setParameters(0, initialParameters(tiny, 3, precision));
      await trainFleet(fleet, {
        datasets: [data],
        seeds: [1],
        optimizer: tinyLr,
        schedule: constant,
        totalSteps: 150,
        readEvery: 150,
      });
      const weights = await fleet.getParameters(0);
      assert.equal(notBf16(weights), 0, `${precision}: the model holds only bf16 values`);
      moved[precision] = gains(weights).filter((g) => g !== 1).length;
    } finally {
      fleet.destroy();
    }
  }
  // 48 gains: the master weights carried most of them a bf16 step or more.
  assert.ok(moved["bf16"] >= 10, `bf16: only ${moved["bf16"]} of 48 gains left 1.0`);
  assert.equal(moved["bf16-pure"], 0, "bf16-pure: every update rounds back to 1.0");
});

Deno.test("a bf16 model exposes bf16 weights: the master rounded, what it evaluates with", async () => {
  const fleet = await fleetOf("bf16", 2);
  const data = [0, 1].map((z) => randomTokens(new Rng(20 + z), 12 * tiny.seqLen, tiny.vocabSize));
  try {
    for (let z = 0; z < 2; z++) fleet.setParameters(z, initialParameters(tiny, 5 + z, "bf16"));
    await trainFleet(fleet, {
      datasets: data,
      seeds: [2, 3],
      optimizer: { ...tinyLr, lr: 3e-4, weightDecay: 0.1 },
      schedule: constant,
      totalSteps: 40,
      readEvery: 40,
    });
    const eval1 = await GptFleet.create(await getGpu(), {
      config: tiny,
      fleetSize: 1,
      batchSize: 12,
      precision: "bf16",
      optimizer: "adamw",
      training: false,
    });
    try {
      for (let z = 0; z < 2; z++) {
        const weights = await fleet.getParameters(z);
        const master = await fleet.getMasterParameters(z);
        assert.equal(notBf16(weights), 0, `model ${z}: every weight is a bf16 value`);
        assert.deepEqual(weights, master.map(bf16Round), `model ${z}: weights = bf16(master)`);
        assert.ok(notBf16(master) > master.length / 2, `model ${z}: the master is f32`);
        // The export (GET /v1/models/{id}/weights) holds exactly these weights.
        const file = exportWeights(tiny, weights, "bf16");
        const back = importWeights(tiny, file);
        assert.deepEqual(back.params, weights);
        assert.equal(precisionFromMetadata(back.metadata), "bf16");
        // An evaluation fleet given them computes what the training fleet computes with its
        // own (up to the f32 rounding of other kernel shapes; the master would differ by far
        // more): the model trained is the model evaluated.
        eval1.setParameters(0, weights);
        const S = tiny.seqLen, n = 4 * S;
        const own = await fleet.tokenNll(
          new Uint32Array([...data[0].subarray(0, n), ...data[1].subarray(0, n)]),
        );
        const alone = await eval1.tokenNll(data[z]);
        for (let i = 0; i < n; i++) {
          if (i % S === S - 1) continue; // a training fleet's last position has no loss
          const d = Math.abs(own[z * n + i] - alone[i]);
          assert.ok(d < 2e-6, `model ${z}, token ${i}: ${own[z * n + i]} vs ${alone[i]}`);
        }
      }
    } finally {
      eval1.destroy();
    }
  } finally {
    fleet.destroy();
  }
});

Deno.test("a bf16 fleet checkpointed mid-training resumes bit-identically (master weights kept)", async () => {
  const K = 2, B = 4, half = 30, total = 60;
  const sets = [0, 1].map((z) => randomTokens(new Rng(40 + z), 10 * tiny.seqLen, tiny.vocabSize));
  const models = (): ModelData[] =>
    sets.map((tokens, z) => ({ tokens, sampler: new BatchSampler(10, B, 50 + z) }));
  const train = (fleet: GptFleet, data: ModelData[], untilStep: number) =>
    trainSteps(fleet, {
      data,
      optimizer: tinyLr,
      schedule: { kind: "cosine", warmupSteps: 5, minLrFraction: 0, firstCycleSteps: total },
      totalSteps: total,
      untilStep,
      readEvery: 10,
    });
  const start = (fleet: GptFleet) => {
    for (let z = 0; z < K; z++) fleet.setParameters(z, initialParameters(tiny, 60 + z, "bf16"));
  };
  const state = async (fleet: GptFleet, z: number) => ({
    weights: await fleet.getParameters(z),
    master: await fleet.getMasterParameters(z),
    ...(await fleet.getOptimizerState(z)),
  });

  const whole = await fleetOf("bf16", K, B);
  const first = await fleetOf("bf16", K, B);
  let second: GptFleet | undefined;
  try {
    start(whole);
    await train(whole, models(), total);

    start(first);
    const data = models();
    await train(first, data, half);
    const bytes = await captureFleetCheckpoint(
      first,
      first.step,
      {},
      data.map((d) => d.sampler.state()),
    );
    const cp = parseFleetCheckpoint(bytes);
    assert.equal(cp.precision, "bf16");
    assert.equal(cp.step, half);
    // The checkpoint holds the f32 master weights, not the model's bf16 ones.
    for (const m of cp.models) assert.ok(notBf16(m.params) > 0, "f32 master weights saved");

    second = await fleetOf("bf16", K, B);
    cp.models.forEach((m, z) => writeModelState(second!, z, m));
    second.step = cp.step;
    const resumed = cp.models.map((m, z) => ({
      tokens: sets[z],
      sampler: BatchSampler.fromState(10, B, m.sampler!),
    }));
    await train(second, resumed, total);
    for (let z = 0; z < K; z++) {
      const a = await state(whole, z), b = await state(second, z);
      assert.deepEqual(b, a, `model ${z}: bit-identical to the uninterrupted fleet`);
      assert.ok(gains(a.weights).some((g) => g !== 1), "the sub-step updates added up");
    }
  } finally {
    whole.destroy();
    first.destroy();
    second?.destroy();
  }
});
