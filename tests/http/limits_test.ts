// Per-request caps an operator of a shared GPU relies on: the GPU memory budget
// (MEMCAP_GPU_MEMORY_MB) refuses models, runs and sweeps that would not fit it, and the
// steps and likelihood-sequences caps hold. Each refusal is a 422 naming the field, and
// nothing is stored or started.
import assert from "node:assert/strict";
import { getGpu } from "../../gpu/device.ts";
import { GpuEngine } from "../../gpu/engine.ts";
import { fleetBytes } from "../../gpu/memory_plan.ts";
import { loadConfig } from "../../lib/service_config.ts";
import { type App, call, datasetAndModel, withService } from "./_service.ts";
import { TINY_SWEEP_TRAINING } from "./_fixtures.ts";

const BUDGET_MB = 2;
const SMALL = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 16, heads: 2 };
const BIG = { vocabSize: 2048, seqLen: 64, layers: 1, dModel: 64, heads: 2 };
const HUGE_BATCH = 4096;

/** The engine as main.ts configures it from the environment. */
function budgetedEngine(): GpuEngine {
  const config = loadConfig({ MEMCAP_GPU_MEMORY_MB: String(BUDGET_MB) });
  return new GpuEngine(getGpu, { memoryBudgetBytes: config.gpuMemoryBytes });
}

async function refused(app: App, path: string, body: unknown, field: RegExp) {
  const r = await call(app, "POST", path, body);
  assert.equal(r.status, 422, `${path}: ${r.status} ${JSON.stringify(r.json)}`);
  assert.match(r.json.error.message, field, path);
  return r.json.error.message as string;
}

Deno.test("MEMCAP_GPU_MEMORY_MB: models, runs and sweeps over the budget get 422", async () => {
  const bytes = (config: typeof SMALL, batchSize: number) =>
    fleetBytes({ config, fleetSize: 1, batchSize, training: true, kernels: "software" });
  // The shapes straddle the budget (and all fit the adapter's own limits).
  const budget = BUDGET_MB * 2 ** 20;
  assert.ok(
    bytes(SMALL, 8) < budget && bytes(BIG, 1) > budget && bytes(SMALL, HUGE_BATCH) > budget,
  );

  await withService(async ({ app, store }) => {
    const small = await call(app, "POST", "/v1/models", { config: SMALL, seed: 1 });
    assert.equal(small.status, 201, JSON.stringify(small.json));
    const message = await refused(app, "/v1/models", { config: BIG, seed: 1 }, /^body\.config:/);
    assert.match(message, /GPU memory budget/);
    assert.equal(await store.count("models"), 1, "the refused model is not stored");

    const ds = await call(app, "POST", "/v1/datasets", {
      kind: "uniform",
      vocabSize: SMALL.vocabSize,
      seqLen: SMALL.seqLen,
      count: 8,
      seed: 1,
    });
    const run = {
      modelId: small.json.id,
      datasetId: ds.json.id,
      optimizer: { type: "adamw", lr: 0.01 },
      batchSize: HUGE_BATCH,
      steps: 1,
    };
    await refused(app, "/v1/runs", run, /^body\.batchSize:.*GPU memory budget/);
    await refused(
      app,
      "/v1/capacity",
      {
        config: BIG,
        datasetSizes: [2],
        seeds: [0],
        training: TINY_SWEEP_TRAINING,
        maxFleetSize: 1,
      },
      /^body\.config:.*GPU memory budget/,
    );
    assert.equal(await store.count("runs"), 0);
    assert.equal(await store.count("capacity"), 0);
  }, budgetedEngine);
});

Deno.test("steps over 10,000,000 and likelihood over 100,000 sequences get 422", async () => {
  await withService(async ({ app, store }) => {
    const { datasetId, modelId } = await datasetAndModel(app, { config: SMALL, count: 8 });
    const run = {
      modelId,
      datasetId,
      optimizer: { type: "adamw", lr: 0.01 },
      batchSize: 8,
    };
    await refused(app, "/v1/runs", { ...run, steps: 10_000_001 }, /^body\.steps:.*10000000/);
    assert.equal(await store.count("runs"), 0);

    const sequences = Array.from({ length: 100_001 }, () => [0, 1, 2, 3, 4, 5, 6, 7]);
    await refused(
      app,
      `/v1/models/${modelId}/likelihood`,
      { sequences },
      /^body\.sequences:.*100000/,
    );
  });
});
