// The whole service in-process for API tests: a real store in a temporary
// folder, a started job queue, the GPU engine (software adapter in CI) and
// the app. Everything is closed and removed afterwards.
import { getGpu } from "../../gpu/device.ts";
import { GpuEngine } from "../../gpu/engine.ts";
import { registerEngineJobs } from "../../gpu/jobs/register.ts";
import { createApp } from "../../routes/app.ts";
import { JobQueue } from "../../lib/jobs/queue.ts";
import { openStore } from "../../lib/store/mod.ts";
import type { Store } from "../../lib/store/store.ts";

export type App = ReturnType<typeof createApp>;

export interface Service {
  app: App;
  store: Store;
  jobs: JobQueue;
  engine: GpuEngine;
}

export async function withService(fn: (s: Service) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "memcap_service_" });
  const store = await openStore({ dataDir: dir });
  const jobs = new JobQueue(store, { pollMs: 100 });
  const engine = new GpuEngine(getGpu);
  registerEngineJobs(engine, jobs);
  await jobs.start();
  try {
    const app = createApp({ gpu: () => engine.gpu(), store, jobs, engine, log: () => {} });
    await fn({ app, store, jobs, engine });
  } finally {
    await jobs.stop();
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
