// What the HTTP layer needs from the rest of the process. main.ts builds these from the real
// parts (GPU device, store, job queue); tests pass fakes. Nothing here imports gpu/.

import type { Engine } from "../engine_interface.ts";
import type { JobQueue } from "../jobs/queue.ts";
import type { Store } from "../store/store.ts";
import type { Metrics } from "../metrics.ts";
import type { DiskSpace } from "../store/disk_space.ts";
import type { Budgets } from "../admission.ts";

/** What /v1/health reports about the compute adapter. */
export interface GpuSummary {
  /** "vulkan", "gl", "metal", ... */
  backend: string;
  description: string;
  /** True for CPU rasterizers (Mesa llvmpipe / lavapipe). */
  software: boolean;
  limits: Record<string, number>;
}

/** Resolves the adapter's summary; rejects when no WebGPU adapter is available. */
export type GpuProvider = () => Promise<GpuSummary>;

/** Read-only view of the job queue for health reporting. */
export interface QueueStats {
  /** Jobs queued or running. */
  depth(): number | Promise<number>;
}

export interface AppDeps {
  gpu: GpuProvider;
  queue?: QueueStats;
  /** The resource routes (datasets, models, runs, ...) are mounted only when these are given. */
  store?: Store;
  jobs?: JobQueue;
  engine?: Engine;
  /** /v1 requests running longer answer 504 (default: no limit). */
  requestTimeoutMs?: number;
  /** Request metrics are recorded and GET /metrics served when given. */
  metrics?: Metrics;
  /** When set, every /v1/* route except public ones needs `Authorization: Bearer <token>`. */
  token?: string;
  /** Default request body limit in bytes (routes may raise theirs). Default 64 MiB. */
  maxBodyBytes?: number;
  /**
   * The free-space floor of the data folder: routes that declare a 507 response answer
   * 507 storage_full under it, before reading their body (no check when absent).
   */
  space?: Pick<DiskSpace, "checkNewWork">;
  /**
   * What one request may cost (lib/admission.ts): larger ones get 422 over_budget
   * (default DEFAULT_BUDGETS).
   */
  budgets?: Budgets;
  /** Where unexpected errors are logged (default console.error). */
  log?: (message: string, err: unknown) => void;
}
