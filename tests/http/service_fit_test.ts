// Runs and capacity sweeps too large for the adapter are refused with a 422
// naming the field to change, before they are queued (a queued job would
// only fail once it starts). The engine is the real GpuEngine's fit check
// over a fake adapter with a 128 MiB buffer limit (the software adapter's),
// so the verdicts do not depend on the machine's GPU. The job queue is never
// started: nothing trains.
import assert from "node:assert/strict";
import type { Gpu } from "../../gpu/device.ts";
import { GpuEngine } from "../../gpu/engine.ts";
import { JobQueue } from "../../lib/jobs/queue.ts";
import { openStore } from "../../lib/store/mod.ts";
import { createApp } from "../../routes/app.ts";
import { fakeGpu } from "./_probe.ts";
import { type App, call } from "./_service.ts";

const MiB = 2 ** 20;
const adapter = { maxBufferSize: 128 * MiB, maxStorageBufferBindingSize: 128 * MiB };
/** checkFits reads only the adapter's limits: no device is opened. */
const limitedEngine = new GpuEngine(() =>
  Promise.resolve({ info: { limits: adapter } } as unknown as Gpu)
);

/**
 * A model whose logits buffer is batchSize · 64 · 4096 floats: 1 MiB per
 * sequence, so a fleet of K models at batch B needs K·B MiB there, and
 * K·B ≤ 128 fits (every other buffer is smaller).
 */
const config = { vocabSize: 4096, seqLen: 64, layers: 2, dModel: 128, heads: 2 };

async function withLimitedApp(fn: (app: App) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "memcap_service_fit_" });
  const store = await openStore({ dataDir: dir });
  try {
    const jobs = new JobQueue(store);
    await fn(createApp({ gpu: fakeGpu, store, jobs, engine: limitedEngine, log: () => {} }));
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function sweep(batchSize: number, datasetSizes: number[], maxFleetSize?: number) {
  return {
    config,
    datasetSizes,
    seeds: [0],
    training: { batchSize, maxSteps: 1000 },
    ...(maxFleetSize === undefined ? {} : { maxFleetSize }),
  };
}

Deno.test("capacity: a fleet too large for the adapter -> 422 naming maxFleetSize", async () => {
  await withLimitedApp(async (app) => {
    // Six trainings at the default maxFleetSize 16 train as one fleet of 6: 6·32 MiB of logits.
    const six = [1, 2, 3, 4, 5, 6];
    const big = await call(app, "POST", "/v1/capacity", sweep(32, six));
    assert.equal(big.status, 422, JSON.stringify(big.json));
    assert.equal(big.json.error.code, "too_large");
    assert.match(big.json.error.message, /^body\.maxFleetSize: a fleet of 6 models/);
    assert.match(big.json.error.message, /largest fleet that fits is 4/);
    assert.deepEqual(big.json.error.details, { largestFleetSize: 4 });
    // The advice works: fleets of at most 4 are queued.
    assert.equal((await call(app, "POST", "/v1/capacity", sweep(32, six, 4))).status, 202);
    // The fleet is min(maxFleetSize, trainings): four trainings fit without lowering it.
    assert.equal((await call(app, "POST", "/v1/capacity", sweep(32, [1, 2, 3, 4]))).status, 202);

    // The audit's case: batch 128 fits alone (128 MiB of logits) but not two side by side.
    const pair = await call(app, "POST", "/v1/capacity", sweep(128, [1, 2]));
    assert.equal(pair.status, 422, JSON.stringify(pair.json));
    assert.match(pair.json.error.message, /^body\.maxFleetSize: .*largest fleet that fits is 1/);
  });
});

Deno.test("capacity: a config too large even alone -> 422 naming body.config", async () => {
  await withLimitedApp(async (app) => {
    const res = await call(app, "POST", "/v1/capacity", sweep(256, [1, 2, 3]));
    assert.equal(res.status, 422, JSON.stringify(res.json));
    assert.equal(res.json.error.code, "too_large");
    assert.match(res.json.error.message, /^body\.config: model too large for this GPU adapter/);
    assert.match(res.json.error.message, /logits buffer/);
    // Nothing was queued.
    assert.deepEqual((await call(app, "GET", "/v1/capacity")).json.items, []);
  });
});

Deno.test("runs: a batchSize over the adapter's limits -> 422 naming body.batchSize", async () => {
  await withLimitedApp(async (app) => {
    const model = await call(app, "POST", "/v1/models", { config, seed: 0 });
    assert.equal(model.status, 201, JSON.stringify(model.json));
    const ds = await call(app, "POST", "/v1/datasets", {
      kind: "uniform",
      vocabSize: 4096,
      seqLen: 64,
      count: 4,
      seed: 0,
    });
    assert.equal(ds.status, 201, JSON.stringify(ds.json));
    const run = (batchSize: number) =>
      call(app, "POST", "/v1/runs", {
        modelId: model.json.id,
        datasetId: ds.json.id,
        optimizer: { type: "sgd", lr: 0.1 },
        batchSize,
        steps: 10,
      });
    const tooBig = await run(256);
    assert.equal(tooBig.status, 422, JSON.stringify(tooBig.json));
    assert.equal(tooBig.json.error.code, "too_large");
    assert.match(tooBig.json.error.message, /^body\.batchSize: model too large/);
    assert.deepEqual((await call(app, "GET", "/v1/runs")).json.items, []);
    assert.equal((await run(128)).status, 202);
  });
});
