// memcap's TypeScript client: openapi-fetch over the types generated from the service's own
// OpenAPI document (openapi.gen.ts), so every call is checked against the spec, plus what
// every caller of a job API writes otherwise: waiting for a job with its progress. The CLI
// (cli/memcap.ts) and the studies (experiments/) use it.
import createClient from "openapi-fetch";
import type { components, paths } from "./openapi.gen.ts";

export type { components, paths };
export type Schemas = components["schemas"];

export type Api = ReturnType<typeof createClient<paths>>;

/** An error response of the service, as its client sees it. */
export class ServiceError extends Error {
  constructor(readonly status: number, readonly body: unknown, what: string) {
    super(`${what}: HTTP ${status} ${JSON.stringify(body)}`);
  }
}

/** A client of the service at `url`; `token` is sent as a bearer token (MEMCAP_TOKEN). */
export function memcapClient(url: string, token?: string): Api {
  return createClient<paths>({
    baseUrl: url.replace(/\/$/, ""),
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
}

/** The body of a successful call, else a ServiceError with the status and the error body. */
export async function unwrap<T>(
  what: string,
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok || data === undefined) {
    throw new ServiceError(response.status, error ?? null, what);
  }
  return data;
}

const ENDED = ["succeeded", "failed", "cancelled"];

/**
 * Polls a job until it ends, calling `onProgress` with each state read; returns the last
 * state, whatever its status (callers decide what a failure means to them).
 */
async function waitFor<T extends { status: string }>(
  read: () => Promise<T>,
  onProgress?: (state: T) => void,
  pollMs = 1000,
): Promise<T> {
  for (;;) {
    const state = await read();
    onProgress?.(state);
    if (ENDED.includes(state.status)) return state;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** A sweep as GET /v1/capacity/{id} returns it. */
export function getSweep(api: Api, id: string) {
  return unwrap(
    `GET /v1/capacity/${id}`,
    api.GET("/v1/capacity/{id}", { params: { path: { id } } }),
  );
}
export type CapacitySweep = Awaited<ReturnType<typeof getSweep>>;

/** A run as GET /v1/runs/{id} returns it. */
export function getRun(api: Api, id: string) {
  return unwrap(`GET /v1/runs/${id}`, api.GET("/v1/runs/{id}", { params: { path: { id } } }));
}
export type Run = Awaited<ReturnType<typeof getRun>>;

export function waitForSweep(
  api: Api,
  id: string,
  onProgress?: (sweep: CapacitySweep) => void,
  pollMs?: number,
): Promise<CapacitySweep> {
  return waitFor(() => getSweep(api, id), onProgress, pollMs);
}

export function waitForRun(
  api: Api,
  id: string,
  onProgress?: (run: Run) => void,
  pollMs?: number,
): Promise<Run> {
  return waitFor(() => getRun(api, id), onProgress, pollMs);
}
