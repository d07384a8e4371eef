// GET /v1/health: is the service up, which adapter computes, how much work is waiting.

import { z } from "zod";
import type { AppDeps } from "../lib/http/deps.ts";
import { ApiRouter, defineRoute } from "../lib/http/route.ts";
import { VERSION } from "../lib/version.ts";

export const GpuSummary = z.object({
  backend: z.string().meta({ description: 'wgpu backend: "vulkan", "gl", "metal", ...' }),
  description: z.string().meta({ description: "The adapter's own description." }),
  software: z.boolean().meta({ description: "True for CPU rasterizers (llvmpipe, lavapipe)." }),
  limits: z.record(z.string(), z.number()).meta({ description: "Device limits in use." }),
}).meta({ id: "GpuSummary" });

export const Health = z.object({
  status: z.enum(["ok", "degraded"]).meta({
    description: '"degraded" when no WebGPU adapter is available (see `error`).',
  }),
  version: z.string(),
  gpu: GpuSummary.nullable(),
  error: z.string().optional().meta({ description: "Why the GPU is unavailable." }),
  queue: z.object({
    depth: z.number().int().min(0).meta({ description: "Jobs queued or running." }),
  }),
}).meta({
  id: "Health",
  example: {
    status: "ok",
    version: VERSION,
    gpu: {
      backend: "vulkan",
      description: "NVIDIA H100 80GB HBM3",
      software: false,
      limits: { maxBufferSize: 4294967296, maxStorageBufferBindingSize: 4294967292 },
    },
    queue: { depth: 0 },
  },
});
export type Health = z.infer<typeof Health>;

const GPU_TIMEOUT_MS = 15_000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export const getHealth = defineRoute({
  method: "get",
  path: "/v1/health",
  summary: "Service health, version, GPU adapter and queue depth",
  description: 'Answers 200 even without a GPU: then `status` is "degraded" and `error` says why.',
  tags: ["health"],
  public: true,
  responses: { 200: { schema: Health, description: "Health report" } },
});

export function healthRouter(deps: AppDeps): ApiRouter {
  return new ApiRouter().add(getHealth, async (c) => {
    const depth = deps.queue ? await deps.queue.depth() : 0;
    let report: Health;
    try {
      const g = await withTimeout(deps.gpu(), GPU_TIMEOUT_MS, "GPU adapter request");
      report = {
        status: "ok",
        version: VERSION,
        gpu: {
          backend: g.backend,
          description: g.description,
          software: g.software,
          limits: g.limits,
        },
        queue: { depth },
      };
    } catch (err) {
      report = {
        status: "degraded",
        version: VERSION,
        gpu: null,
        error: err instanceof Error ? err.message : String(err),
        queue: { depth },
      };
    }
    return c.json(report, 200);
  });
}
