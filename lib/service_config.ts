// Service configuration from the environment, validated with zod so that a bad value stops
// the process at start with a message naming the variable.

import { z } from "zod";
import type { Budgets } from "./admission.ts";

const emptyToUndefined = (v: unknown) => (v === "" ? undefined : v);

/**
 * What Hono's bearer auth accepts after "Bearer " (RFC 6750's token68). A token with any
 * other character could never be sent: every request would get 400, locking everyone out.
 */
export const TOKEN_PATTERN = /^[A-Za-z0-9._~+/-]+=*$/;

/** Shortest MEMCAP_TOKEN accepted when the service listens beyond loopback (guessing stays hard). */
export const MIN_NETWORK_TOKEN_LENGTH = 16;

export const ConfigEnv = z.object({
  PORT: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(65535).default(8787))
    .meta({ description: "Listen port (0 picks a free one)." }),
  HOST: z.preprocess(emptyToUndefined, z.string().min(1).default("127.0.0.1"))
    .meta({ description: "Listen address." }),
  MEMCAP_DATA: z.preprocess(emptyToUndefined, z.string().min(1).default("./data"))
    .meta({ description: "Store and artifacts folder." }),
  MEMCAP_DATABASE_URL: z.preprocess(
    emptyToUndefined,
    z.string().regex(/^postgres(?:ql)?:\/\/\S+$/, {
      message: "must be a PostgreSQL URL, postgres://user:password@host:port/database",
    }).optional(),
  ).meta({
    description: "PostgreSQL URL (postgres://user:password@host:port/database): records and " +
      "artifacts live in that database instead of Deno KV in MEMCAP_DATA. Several nodes may " +
      "share one database: each runs jobs from the shared queue, and a job whose node died is " +
      "taken over by another (MEMCAP_JOB_LEASE_S). Unset: Deno KV.",
  }),
  MEMCAP_TOKEN: z.preprocess(
    emptyToUndefined,
    z.string().regex(TOKEN_PATTERN, {
      message: "may hold only letters, digits and . _ ~ + / - (then optional trailing =), " +
        "as a bearer token must; no spaces or other characters",
    }).optional(),
  )
    .meta({ description: "Bearer token required on /v1/* (except health) when set." }),
  MEMCAP_MAX_BODY_MB: z.preprocess(emptyToUndefined, z.coerce.number().positive().default(64))
    .meta({ description: "Default request body limit in MiB." }),
  MEMCAP_ALLOW_UNAUTHENTICATED: z.preprocess(emptyToUndefined, z.enum(["0", "1"]).default("0"))
    .meta({ description: "1 allows a non-loopback HOST without MEMCAP_TOKEN." }),
  MEMCAP_GPU_MEMORY_MB: z.preprocess(emptyToUndefined, z.coerce.number().positive().optional())
    .meta({ description: "GPU memory one model or fleet may use, MiB (default: adapter limits)." }),
  MEMCAP_REQUEST_TIMEOUT_S: z.preprocess(
    emptyToUndefined,
    z.coerce.number().positive().default(600),
  ).meta({ description: "Seconds a /v1 request may run before it answers 504." }),
  MEMCAP_MAX_QUEUED: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).default(100))
    .meta({ description: "Most queued jobs; more are refused with 429." }),
  MEMCAP_JOB_LEASE_S: z.preprocess(emptyToUndefined, z.coerce.number().min(1).default(30))
    .meta({
      description: "Seconds a node's claim on a running job lasts without a heartbeat (renewed " +
        "every third of it); a job whose node died is taken over by another node after this.",
    }),
  MEMCAP_MAX_RECOVERIES: z.preprocess(
    emptyToUndefined,
    z.coerce.number().int().min(0).default(3),
  ).meta({
    description: "Times a job may be found orphaned (its process or node died while it ran) " +
      "and resumed; the next time it fails with `interrupted`, so a job that crashes its " +
      "node cannot do so forever.",
  }),
  MEMCAP_WORKER: z.preprocess(emptyToUndefined, z.enum(["0", "1"]).default("1")).meta({
    description: "0 starts a node that serves HTTP and runs no jobs (needs MEMCAP_DATABASE_URL: " +
      "the other nodes sharing the database run them).",
  }),
  MEMCAP_SWEEP_CHECKPOINT_S: z.preprocess(
    emptyToUndefined,
    z.coerce.number().min(0).default(120),
  ).meta({
    description: "Training seconds between two checkpoints of a capacity sweep's fleet: what a " +
      "node that dies mid-fleet loses, traded against the checkpoint's writes.",
  }),
  MEMCAP_ENGINE_WATCHDOG_S: z.preprocess(
    emptyToUndefined,
    z.coerce.number().min(0).default(600),
  ).meta({
    description: "Seconds the engine process may go silent (its thread stuck) before it is " +
      "killed and restarted; 0 turns the watchdog off.",
  }),
  MEMCAP_MAX_CONNECTIONS: z.preprocess(
    emptyToUndefined,
    z.coerce.number().int().min(1).optional(),
  ).meta({
    description: "Most client connections held at once; at the cap the oldest idle one is " +
      "closed to admit a new one (default: what the descriptor limit leaves room for).",
  }),
  MEMCAP_HEADER_TIMEOUT_S: z.preprocess(
    emptyToUndefined,
    z.coerce.number().positive().default(10),
  ).meta({ description: "Seconds a client has to send a whole request head." }),
  MEMCAP_IDLE_TIMEOUT_S: z.preprocess(
    emptyToUndefined,
    z.coerce.number().positive().default(30),
  ).meta({ description: "Seconds a connection may sit idle between requests." }),
  MEMCAP_MIN_FREE_MB: z.preprocess(
    emptyToUndefined,
    z.coerce.number().min(0).default(256),
  ).meta({
    description: "Free space MEMCAP_DATA keeps for deletes and job state: below it, requests " +
      "that write are refused with 507 storage_full.",
  }),
  MEMCAP_MAX_HOST_MEMORY_MB: z.preprocess(
    emptyToUndefined,
    z.coerce.number().min(0).default(2048),
  ).meta({
    description: "Host memory (service and engine processes together, MiB) one request may " +
      "take by its estimate (lib/admission.ts): datasets held while training or scored, " +
      "checkpoints; more is refused with 422 over_budget. 0 turns the check off.",
  }),
  MEMCAP_MAX_JOB_TOKENS: z.preprocess(
    emptyToUndefined,
    z.coerce.number().min(0).default(1e12),
  ).meta({
    description: "Training tokens (steps × batchSize × seqLen, summed over its models) one run " +
      "or capacity sweep may process; more is refused with 422 over_budget. 0 turns it off.",
  }),
  MEMCAP_MAX_REQUEST_DISK_MB: z.preprocess(
    emptyToUndefined,
    z.coerce.number().min(0).default(8192),
  ).meta({
    description: "Disk (MiB) one request may write by its estimate: dataset files, " +
      "checkpoints, weights; more is refused with 422 over_budget. 0 turns it off.",
  }),
});

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  /** MEMCAP_DATABASE_URL: the PostgreSQL store's URL; undefined: Deno KV in dataDir. */
  databaseUrl?: string;
  token?: string;
  maxBodyBytes: number;
  gpuMemoryBytes?: number;
  maxQueued: number;
  /** MEMCAP_JOB_LEASE_S in ms: a node's claim on a running job without a heartbeat. */
  jobLeaseMs: number;
  requestTimeoutMs: number;
  /** MEMCAP_MAX_RECOVERIES: times a job found orphaned is resumed before it fails. */
  maxRecoveries: number;
  /** MEMCAP_WORKER: whether this node claims jobs (false only beside nodes that do). */
  worker: boolean;
  /** MEMCAP_SWEEP_CHECKPOINT_S: training seconds between a sweep fleet's checkpoints. */
  sweepCheckpointSeconds: number;
  /** 0: no watchdog (gpu/engine_process.ts). */
  engineWatchdogMs: number;
  /** Most client connections at once; undefined: from the descriptor limit. */
  maxConnections?: number;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  /** Free bytes MEMCAP_DATA keeps; writes below it answer 507 storage_full. */
  minFreeBytes: number;
  /** What one request may cost (lib/admission.ts); 0 (Infinity here) means no limit. */
  budgets: Budgets;
}

/** Parses the environment; throws an Error naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined> = Deno.env.toObject()): Config {
  const r = ConfigEnv.safeParse(env);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new Error(`Bad configuration: ${lines.join("; ")}`);
  }
  const e = r.data;
  if (!e.MEMCAP_TOKEN && !isLoopback(e.HOST) && e.MEMCAP_ALLOW_UNAUTHENTICATED !== "1") {
    throw new Error(
      `Bad configuration: HOST ${e.HOST} is reachable from other machines but MEMCAP_TOKEN is ` +
        "not set; set MEMCAP_TOKEN, or MEMCAP_ALLOW_UNAUTHENTICATED=1 to serve without auth",
    );
  }
  if (e.MEMCAP_WORKER === "0" && !e.MEMCAP_DATABASE_URL) {
    throw new Error(
      "Bad configuration: MEMCAP_WORKER=0 runs no jobs, and without MEMCAP_DATABASE_URL no " +
        "other node could run them; set MEMCAP_DATABASE_URL (shared with nodes that run jobs)",
    );
  }
  if (e.MEMCAP_TOKEN && !isLoopback(e.HOST) && e.MEMCAP_TOKEN.length < MIN_NETWORK_TOKEN_LENGTH) {
    throw new Error(
      `Bad configuration: HOST ${e.HOST} is reachable from other machines and MEMCAP_TOKEN has ` +
        `${e.MEMCAP_TOKEN.length} characters; it needs at least ${MIN_NETWORK_TOKEN_LENGTH} ` +
        "(e.g. openssl rand -hex 24)",
    );
  }
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir: e.MEMCAP_DATA,
    databaseUrl: e.MEMCAP_DATABASE_URL,
    token: e.MEMCAP_TOKEN,
    maxBodyBytes: Math.floor(e.MEMCAP_MAX_BODY_MB * 1024 * 1024),
    gpuMemoryBytes: e.MEMCAP_GPU_MEMORY_MB
      ? Math.floor(e.MEMCAP_GPU_MEMORY_MB * 2 ** 20)
      : undefined,
    maxQueued: e.MEMCAP_MAX_QUEUED,
    jobLeaseMs: e.MEMCAP_JOB_LEASE_S * 1000,
    requestTimeoutMs: e.MEMCAP_REQUEST_TIMEOUT_S * 1000,
    maxRecoveries: e.MEMCAP_MAX_RECOVERIES,
    worker: e.MEMCAP_WORKER === "1",
    sweepCheckpointSeconds: e.MEMCAP_SWEEP_CHECKPOINT_S,
    engineWatchdogMs: e.MEMCAP_ENGINE_WATCHDOG_S * 1000,
    maxConnections: e.MEMCAP_MAX_CONNECTIONS,
    headerTimeoutMs: e.MEMCAP_HEADER_TIMEOUT_S * 1000,
    idleTimeoutMs: e.MEMCAP_IDLE_TIMEOUT_S * 1000,
    minFreeBytes: Math.floor(e.MEMCAP_MIN_FREE_MB * 2 ** 20),
    budgets: {
      hostMemoryBytes: e.MEMCAP_MAX_HOST_MEMORY_MB > 0
        ? Math.floor(e.MEMCAP_MAX_HOST_MEMORY_MB * 2 ** 20)
        : Infinity,
      jobTokens: e.MEMCAP_MAX_JOB_TOKENS > 0 ? e.MEMCAP_MAX_JOB_TOKENS : Infinity,
      diskBytes: e.MEMCAP_MAX_REQUEST_DISK_MB > 0
        ? Math.floor(e.MEMCAP_MAX_REQUEST_DISK_MB * 2 ** 20)
        : Infinity,
    },
  };
}

/** `deno task start --help`: what the service reads from its environment, from the schema. */
export function configHelp(): string {
  const rows = Object.entries(ConfigEnv.shape).map(([name, schema]) => {
    const description = (schema as unknown as { meta(): { description?: string } | undefined })
      .meta()?.description ?? "";
    return `  ${name.padEnd(30)} ${description}`;
  });
  return [
    "usage: deno task start   (memcap's HTTP service; configured by environment variables)",
    "",
    ...rows,
    "",
    "The README's Environment table gives each default; GET /openapi.json and /docs the API.",
  ].join("\n");
}
