import assert from "node:assert/strict";
import { z } from "zod";
import { planCapacity, resolveSeeds } from "../../lib/capacity/plan.ts";
import { autoDatasetSizes, datasetBits, predictedPlateauSize } from "../../lib/capacity/grid.ts";
import { CapacityCreateRequest, MAX_CAPACITY_RUNS } from "../../lib/capacity/schemas.ts";
import { parameterCount } from "../../lib/model/config.ts";

const paper1x32 = { vocabSize: 2048, seqLen: 64, layers: 1, dModel: 32, heads: 4 };
const tiny = { vocabSize: 64, seqLen: 16, layers: 1, dModel: 16, heads: 2 };

Deno.test("datasetBits: N·(S-1)·log2 V", () => {
  assert.equal(datasetBits(4096, 64, 2048), 4096 * 63 * 11);
  assert.equal(datasetBits(0, 16, 64), 0);
  assert.equal(datasetBits(10, 16, 64), 900);
  assert.throws(() => datasetBits(1.5, 16, 64), /count/);
  assert.throws(() => datasetBits(1, 1, 64), /seqLen/);
});

Deno.test("autoDatasetSizes: paper's 1-layer d=32 model centres on 3.6·80352/(63·11)", () => {
  assert.equal(parameterCount(paper1x32), 80352);
  const nStar = (3.6 * 80352) / (63 * 11); // ≈ 417.4
  assert.ok(Math.abs(predictedPlateauSize(paper1x32) - nStar) < 1e-9);
  const sizes = autoDatasetSizes(paper1x32);
  assert.equal(sizes.length, 7);
  assert.equal(sizes[3], Math.round(nStar));
  assert.equal(sizes[3], 417);
  assert.equal(sizes[0], Math.round(nStar / 4));
  assert.equal(sizes[6], Math.round(nStar * 4));
  assert.deepEqual(sizes, [104, 166, 263, 417, 663, 1052, 1670]);
  // geometric: consecutive ratios ≈ 4^(1/3)
  for (let i = 1; i < sizes.length; i++) {
    assert.ok(Math.abs(sizes[i] / sizes[i - 1] - 4 ** (1 / 3)) < 0.01);
  }
  // the centre's bits match alpha·params
  assert.ok(Math.abs(datasetBits(417, 64, 2048) / (3.6 * 80352) - 1) < 0.002);
});

Deno.test("autoDatasetSizes: options, rounding, dedupe", () => {
  assert.deepEqual(autoDatasetSizes(paper1x32, { points: 1 }), [417]);
  assert.deepEqual(autoDatasetSizes(paper1x32, { points: 3 }), [104, 417, 1670]);
  const a2 = autoDatasetSizes(paper1x32, { points: 3, alpha: 2 });
  assert.equal(a2[1], Math.round((2 * 80352) / 693));
  // A model so small that N* < 1: sizes stay ≥ 1, deduplicated, ascending.
  const micro = { vocabSize: 64, seqLen: 2, layers: 1, dModel: 1, heads: 1 }; // 93 params
  assert.equal(parameterCount(micro), 93);
  // N* = 2: 0.5, 0.79, 1.26, 2, 3.17, 5.04, 8 -> 1, 1, 1, 2, 3, 5, 8
  assert.deepEqual(autoDatasetSizes(micro, { alpha: 12 / 93 }), [1, 2, 3, 5, 8]);
  assert.deepEqual(autoDatasetSizes(micro, { alpha: 1e-6 }), [1]);
  assert.throws(() => autoDatasetSizes(paper1x32, { points: 0 }), /points/);
});

Deno.test("CapacityCreateRequest: defaults", () => {
  const r = CapacityCreateRequest.parse({ config: tiny });
  assert.equal(r.precision, "fp32");
  assert.equal(r.datasetSizes, "auto");
  assert.deepEqual(r.auto, { points: 7, alpha: 3.6 });
  assert.deepEqual(r.seeds, [0]);
  assert.equal(r.maxFleetSize, 16);
  assert.deepEqual(r.training, {
    optimizer: { type: "adamw", lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 },
    batchSize: 128,
    maxSteps: 20000,
    schedule: {
      kind: "cosine-restarts",
      warmupSteps: 100,
      minLrFraction: 0,
      firstCycleSteps: 500,
      restartWarmupFraction: 0.1, // bench/restart_recipes.ts
    },
    evalEvery: 500,
    saturation: { fraction: 0.01, minSteps: 1000 },
  });
});

Deno.test("CapacityCreateRequest: the example parses and plans a small sweep", () => {
  const example = CapacityCreateRequest.meta()?.example;
  const r = CapacityCreateRequest.parse(example);
  const plan = planCapacity(r);
  assert.equal(plan.parameterCount, 4592);
  assert.equal(plan.datasetSizes.length, 5);
  assert.ok(plan.runs.length <= 16);
  assert.ok(r.training.maxSteps <= 2000);
  // N* for the tiny model: 3.6·4592/(15·6) ≈ 183.7
  assert.equal(plan.datasetSizes[2], 184);
  assert.deepEqual(plan.points[2], { datasetSize: 184, datasetBits: 184 * 90 });
});

Deno.test("CapacityCreateRequest: limits name the field", () => {
  const issues = (body: unknown) => {
    const p = CapacityCreateRequest.safeParse(body);
    assert.ok(!p.success, "expected a validation error");
    return p.error.issues.map((i) => i.path.join("."));
  };
  assert.deepEqual(issues({ config: { ...tiny, heads: 3 } }), ["config.heads"]);
  assert.deepEqual(issues({ config: tiny, datasetSizes: [0, 10] }), ["datasetSizes.0"]);
  assert.deepEqual(issues({ config: tiny, datasetSizes: [10, 20, 10] }), ["datasetSizes.2"]);
  assert.deepEqual(issues({ config: tiny, datasetSizes: [] }), ["datasetSizes"]);
  assert.deepEqual(issues({ config: tiny, datasetSizes: "all" }), ["datasetSizes"]);
  assert.deepEqual(issues({ config: tiny, datasetSizes: [2 ** 28] }), ["datasetSizes"]);
  assert.deepEqual(issues({ config: tiny, seeds: 0 }), ["seeds"]);
  assert.deepEqual(issues({ config: tiny, seeds: [1, 1] }), ["seeds"]);
  // 7 auto sizes × 10 seeds = 70 > 64
  assert.deepEqual(issues({ config: tiny, seeds: 10 }), ["seeds"]);
  assert.deepEqual(
    issues({ config: tiny, datasetSizes: Array.from({ length: 33 }, (_, i) => i + 1), seeds: 2 }),
    ["seeds"],
  );
  assert.ok(CapacityCreateRequest.safeParse({ config: tiny, seeds: 9 }).success); // 63 runs
  // The default cosine-restarts needs one whole first cycle within the budget.
  assert.deepEqual(issues({ config: tiny, training: { maxSteps: 100 } }), [
    "training.schedule.firstCycleSteps",
    "training.schedule.warmupSteps",
  ]);
  assert.deepEqual(
    issues({ config: tiny, training: { maxSteps: 100, schedule: { kind: "cosine" } } }),
    ["training.evalEvery", "training.schedule.warmupSteps"],
  );
  // A schedule given without kind is still cosine-restarts for a capacity sweep.
  assert.deepEqual(
    issues({ config: tiny, training: { schedule: { warmupSteps: 600, firstCycleSteps: 500 } } }),
    ["training.schedule.warmupSteps"],
  );
  assert.deepEqual(issues({ config: tiny, training: { optimizer: { type: "adam" } } }), [
    "training.optimizer.type",
  ]);
  assert.deepEqual(issues({ config: tiny, training: { optimizer: { lr: -1 } } }), [
    "training.optimizer.lr",
  ]);
  assert.deepEqual(issues({ config: tiny, precision: "fp16" }), ["precision"]);
  assert.deepEqual(issues({ config: tiny, maxFleetSize: 0 }), ["maxFleetSize"]);
  assert.equal(MAX_CAPACITY_RUNS, 64);
});

Deno.test("planCapacity: seeds count, explicit sizes sorted, fleets chunked", () => {
  assert.deepEqual(resolveSeeds(3), [0, 1, 2]);
  assert.deepEqual(resolveSeeds([5, 7]), [5, 7]);
  const r = CapacityCreateRequest.parse({
    config: tiny,
    datasetSizes: [400, 50, 100],
    seeds: 3,
    maxFleetSize: 4,
  });
  const plan = planCapacity(r);
  assert.deepEqual(plan.datasetSizes, [50, 100, 400]);
  assert.deepEqual(plan.seeds, [0, 1, 2]);
  assert.equal(plan.runs.length, 9);
  assert.deepEqual(plan.runs[0], { datasetSize: 50, seed: 0 });
  assert.deepEqual(plan.runs[8], { datasetSize: 400, seed: 2 });
  assert.deepEqual(plan.fleets.map((f) => f.length), [4, 4, 1]);
  assert.equal(plan.predictedCapacityBits, 3.6 * 4592);
});

Deno.test("CapacityCreateRequest: representable in JSON Schema (OpenAPI)", () => {
  for (const io of ["input", "output"] as const) {
    const js = z.toJSONSchema(CapacityCreateRequest, { io, unrepresentable: "throw" });
    assert.equal(typeof js, "object");
  }
});
