// Wiring only: configuration from the environment, the store, the job queue,
// the GPU engine (a child process) and the HTTP server; graceful shutdown on
// SIGINT/SIGTERM.

import { EngineProcess } from "./gpu/engine_process.ts";
import { registerEngineJobs } from "./lib/jobs/engine_jobs.ts";
import { createApp } from "./routes/app.ts";
import { configHelp, isLoopback, loadConfig } from "./lib/service_config.ts";
import { ConnectionGuard, defaultMaxConnections } from "./lib/http/connection_guard.ts";
import { makeSocketDir } from "./lib/http/socket_dir.ts";
import { JobQueue } from "./lib/jobs/queue.ts";
import { jobsGauge } from "./lib/jobs/metrics.ts";
import { Metrics } from "./lib/metrics.ts";
import { meteredEngine } from "./lib/metered_engine.ts";
import { DiskSpace, openStore } from "./lib/store/mod.ts";
import { VERSION } from "./lib/version.ts";

if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
  console.log(configHelp());
  Deno.exit(0);
}
const config = loadConfig();
await Deno.mkdir(config.dataDir, { recursive: true });

// Under MEMCAP_MIN_FREE_MB free, new work is refused (507) so deletes and job state always fit.
const space = new DiskSpace(config.dataDir, config.minFreeBytes);
const store = await openStore({ dataDir: config.dataDir, space, databaseUrl: config.databaseUrl })
  .catch((e) => {
    // A database that is unreachable: say so in one line.
    console.error(`memcap: cannot open the store: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  });
// On PostgreSQL other nodes may share the queue: jobs carry leases, and a job whose node died
// is taken over once its lease (MEMCAP_JOB_LEASE_S) runs out.
const jobs = new JobQueue(store, {
  maxQueued: config.maxQueued,
  leaseMs: config.jobLeaseMs,
  shared: Boolean(config.databaseUrl),
  worker: config.worker,
  maxRecoveries: config.maxRecoveries,
});
const metrics = new Metrics();
metrics.addGauge(jobsGauge(store));
// The GPU engine runs in a supervised child process: see gpu/engine_process.ts. It counts
// its restarts into memcap_engine_restarts_total.
const engineProcess = new EngineProcess({
  log: (m) => console.warn(m),
  memoryBudgetBytes: config.gpuMemoryBytes,
  sweepCheckpointSeconds: config.sweepCheckpointSeconds,
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
  space,
  requestTimeoutMs: config.requestTimeoutMs,
  budgets: config.budgets,
});

// Deno.serve answers on a private Unix socket; clients reach it through the guard, which
// owns the TCP port and bounds what a connection may hold (lib/http/connection_guard.ts).
const socketDir = await makeSocketDir(config.dataDir);
let generation = 0;
let server = serveHttp();
const maxConnections = config.maxConnections ?? defaultMaxConnections();
const guard = ConnectionGuard.listen({
  hostname: config.host,
  port: config.port,
  upstreamPath: `${socketDir}/http-1.sock`,
  maxConnections,
  headerTimeoutMs: config.headerTimeoutMs,
  idleTimeoutMs: config.idleTimeoutMs,
  metrics,
});
{
  const { hostname, port } = guard.addr;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  console.log(`memcap ${VERSION} listening on http://${host}:${port}`);
  console.log(`data: ${config.dataDir}; auth: ${config.token ? "bearer token" : "none"}`);
  console.log(
    `connections: at most ${maxConnections}; request heads within ` +
      `${config.headerTimeoutMs / 1000} s, idle ${config.idleTimeoutMs / 1000} s`,
  );
  if (!config.token && isLoopback(config.host)) {
    console.log("no MEMCAP_TOKEN: serving this machine only (loopback); set it to listen wider");
  } else if (!config.token) {
    console.warn(`WARNING: ${config.host} is served without authentication`);
  }
}
metrics.addGauge({
  name: "memcap_connections_open",
  help: "Client connections held now.",
  read: () => Promise.resolve([{ labels: {}, value: guard.connections }]),
});

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
  await guard.stopAccepting();
  await server.shutdown();
  await guard.close();
  await Deno.remove(socketDir, { recursive: true }).catch(() => {});
  await engineProcess.close();
  await store.close();
  Deno.exit(0);
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => void shutdown(signal));
}

/**
 * Deno.serve on a fresh socket. Its accept loop ends for good when the process runs out of
 * descriptors; then a new one takes its place (retrying while descriptors are short) rather
 * than the process ending with it.
 */
function serveHttp(): Deno.HttpServer {
  const path = `${socketDir}/http-${++generation}.sock`;
  const s = Deno.serve({ path, onListen: () => {} }, app.fetch);
  s.finished.catch((err) => {
    if (stopping) return;
    console.warn(
      `http: the server stopped (${err instanceof Error ? err.message : err}); restarting it`,
    );
    Deno.remove(path).catch(() => {});
    const restart = () => {
      if (stopping) return;
      try {
        server = serveHttp();
        guard.upstreamPath = `${socketDir}/http-${generation}.sock`;
      } catch (e) {
        console.warn(`http: restart failed (${e instanceof Error ? e.message : e}); retrying`);
        setTimeout(restart, 100);
      }
    };
    restart();
  });
  return s;
}
