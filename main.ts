// Wiring only: configuration from the environment, the store, the job queue,
// the GPU engine (a child process) and the HTTP server; graceful shutdown on
// SIGINT/SIGTERM.

import { EngineProcess } from "./gpu/engine_process.ts";
import { registerEngineJobs } from "./lib/jobs/engine_jobs.ts";
import { createApp } from "./routes/app.ts";
import { isLoopback, loadConfig } from "./lib/config.ts";
import { JobQueue } from "./lib/jobs/queue.ts";
import { jobsGauge } from "./lib/jobs/metrics.ts";
import { Metrics } from "./lib/metrics.ts";
import { meteredEngine } from "./lib/metered_engine.ts";
import { openStore } from "./lib/store/mod.ts";
import { VERSION } from "./lib/version.ts";

const config = loadConfig();
await Deno.mkdir(config.dataDir, { recursive: true });

const store = await openStore({ dataDir: config.dataDir });
const jobs = new JobQueue(store, { maxQueued: config.maxQueued });
const metrics = new Metrics();
metrics.addGauge(jobsGauge(store));
// The GPU engine runs in a supervised child process: see gpu/engine_process.ts. It counts
// its restarts into memcap_engine_restarts_total.
const engineProcess = new EngineProcess({
  log: (m) => console.warn(m),
  memoryBudgetBytes: config.gpuMemoryBytes,
  watchdogMs: config.engineWatchdogMs,
  metrics,
});
const engine = meteredEngine(engineProcess, metrics);
registerEngineJobs(engine, jobs);

const app = createApp({
  gpu: () => engine.gpu(),
  queue: { depth: async () => ((d) => d.queued + d.running)(await jobs.depth()) },
  store,
  jobs,
  engine,
  metrics,
  token: config.token,
  maxBodyBytes: config.maxBodyBytes,
  requestTimeoutMs: config.requestTimeoutMs,
});

const server = Deno.serve({
  hostname: config.host,
  port: config.port,
  onListen: ({ hostname, port }) => {
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    console.log(`memcap ${VERSION} listening on http://${host}:${port}`);
    console.log(`data: ${config.dataDir}; auth: ${config.token ? "bearer token" : "none"}`);
    if (!config.token && isLoopback(config.host)) {
      console.log("no MEMCAP_TOKEN: serving this machine only (loopback); set it to listen wider");
    } else if (!config.token) {
      console.warn(`WARNING: ${config.host} is served without authentication`);
    }
  },
}, app.fetch);

// Report the adapter without holding up the listener (the first request may take a moment).
// A shutdown that closes the engine before it answers is no adapter problem: no warning then.
engine.gpu().then(
  (g) => console.log(`gpu: ${g.description} (${g.backend}${g.software ? ", software" : ""})`),
  (err) => {
    if (!stopping) console.warn(`gpu: unavailable: ${err instanceof Error ? err.message : err}`);
  },
);
await jobs.start();

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: shutting down`);
  // From here new jobs are refused (503 shutting_down) while the server still answers;
  // running jobs checkpoint, go back to the queue and resume at the next start.
  await jobs.stop();
  await server.shutdown();
  await engineProcess.close();
  await store.close();
  Deno.exit(0);
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => void shutdown(signal));
}
await server.finished;
