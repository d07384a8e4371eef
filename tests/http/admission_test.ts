// Admission control over HTTP (issue 25, item 4): requests over a budget of the service get
// 422 over_budget naming the field, the estimate, the budget and its variable, before any work
// is queued or stored; the same requests pass under raised budgets.
import assert from "node:assert/strict";
import { type Budgets, DEFAULT_BUDGETS } from "../../lib/admission.ts";
import { JobQueue } from "../../lib/jobs/queue.ts";
import { openStore } from "../../lib/store/mod.ts";
import type { Store } from "../../lib/store/store.ts";
import { createApp } from "../../routes/app.ts";
import { fakeGpu, queueOnlyEngine } from "./_probe.ts";

type App = ReturnType<typeof createApp>;

const MiB = 2 ** 20;

/** The real app over a real store; a JobQueue that is never started (jobs stay queued). */
async function withApp(
  budgets: Budgets | undefined,
  fn: (t: { app: App; store: Store }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "memcap_admission_http_" });
  const store = await openStore({ dataDir: dir });
  try {
    const jobs = new JobQueue(store);
    const app = createApp({
      gpu: fakeGpu,
      store,
      jobs,
      engine: queueOnlyEngine,
      budgets,
      log: () => {},
    });
    await fn({ app, store });
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function post(app: App, path: string, body: unknown) {
  const res = await app.request(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

const tiny = { vocabSize: 64, seqLen: 16, layers: 1, dModel: 16, heads: 2 };

Deno.test("POST /v1/capacity: the audit's sweep is refused with 422 over_budget (body.seeds)", async () => {
  await withApp(undefined, async ({ app, store }) => {
    const r = await post(app, "/v1/capacity", {
      config: tiny,
      datasetSizes: [16777216],
      seeds: 4,
    });
    assert.equal(r.status, 422, JSON.stringify(r.json));
    assert.equal(r.json.error.code, "over_budget");
    assert.match(r.json.error.message, /^body\.seeds: .*host memory.*MEMCAP_MAX_HOST_MEMORY_MB/);
    assert.equal(r.json.error.details.field, "body.seeds");
    assert.equal(r.json.error.details.budget, DEFAULT_BUDGETS.hostMemoryBytes);
    assert.equal(await store.count("capacity"), 0, "nothing queued");
  });
  // Raised by the operator, the same request is queued.
  await withApp({ ...DEFAULT_BUDGETS, hostMemoryBytes: 8192 * MiB }, async ({ app }) => {
    const r = await post(app, "/v1/capacity", { config: tiny, datasetSizes: [16777216], seeds: 4 });
    assert.equal(r.status, 202, JSON.stringify(r.json));
  });
});

Deno.test("POST /v1/datasets: a file larger than the disk budget is refused (body.count)", async () => {
  await withApp({ ...DEFAULT_BUDGETS, diskBytes: 1 * MiB }, async ({ app, store }) => {
    const big = { kind: "uniform", vocabSize: 64, seqLen: 64, count: 16384, seed: 0 };
    const r = await post(app, "/v1/datasets", big);
    assert.equal(r.status, 422);
    assert.equal(r.json.error.code, "over_budget");
    assert.match(
      r.json.error.message,
      /^body\.count: .*2\.0 MiB of disk.*MEMCAP_MAX_REQUEST_DISK_MB/,
    );
    assert.equal(await store.count("datasets"), 0);
    const ok = await post(app, "/v1/datasets", { ...big, count: 1024 });
    assert.equal(ok.status, 201);
  });
});

Deno.test("POST /v1/runs and /likelihood: a dataset too large to load is refused (body.datasetId)", async () => {
  await withApp({ ...DEFAULT_BUDGETS, hostMemoryBytes: 4 * MiB }, async ({ app }) => {
    const ds = await post(app, "/v1/datasets", {
      kind: "uniform",
      vocabSize: 64,
      seqLen: 16,
      count: 65536,
      seed: 0,
    });
    assert.equal(ds.status, 201);
    const model = await post(app, "/v1/models", { config: tiny, precision: "fp32", seed: 0 });
    assert.equal(model.status, 201);
    const run = await post(app, "/v1/runs", {
      modelId: model.json.id,
      datasetId: ds.json.id,
      optimizer: { type: "adamw", lr: 0.01 },
      batchSize: 64,
      steps: 10,
    });
    assert.equal(run.status, 422, JSON.stringify(run.json));
    assert.equal(run.json.error.code, "over_budget");
    assert.match(run.json.error.message, /^body\.datasetId: .*host memory/);
    const lik = await post(app, `/v1/models/${model.json.id}/likelihood`, {
      datasetId: ds.json.id,
    });
    assert.equal(lik.status, 422);
    assert.match(lik.json.error.message, /^body\.datasetId: /);
  });
});

Deno.test("POST /v1/runs: more training tokens than the budget is refused (body.steps)", async () => {
  await withApp({ ...DEFAULT_BUDGETS, jobTokens: 1e6 }, async ({ app }) => {
    const ds = await post(app, "/v1/datasets", {
      kind: "uniform",
      vocabSize: 64,
      seqLen: 16,
      count: 64,
    });
    const model = await post(app, "/v1/models", { config: tiny, precision: "fp32", seed: 0 });
    const run = (steps: number) =>
      post(app, "/v1/runs", {
        modelId: model.json.id,
        datasetId: ds.json.id,
        optimizer: { type: "adamw", lr: 0.01 },
        batchSize: 64,
        steps,
      });
    const over = await run(1000); // 1000 × 64 × 16 = 1.02e6 tokens
    assert.equal(over.status, 422);
    assert.match(over.json.error.message, /^body\.steps: .*training tokens.*MEMCAP_MAX_JOB_TOKENS/);
    assert.equal((await run(900)).status, 202);
  });
});
