// What an operator relies on: the bind/auth policy, /metrics, the queue cap, 503s that say
// why when the service is shutting down or the engine cannot serve.
import assert from "node:assert/strict";
import { createApp } from "../../routes/app.ts";
import { EngineCrashedError, EngineProcess } from "../../gpu/engine_process.ts";
import { ConfigEnv, configHelp, isLoopback, loadConfig } from "../../lib/service_config.ts";
import type { Engine } from "../../lib/engine_interface.ts";
import { JobQueue } from "../../lib/jobs/queue.ts";
import { RemoteError } from "../../lib/rpc/peer.ts";
import { Metrics } from "../../lib/metrics.ts";
import { jobsGauge } from "../../lib/jobs/metrics.ts";
import { meteredEngine } from "../../lib/metered_engine.ts";
import { openStore } from "../../lib/store/mod.ts";
import { fakeGpu } from "./_probe.ts";
import { call, withService } from "./_service.ts";
import { TINY_SWEEP_TRAINING } from "./_fixtures.ts";

Deno.test("without a token only loopback is served, unless explicitly allowed", () => {
  assert.ok(isLoopback("127.0.0.1") && isLoopback("localhost") && isLoopback("[::1]"));
  assert.ok(!isLoopback("0.0.0.0") && !isLoopback("10.0.0.5"));
  assert.throws(() => loadConfig({ HOST: "0.0.0.0" }), /MEMCAP_TOKEN is not set/);
  const strong = "s3cret-s3cret-s3cret";
  assert.equal(loadConfig({ HOST: "0.0.0.0", MEMCAP_TOKEN: strong }).host, "0.0.0.0");
  // A short token is a guessable one on a network; loopback keeps any token.
  assert.throws(
    () => loadConfig({ HOST: "0.0.0.0", MEMCAP_TOKEN: "a" }),
    /MEMCAP_TOKEN has 1 characters; it needs at least 16/,
  );
  assert.equal(loadConfig({ MEMCAP_TOKEN: "a" }).token, "a");
  assert.equal(loadConfig({ HOST: "0.0.0.0", MEMCAP_ALLOW_UNAUTHENTICATED: "1" }).host, "0.0.0.0");
  assert.equal(loadConfig({}).host, "127.0.0.1");
  assert.throws(() => loadConfig({ MEMCAP_GPU_MEMORY_MB: "-3" }), /MEMCAP_GPU_MEMORY_MB/);
});

Deno.test("MEMCAP_WORKER=0 is a node that runs no jobs, only beside a shared database", () => {
  assert.equal(loadConfig({}).worker, true);
  assert.throws(() => loadConfig({ MEMCAP_WORKER: "0" }), /MEMCAP_WORKER=0.*MEMCAP_DATABASE_URL/);
  const url = "postgres://memcap@db:5432/memcap";
  assert.equal(loadConfig({ MEMCAP_WORKER: "0", MEMCAP_DATABASE_URL: url }).worker, false);
  assert.throws(() => loadConfig({ MEMCAP_WORKER: "no" }), /MEMCAP_WORKER/);
});

Deno.test("a MEMCAP_TOKEN no bearer header can carry stops the start with the allowed set", () => {
  // Hono's bearer auth takes [A-Za-z0-9._~+/-]+=* only; anything else would lock everyone out.
  for (const bad of ["two words", "pässwörd", "a=b", "tok,en", "x\ty", '"quoted"', "=="]) {
    assert.throws(
      () => loadConfig({ MEMCAP_TOKEN: bad }),
      (e: Error) =>
        /MEMCAP_TOKEN/.test(e.message) && /\. _ ~ \+ \/ -/.test(e.message) &&
        !e.message.includes(bad), // the message names the rule, never the secret
      bad,
    );
  }
  for (const good of ["s3cret", "A-Z_a.z~0+9/x", "dG9rZW4=", "abc=="]) {
    assert.equal(loadConfig({ MEMCAP_TOKEN: good }).token, good);
  }
});

const engine: Engine = {
  gpu: fakeGpu,
  checkFits: () => Promise.resolve(),
  likelihood: () => Promise.reject(new Error("unused")),
  greedyDecode: () => Promise.reject(new Error("unused")),
  runJob: () => new Promise(() => {}),
};

async function withParts(
  fn: (t: { app: ReturnType<typeof createApp>; metrics: Metrics; jobs: JobQueue }) => Promise<void>,
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
    await fn({ app, metrics, jobs });
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A dataset and a model of 16 tokens x 8 positions, through the API. */
async function tinyRecords(app: ReturnType<typeof createApp>) {
  const ds = await (await app.request(
    "/v1/datasets",
    json({ kind: "uniform", vocabSize: 16, seqLen: 8, count: 4, seed: 1 }),
  )).json();
  const model = await (await app.request(
    "/v1/models",
    json({ config: { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 2 } }),
  )).json();
  return { ds, model };
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

Deno.test("a request that runs too long answers 504 and its engine call is told to stop", async () => {
  let release = () => {};
  let engineSignal: AbortSignal | undefined;
  const slow: Engine = {
    ...engine,
    likelihood: (_req, signal) => {
      engineSignal = signal;
      return new Promise((resolve) => (release = () => resolve({ bits: new Float64Array(1) })));
    },
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
    assert.ok(engineSignal?.aborted, "the engine's signal is aborted with the timeout");
    assert.equal((engineSignal.reason as { code?: string }).code, "timeout");
    release();
  }, { engine: slow, requestTimeoutMs: 200 });
});

Deno.test("a client that leaves mid-request over TCP aborts its engine call; one that stays does not", async () => {
  let started = () => {};
  const signals: AbortSignal[] = [];
  const slow: Engine = {
    ...engine,
    likelihood: (_req, signal) => {
      signals.push(signal!);
      started();
      // Answers after 300 ms unless told to stop, as the GPU engine does between batches.
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => resolve({ bits: new Float64Array(1) }), 300);
        signal?.addEventListener("abort", () => {
          clearTimeout(timer);
          reject(signal.reason);
        });
      });
    },
  };
  await withParts(async ({ app }) => {
    const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, app.fetch);
    try {
      const base = `http://127.0.0.1:${server.addr.port}`;
      const model = await (await fetch(
        `${base}/v1/models`,
        json({
          config: { vocabSize: 16, seqLen: 4, layers: 1, dModel: 8, heads: 2 },
        }),
      )).json();
      const url = `${base}/v1/models/${model.id}/likelihood`;
      const body = json({ sequences: [[1, 2, 3, 4]] });

      const kept = await fetch(url, body);
      assert.equal(kept.status, 200);
      await kept.body?.cancel();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(signals[0].aborted, false, "a delivered response does not abort its signal");

      const client = new AbortController();
      const begun = new Promise<void>((r) => (started = r));
      const left = fetch(url, { ...body, signal: client.signal }).catch((e) => e);
      await begun;
      client.abort();
      await left;
      for (let i = 0; i < 50 && !signals[1].aborted; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(signals[1].aborted, "the engine call of the client that left is aborted");
    } finally {
      await server.shutdown();
    }
  }, { engine: slow });
});

Deno.test("once shutdown has begun, new jobs get 503 shutting_down", async () => {
  await withParts(async ({ app, jobs }) => {
    const { ds, model } = await tinyRecords(app);
    const run = {
      modelId: model.id,
      datasetId: ds.id,
      optimizer: { type: "sgd", lr: 0.1 },
      batchSize: 4,
      steps: 5,
    };
    const sweep = {
      config: model.config,
      datasetSizes: [2],
      seeds: [0],
      training: TINY_SWEEP_TRAINING,
    };
    await jobs.stop(); // what main.ts does first on SIGINT/SIGTERM
    for (const [path, body] of [["/v1/runs", run], ["/v1/capacity", sweep]] as const) {
      const res = await app.request(path, json(body));
      const got = await res.json();
      assert.equal(res.status, 503, `${path}: ${JSON.stringify(got)}`);
      assert.equal(got.error.code, "shutting_down");
      assert.match(got.error.message, /shutting down/);
    }
    assert.equal((await (await app.request("/v1/runs")).json()).items.length, 0, "none stored");
  });
});

Deno.test("an engine that crashed or has no GPU gives 503 with the reason, not a bare 500", async () => {
  let failure: Error | null = null; // set once the records exist
  const failing: Engine = {
    ...engine,
    checkFits: () => failure ? Promise.reject(failure) : Promise.resolve(),
    likelihood: () => Promise.reject(failure),
  };
  await withParts(async ({ app }) => {
    const { ds, model } = await tinyRecords(app);
    const requests: [string, unknown][] = [
      ["/v1/runs", {
        modelId: model.id,
        datasetId: ds.id,
        optimizer: { type: "sgd", lr: 0.1 },
        batchSize: 4,
        steps: 5,
      }],
      ["/v1/capacity", {
        config: model.config,
        datasetSizes: [2],
        seeds: [0],
        training: TINY_SWEEP_TRAINING,
      }],
      [`/v1/models/${model.id}/likelihood`, { datasetId: ds.id }],
    ];
    const cases = [
      { error: new EngineCrashedError("killed by SIGKILL"), code: "engine_crashed" },
      // How a missing adapter arrives from the engine process.
      {
        error: new RemoteError({ name: "NoGpuError", message: "No WebGPU adapter is available" }),
        code: "gpu_unavailable",
      },
    ];
    for (const { error, code } of cases) {
      failure = error;
      for (const [path, body] of requests) {
        const res = await app.request(path, json(body));
        const got = await res.json();
        assert.equal(res.status, 503, `${path}: ${JSON.stringify(got)}`);
        assert.equal(got.error.code, code, path);
        assert.ok(got.error.message.includes(error.message), got.error.message);
      }
    }
  }, { engine: failing });
});

/** `name{labels} value` lines of a scrape, by series (labels as rendered, sorted by name). */
function series(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^(\w+(?:\{.*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

Deno.test("/metrics values: tokens, jobs and GPU time after a run; a restart per engine crash", async () => {
  await withService<EngineProcess>(async ({ app, jobs, engine }) => {
    const scrape = async () => series(await (await app.request("/metrics")).text());
    assert.equal((await scrape()).get("memcap_engine_restarts_total"), 0);
    const ds = await call(app, "POST", "/v1/datasets", {
      kind: "uniform",
      vocabSize: 16,
      seqLen: 8,
      count: 4,
      seed: 1,
    });
    const config = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 2 };
    const model = await call(app, "POST", "/v1/models", { config, seed: 1 });
    const run = await call(app, "POST", "/v1/runs", {
      modelId: model.json.id,
      datasetId: ds.json.id,
      optimizer: { type: "adamw", lr: 0.01 },
      batchSize: 4,
      steps: 20,
    });
    assert.equal(run.status, 202, JSON.stringify(run.json));
    const done = await jobs.wait("runs", run.json.id, 60_000);
    assert.equal(done.status, "succeeded", JSON.stringify(done.error));

    const after = await scrape();
    // 20 steps x 4 sequences x 8 tokens.
    assert.equal(after.get('memcap_tokens_trained_total{kind="train"}'), 20 * 4 * 8);
    assert.equal(after.get('memcap_jobs{collection="runs",status="succeeded"}'), 1);
    assert.equal(after.get('memcap_jobs{collection="runs",status="running"}'), 0);
    assert.ok(after.get('memcap_gpu_seconds_total{kind="train"}')! > 0, "GPU seconds");
    assert.equal(after.get("memcap_engine_restarts_total"), 0);

    await engine.injectCrash();
    for (let i = 0; i < 200 && engine.crashes === 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal((await scrape()).get("memcap_engine_restarts_total"), 1);
  }, (metrics) => new EngineProcess({ env: { MEMCAP_TEST_FAULTS: "1" }, metrics, log: () => {} }));
});

Deno.test("deno task start --help lists every variable with what it does, and starts nothing", async () => {
  const help = configHelp();
  for (const name of Object.keys(ConfigEnv.shape)) {
    assert.match(help, new RegExp(`^  ${name} +\\S`, "m"), `${name} has a description`);
  }
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "--help"],
    env: { PORT: "0", MEMCAP_DATA: "/nonexistent/memcap-help" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0);
  assert.match(text, /^usage: deno task start/);
  assert.doesNotMatch(text, /listening/);
});

Deno.test("deno task experiment names an unknown study before the usage", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "experiments/run.ts", "capacity-gird"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 2);
  assert.match(new TextDecoder().decode(out.stderr), /unknown study "capacity-gird"/);
  assert.match(new TextDecoder().decode(out.stdout), /^usage: deno task experiment/);
});
