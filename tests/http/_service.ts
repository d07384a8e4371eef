// The whole service in-process for API tests: a real store (Deno KV in a
// temporary folder, or PostgreSQL: tests/http/_stores.ts), a started job queue, the GPU engine (software adapter in CI) and
// the app, wired as main.ts wires them (metrics and /metrics, a request
// timeout). Everything is closed and removed afterwards.
import { getGpu } from "../../gpu/device.ts";
import { GpuEngine } from "../../gpu/engine.ts";
import type { Engine } from "../../lib/engine_interface.ts";
import { registerEngineJobs } from "../../lib/jobs/engine_jobs.ts";
import { createApp } from "../../routes/app.ts";
import { JobQueue } from "../../lib/jobs/queue.ts";
import { jobsGauge } from "../../lib/jobs/metrics.ts";
import { Metrics } from "../../lib/metrics.ts";
import { meteredEngine } from "../../lib/metered_engine.ts";
import { openTestStore, type StoreBackend } from "./_stores.ts";
import type { Store } from "../../lib/store/store.ts";
import type { ModelConfig } from "../../lib/model/schemas.ts";

export type App = ReturnType<typeof createApp>;

export interface Service<E extends Engine = GpuEngine> {
  app: App;
  store: Store;
  jobs: JobQueue;
  /** The engine itself (test hooks such as injectCrash); the app sees it metered. */
  engine: E;
  metrics: Metrics;
}

/**
 * Generous: only a hung request should hit it (a 504 is a 5xx, which the fuzz test counts
 * as a failure), yet the middleware runs on every request as in main.ts.
 */
const REQUEST_TIMEOUT_MS = 120_000;

/**
 * The service with the in-process engine, or with `makeEngine`'s (e.g. an EngineProcess,
 * which may count its restarts into `metrics`).
 */
export async function withService<E extends Engine = GpuEngine>(
  fn: (s: Service<E>) => Promise<void>,
  makeEngine: (metrics: Metrics) => E = () => new GpuEngine(getGpu) as unknown as E,
  backend: StoreBackend = "kv",
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "memcap_service_" });
  const store = await openTestStore(backend, dir);
  const jobs = new JobQueue(store, { pollMs: 100 });
  const metrics = new Metrics();
  metrics.addGauge(jobsGauge(store));
  const engine = makeEngine(metrics);
  const metered = meteredEngine(engine, metrics);
  registerEngineJobs(metered, jobs);
  await jobs.start();
  try {
    const app = createApp({
      gpu: () => metered.gpu(),
      store,
      jobs,
      engine: metered,
      metrics,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      log: () => {},
    });
    await fn({ app, store, jobs, engine, metrics });
  } finally {
    await jobs.stop();
    await (engine as { close?: () => Promise<void> }).close?.();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

export async function call(
  app: App,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: any }> {
  const res = await app.request(path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/** A uniform dataset and an untrained model that fits it, through the API; their ids. */
export async function datasetAndModel(
  app: App,
  o: { config: ModelConfig; count: number; seed?: number; modelSeed?: number },
): Promise<{ datasetId: string; modelId: string }> {
  const ds = await call(app, "POST", "/v1/datasets", {
    kind: "uniform",
    vocabSize: o.config.vocabSize,
    seqLen: o.config.seqLen,
    count: o.count,
    seed: o.seed ?? 1,
  });
  if (ds.status !== 201) throw new Error(`dataset: ${ds.status} ${JSON.stringify(ds.json)}`);
  const model = await call(app, "POST", "/v1/models", { config: o.config, seed: o.modelSeed ?? 1 });
  if (model.status !== 201) throw new Error(`model: ${model.status} ${JSON.stringify(model.json)}`);
  return { datasetId: ds.json.id, modelId: model.json.id };
}
