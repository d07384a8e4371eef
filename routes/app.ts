// createApp(deps): the whole HTTP service as a Hono app, without listening. main.ts serves it;
// tests call `app.request(...)`. To add a resource, write `routes/<name>.ts` exporting
// `<name>Router(deps): ApiRouter` and list it in `resourceRouters` below.

import { type ErrorHandler, Hono, type MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import type { OpenAPIObject } from "openapi3-ts/oas31";
import { healthRouter } from "./health.ts";
import { docsRouter } from "./docs.ts";
import { dashboardRouter } from "./dashboard.ts";
import { datasetsRouter } from "./datasets.ts";
import { modelsRouter } from "./models.ts";
import { runsRouter } from "./runs.ts";
import { capacityRouter } from "./capacity.ts";
import { metricsRouter } from "./metrics.ts";
import { likelihoodRouter } from "./likelihood.ts";
import { memorizationRouter } from "./memorization.ts";
import { membershipRouter } from "./membership.ts";
import { extractionRouter } from "./extraction.ts";
import { predictRouter } from "./predict.ts";
import type { AppDeps } from "../lib/http/deps.ts";
import { ShuttingDownError } from "../lib/jobs/queue.ts";
import { isOutOfSpace, outOfSpaceMessage, StorageFullError } from "../lib/store/disk_space.ts";
import { isDatabaseUnavailable } from "../lib/store/pg_store.ts";
import { ApiError, createErrorHandler, notFoundHandler } from "../lib/http/errors.ts";
import { buildOpenApiDocument } from "../lib/http/openapi.ts";
import type { ApiRouter, AppEnv, RouteSpec } from "../lib/http/route.ts";
import { VERSION } from "../lib/version.ts";

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

export interface AppOptions {
  /** Extra routers mounted after the built-in ones (tests use this for probe routes). */
  routers?: ApiRouter[];
}

/** The routers of the /v1 resources, in the order they appear in the document. */
function resourceRouters(deps: AppDeps): ApiRouter[] {
  const routers = [healthRouter(deps)];
  const store = deps.store;
  if (store) routers.push(datasetsRouter({ ...deps, store }), modelsRouter({ ...deps, store }));
  const { jobs, engine, metrics } = deps;
  if (metrics) routers.push(metricsRouter({ ...deps, metrics }));
  if (store && jobs) {
    routers.push(runsRouter({ ...deps, store, jobs }), capacityRouter({ ...deps, store, jobs }));
  }
  if (store && engine) {
    routers.push(
      likelihoodRouter({ ...deps, store, engine }),
      memorizationRouter({ ...deps, store, engine }),
      membershipRouter({ ...deps, store, engine }),
      extractionRouter({ ...deps, store, engine }),
    );
  }
  // Pure arithmetic on sizes: served even without a store or an engine.
  routers.push(predictRouter(deps));
  return routers;
}

/**
 * Errors by which a request fails through no fault of its own, as 503s that say why, so a
 * client can tell "retry later" from a bug (a bare 500). The engine's errors are matched by
 * name because routes do not import gpu/: EngineCrashedError (gpu/engine_process.ts: the
 * engine process died under the call; the next call starts a new one) and NoGpuError
 * (gpu/device.ts: no WebGPU adapter; across the process boundary it arrives as a
 * RemoteError of that name).
 */
function unavailable(err: unknown): ApiError | null {
  if (err instanceof ShuttingDownError) return new ApiError(503, err.code, err.message);
  if (!(err instanceof Error)) return null;
  if (err.name === "EngineCrashedError") {
    return new ApiError(503, "engine_crashed", `${err.message}; it restarts, retry the request`);
  }
  if (err.name === "NoGpuError") return new ApiError(503, "gpu_unavailable", err.message);
  if (isDatabaseUnavailable(err)) {
    return new ApiError(
      503,
      "database_unavailable",
      `the database cannot be reached (${err.message}); retry the request`,
    );
  }
  return null;
}

/**
 * 507 storage_full for a write refused under the free-space floor (StorageFullError, see
 * lib/store/disk_space.ts) and for a disk that filled up anyway (ENOSPC, SQLite's "database or
 * disk is full"): the client learns that deletes still work instead of getting a bare 500.
 */
function storageFull(err: unknown, deps: AppDeps): ApiError | null {
  if (err instanceof ApiError || !isOutOfSpace(err)) return null;
  if (err instanceof StorageFullError) {
    return new ApiError(507, err.code, err.message, err.details);
  }
  // The floor should have kept this from happening: say so in the log.
  (deps.log ?? ((m, e) => console.error(m, e)))("[memcap] the data folder is full:", err);
  return new ApiError(507, "storage_full", outOfSpaceMessage(err as Error));
}

/** The shared error handler, with the 503s and 507s above mapped first. */
function errorHandler(deps: AppDeps): ErrorHandler {
  const handle = createErrorHandler({ log: deps.log });
  return (err, c) => handle(unavailable(err) ?? storageFull(err, deps) ?? err, c);
}

const API_DESCRIPTION =
  "memcap measures how much a language model memorizes: it trains small GPT-style " +
  "transformers on the GPU (WebGPU), evaluates likelihoods, and reports memorization and " +
  "capacity in bits (Morris et al., 2025). Errors are " +
  '`{"error": {"code", "message", "details"?}}`; long work is a job (202, then poll or stream).';

export function createApp(deps: AppDeps, options: AppOptions = {}): Hono<AppEnv> {
  const routers = [...resourceRouters(deps), ...(options.routers ?? [])];
  const routes: RouteSpec[] = [];
  let document: OpenAPIObject | undefined;
  const docs = docsRouter(() =>
    document ??= buildOpenApiDocument(routes, {
      title: "memcap",
      version: VERSION,
      description: API_DESCRIPTION,
      auth: Boolean(deps.token),
    })
  );
  routers.push(docs, dashboardRouter());
  for (const r of routers) routes.push(...r.routes);

  const app = new Hono<AppEnv>();
  app.onError(errorHandler(deps));
  app.notFound(notFoundHandler);

  const maxBodyBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  app.use("*", async (c, next) => {
    c.set("maxBodyBytes", maxBodyBytes);
    c.set("signal", c.req.raw.signal);
    await next();
  });
  if (deps.requestTimeoutMs) {
    // Answer 504 when a request runs too long (a huge likelihood request on a slow adapter).
    // Streams (SSE) are exempt: their handlers return at once and the stream goes on.
    // The request's signal aborts too, so the engine stops the abandoned work.
    const ms = deps.requestTimeoutMs;
    app.use("/v1/*", async (c, next) => {
      const timeout = new AbortController();
      c.set("signal", AbortSignal.any([c.get("signal"), timeout.signal]));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const error = new ApiError(
            504,
            "timeout",
            `the request took longer than ${ms / 1000} s; ` +
              "send less work per request (fewer sequences) or use a job",
          );
          timeout.abort(error);
          reject(error);
        }, ms);
      });
      try {
        await Promise.race([next(), expired]);
      } finally {
        clearTimeout(timer);
      }
    });
  }
  const metrics = deps.metrics;
  if (metrics) {
    // Latency by route pattern (not by raw path: ids would explode the series).
    app.use("*", async (c, next) => {
      const t0 = performance.now();
      await next();
      const route = c.req.routePath === "/*" ? "unmatched" : c.req.routePath;
      const labels = { method: c.req.method, route };
      metrics.requests.inc({ ...labels, status: String(c.res.status) });
      metrics.latency.observe(labels, (performance.now() - t0) / 1000);
    });
  }

  if (deps.token) {
    const publicRoutes = new Set<string>();
    for (const r of routes.filter((r) => r.public && r.path.startsWith("/v1/"))) {
      if (r.path.includes(":")) throw new Error(`Public route ${r.path} cannot have parameters`);
      publicRoutes.add(`${r.method.toUpperCase()} ${r.path}`);
      if (r.method === "get") publicRoutes.add(`HEAD ${r.path}`);
    }
    const auth = bearerAuth({ token: deps.token });
    const guard: MiddlewareHandler = (c, next) => {
      if (publicRoutes.has(`${c.req.method} ${c.req.path}`)) return next();
      return auth(c, next);
    };
    app.use("/v1/*", guard);
    app.use("/metrics", guard);
  }

  const space = deps.space;
  if (space) {
    // Under the free-space floor, routes that store something new (those declaring a 507)
    // answer 507 storage_full before reading their body; everything else goes through.
    const checkSpace: MiddlewareHandler = async (_c, next) => {
      await space.checkNewWork();
      await next();
    };
    for (const r of routes.filter((r) => r.responses[507])) {
      app.on(r.method.toUpperCase(), r.path, checkSpace);
    }
  }

  for (const r of routers) app.route("/", r.hono);
  return app;
}
