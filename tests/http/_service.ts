// The whole service in-process for API tests: a real store in a temporary
// folder, a started job queue, the GPU engine (software adapter in CI) and
// the app. Everything is closed and removed afterwards.
import { getGpu } from "../../gpu/device.ts";
import { GpuEngine } from "../../gpu/engine.ts";
import type { Engine } from "../../lib/engine.ts";
import { registerEngineJobs } from "../../lib/jobs/engine_jobs.ts";
import { createApp } from "../../routes/app.ts";
import { JobQueue } from "../../lib/jobs/queue.ts";
import { openStore } from "../../lib/store/mod.ts";
import type { Store } from "../../lib/store/store.ts";

export type App = ReturnType<typeof createApp>;

export interface Service<E extends Engine = GpuEngine> {
  app: App;
  store: Store;
  jobs: JobQueue;
  engine: E;
}

/** The service with the in-process engine, or with `engine` (e.g. an EngineProcess). */
export async function withService<E extends Engine = GpuEngine>(
  fn: (s: Service<E>) => Promise<void>,
  makeEngine: () => E = () => new GpuEngine(getGpu) as unknown as E,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "memcap_service_" });
  const store = await openStore({ dataDir: dir });
  const jobs = new JobQueue(store, { pollMs: 100 });
  const engine = makeEngine();
  registerEngineJobs(engine, jobs);
  await jobs.start();
  try {
    const app = createApp({ gpu: () => engine.gpu(), store, jobs, engine, log: () => {} });
    await fn({ app, store, jobs, engine });
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
