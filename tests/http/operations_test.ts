// What an operator relies on: the bind/auth policy, /metrics, the queue cap.
import assert from "node:assert/strict";
import { createApp } from "../../routes/app.ts";
import { isLoopback, loadConfig } from "../../lib/config.ts";
import type { Engine } from "../../lib/engine.ts";
import { JobQueue } from "../../lib/jobs/queue.ts";
import { Metrics } from "../../lib/metrics.ts";
import { jobsGauge } from "../../lib/jobs/metrics.ts";
import { meteredEngine } from "../../lib/metered_engine.ts";
import { openStore } from "../../lib/store/mod.ts";
import { fakeGpu } from "./_probe.ts";

Deno.test("without a token only loopback is served, unless explicitly allowed", () => {
  assert.ok(isLoopback("127.0.0.1") && isLoopback("localhost") && isLoopback("[::1]"));
  assert.ok(!isLoopback("0.0.0.0") && !isLoopback("10.0.0.5"));
  assert.throws(() => loadConfig({ HOST: "0.0.0.0" }), /MEMCAP_TOKEN is not set/);
  assert.equal(loadConfig({ HOST: "0.0.0.0", MEMCAP_TOKEN: "s3cret" }).host, "0.0.0.0");
  assert.equal(loadConfig({ HOST: "0.0.0.0", MEMCAP_ALLOW_UNAUTHENTICATED: "1" }).host, "0.0.0.0");
  assert.equal(loadConfig({}).host, "127.0.0.1");
  assert.throws(() => loadConfig({ MEMCAP_GPU_MEMORY_MB: "-3" }), /MEMCAP_GPU_MEMORY_MB/);
});

const engine: Engine = {
  gpu: fakeGpu,
  checkFits: () => Promise.resolve(),
  likelihood: () => Promise.reject(new Error("unused")),
  greedyDecode: () => Promise.reject(new Error("unused")),
  runJob: () => new Promise(() => {}),
};

async function withParts(
  fn: (t: { app: ReturnType<typeof createApp>; metrics: Metrics }) => Promise<void>,
  opts: { token?: string; maxQueued?: number; engine?: Engine; requestTimeoutMs?: number } = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "memcap_ops_" });
  const store = await openStore({ dataDir: dir });
  try {
    const jobs = new JobQueue(store, { maxQueued: opts.maxQueued ?? 100 }); // not started
    const metrics = new Metrics();
    metrics.addGauge(jobsGauge(store));
    const app = createApp({
      gpu: fakeGpu,
      store,
      jobs,
      engine: meteredEngine(opts.engine ?? engine, metrics),
      requestTimeoutMs: opts.requestTimeoutMs,
      metrics,
      token: opts.token,
      log: () => {},
    });
    await fn({ app, metrics });
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const json = (body: unknown, token?: string) => ({
  method: "POST",
  headers: {
    "content-type": "application/json",
    ...(token ? { authorization: `Bearer ${token}` } : {}),
  },
  body: JSON.stringify(body),
});

Deno.test("with a token every /v1 route and /metrics need it; health does not", async () => {
  await withParts(async ({ app }) => {
    assert.equal((await app.request("/v1/health")).status, 200);
    for (const path of ["/v1/datasets", "/v1/models", "/v1/runs", "/v1/capacity", "/metrics"]) {
      const res = await app.request(path);
      assert.equal(res.status, 401, path);
      assert.equal((await res.json()).error.code, "unauthorized");
      const wrong = await app.request(path, { headers: { authorization: "Bearer nope" } });
      assert.equal(wrong.status, 401, path);
      await wrong.body?.cancel();
      const ok = await app.request(path, { headers: { authorization: "Bearer s3cret" } });
      assert.equal(ok.status, 200, path);
      await ok.body?.cancel();
    }
  }, { token: "s3cret" });
});

Deno.test("/metrics counts requests by route pattern and reports jobs by state", async () => {
  await withParts(async ({ app }) => {
    await app.request("/v1/health");
    await app.request("/v1/datasets/ds_nope");
    await app.request("/v1/datasets/ds_other");
    const res = await app.request("/metrics");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.match(
      text,
      /memcap_http_requests_total\{method="GET",route="\/v1\/health",status="200"\} 1/,
    );
    // Both unknown ids land in one series: labels use the route pattern, not the path.
    assert.match(
      text,
      /memcap_http_requests_total\{method="GET",route="\/v1\/datasets\/:id",status="404"\} 2/,
    );
    assert.match(
      text,
      /memcap_http_request_duration_seconds_bucket\{method="GET",route="\/v1\/health",le="\+Inf"\} 1/,
    );
    assert.match(text, /# TYPE memcap_tokens_trained_total counter/);
    assert.match(text, /memcap_jobs\{collection="runs",status="queued"\} 0/);
  });
});

Deno.test("a full queue answers 429 and accepts again once there is room", async () => {
  await withParts(async ({ app }) => {
    const ds = await (await app.request(
      "/v1/datasets",
      json({
        kind: "uniform",
        vocabSize: 16,
        seqLen: 8,
        count: 4,
        seed: 1,
      }),
    )).json();
    const model = await (await app.request(
      "/v1/models",
      json({
        config: { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 2 },
      }),
    )).json();
    const run = {
      modelId: model.id,
      datasetId: ds.id,
      optimizer: { type: "sgd", lr: 0.1 },
      batchSize: 4,
      steps: 5,
    };
    const first = await app.request("/v1/runs", json(run));
    assert.equal(first.status, 202);
    const { id } = await first.json();
    const second = await app.request("/v1/runs", json(run));
    assert.equal(second.status, 429);
    assert.equal((await second.json()).error.code, "queue_full");
    await app.request(`/v1/runs/${id}/cancel`, { method: "POST" });
    assert.equal((await app.request("/v1/runs", json(run))).status, 202);
  }, { maxQueued: 1 });
});

Deno.test("a request that runs too long answers 504 with the JSON error shape", async () => {
  let release = () => {};
  const slow: Engine = {
    ...engine,
    likelihood: () =>
      new Promise((resolve) => (release = () => resolve({ bits: new Float64Array(1) }))),
  };
  await withParts(async ({ app }) => {
    const model = await (await app.request(
      "/v1/models",
      json({
        config: { vocabSize: 16, seqLen: 4, layers: 1, dModel: 8, heads: 2 },
      }),
    )).json();
    const res = await app.request(
      `/v1/models/${model.id}/likelihood`,
      json({ sequences: [[1, 2, 3, 4]] }),
    );
    assert.equal(res.status, 504);
    assert.equal((await res.json()).error.code, "timeout");
    release();
  }, { engine: slow, requestTimeoutMs: 200 });
});
