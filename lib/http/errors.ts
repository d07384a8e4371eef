// Every error leaves the service as `{"error": {"code", "message", "details"?}}` with a
// 4xx/5xx status. Handlers throw `ApiError`; zod failures, malformed JSON and Hono's own
// HTTP exceptions (bearer auth, body limit) are turned into the same shape here, and anything
// else becomes a 500 whose details stay in the server log.

import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";

/** The JSON body of every error response. */
export const ErrorBody = z.object({
  error: z.object({
    code: z.string().meta({ description: "Stable, machine-readable error code." }),
    message: z.string().meta({ description: "What went wrong, naming the field when one did." }),
    details: z.unknown().optional().meta({ description: "Structured extra information." }),
  }),
}).meta({
  id: "Error",
  description: "The body of every 4xx/5xx response.",
  example: { error: { code: "not_found", message: "No route for GET /v1/nope" } },
});
export type ErrorBody = z.infer<typeof ErrorBody>;

/**
 * The 503 of every route that calls the GPU engine or queues a job (routes/app.ts maps the
 * causes): the service is stopping (`shutting_down`), the engine process died under the
 * request (`engine_crashed`, retry it), or there is no WebGPU adapter (`gpu_unavailable`).
 */
export const UNAVAILABLE_RESPONSE = {
  schema: ErrorBody,
  description: "Try again later: `shutting_down`, `engine_crashed` (retry) or `gpu_unavailable`",
};

/**
 * The 507 of every route that stores something new (a dataset, model, weights, job): MEMCAP_DATA
 * has less free space than MEMCAP_MIN_FREE_MB (lib/store/disk_space.ts). Declaring it on a route
 * also makes createApp check the free space before the route reads its body.
 */
export const STORAGE_FULL_RESPONSE = {
  schema: ErrorBody,
  description: "`storage_full`: MEMCAP_DATA is under its free-space floor (MEMCAP_MIN_FREE_MB); " +
    "nothing new is stored until space is freed, while deletes, cancels and reads still work",
};

/** An error meant for the client: its status, code and message are sent as they are. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "ApiError";
  }

  static badRequest(message: string, details?: unknown): ApiError {
    return new ApiError(400, "bad_request", message, details);
  }
  static notFound(message: string, details?: unknown): ApiError {
    return new ApiError(404, "not_found", message, details);
  }
  static conflict(message: string, details?: unknown): ApiError {
    return new ApiError(409, "conflict", message, details);
  }
}

/**
 * What reading a request body threw, for the client: a body that broke off (shorter than its
 * Content-Length, a malformed chunk) is the client's fault, a 400, not a 500 with a stack trace.
 * Our own errors (413 and the like) pass through.
 */
export function bodyReadError(err: unknown): unknown {
  if (err instanceof ApiError || err instanceof HTTPException) return err;
  return new ApiError(
    400,
    "incomplete_body",
    "The request body could not be read whole: it ended before its Content-Length or a " +
      `chunk was malformed (${err instanceof Error ? err.message : String(err)})`,
  );
}

/** Status of a request whose input failed its zod schema. */
export const VALIDATION_STATUS = 422;

/** Formats an issue path as `body.config.heads` or `body.sequences[3]`. */
export function formatPath(prefix: string | undefined, path: readonly PropertyKey[]): string {
  let out = prefix ?? "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out === "" ? "(root)" : out;
}

/** Turns a zod error into a 422 ApiError whose message names every failing field. */
export function fromZodError(error: z.ZodError, prefix?: string): ApiError {
  const issues = error.issues.map((issue) => ({
    path: formatPath(prefix, issue.path),
    code: issue.code,
    message: issue.message,
  }));
  const message = issues.map((i) => `${i.path}: ${i.message}`).join("; ");
  return new ApiError(VALIDATION_STATUS, "validation_error", message, { issues });
}

/** What each error status looks like in the OpenAPI document (one example per status). */
export const ERROR_EXAMPLES: Record<string, ErrorBody> = {
  "400": {
    error: { code: "invalid_json", message: "Malformed JSON body: Unexpected end of JSON input" },
  },
  "401": {
    error: { code: "unauthorized", message: "Unauthorized: send Authorization: Bearer <token>" },
  },
  "404": { error: { code: "not_found", message: "params.id: no run run_01jz3k5q7r8s9t0v1w2x" } },
  "409": {
    error: {
      code: "conflict",
      message: "run run_01jz3k5q7r8s9t0v1w2x is running; cancel it first",
    },
  },
  "413": {
    error: {
      code: "payload_too_large",
      message: "Request body exceeds the limit of 67108864 bytes",
      details: { maxBytes: 67108864 },
    },
  },
  "415": {
    error: {
      code: "unsupported_media_type",
      message:
        "This request's body is JSON: send it with Content-Type: application/json (got none)",
    },
  },
  "422": {
    error: {
      code: "validation_error",
      message: 'body.trainig: unknown key; did you mean "training"?',
      details: {
        issues: [{
          path: "body.trainig",
          code: "unrecognized_keys",
          message: 'unknown key; did you mean "training"?',
        }],
      },
    },
  },
  "429": { error: { code: "queue_full", message: "100 jobs are queued; retry later" } },
  "503": {
    error: { code: "shutting_down", message: "The service is shutting down; retry shortly" },
  },
  "504": { error: { code: "timeout", message: "The request ran longer than 600 s" } },
  "507": {
    error: {
      code: "storage_full",
      message: "MEMCAP_DATA has 104857600 bytes (100.0 MiB) free, under the floor of 268435456 " +
        "bytes (256.0 MiB); deletes, cancels and reads still work",
      details: { freeBytes: 104857600, minFreeBytes: 268435456 },
    },
  },
  default: { error: { code: "internal_error", message: "Internal server error" } },
};

const CODE_BY_STATUS: Record<number, string> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  409: "conflict",
  413: "payload_too_large",
  415: "unsupported_media_type",
  422: "validation_error",
  429: "too_many_requests",
  500: "internal_error",
  503: "unavailable",
  507: "storage_full",
};

export function codeForStatus(status: number): string {
  return CODE_BY_STATUS[status] ?? (status >= 500 ? "internal_error" : "error");
}

/** Builds the JSON error response. */
export function errorResponse(
  c: Context,
  status: ContentfulStatusCode,
  code: string,
  message: string,
  details?: unknown,
): Response {
  const body: ErrorBody = { error: { code, message } };
  if (details !== undefined) body.error.details = details;
  return c.json(body, status);
}

function isJsonSyntaxError(err: unknown): err is SyntaxError {
  return err instanceof SyntaxError && /JSON/i.test(err.message);
}

export interface ErrorHandlerOptions {
  /** Where unexpected errors are logged (default: console.error). */
  log?: (message: string, err: unknown) => void;
}

/** The app-wide `onError` handler. */
export function createErrorHandler(options: ErrorHandlerOptions = {}): ErrorHandler {
  const log = options.log ?? ((message, err) => console.error(message, err));
  return (thrown, c) => {
    const err: unknown = thrown;
    if (err instanceof ApiError) {
      return errorResponse(c, err.status, err.code, err.message, err.details);
    }
    if (err instanceof z.ZodError) {
      const e = fromZodError(err);
      return errorResponse(c, e.status, e.code, e.message, e.details);
    }
    if (isJsonSyntaxError(err)) {
      return errorResponse(c, 400, "invalid_json", `Malformed JSON body: ${err.message}`);
    }
    if (err instanceof HTTPException) {
      const res = errorResponse(
        c,
        err.status,
        codeForStatus(err.status),
        err.message || defaultMessage(err.status),
      );
      // Keep the headers Hono's middleware set (e.g. WWW-Authenticate from bearer auth).
      err.res?.headers.forEach((value, name) => {
        if (name.toLowerCase() !== "content-type" && name.toLowerCase() !== "content-length") {
          res.headers.set(name, value);
        }
      });
      return res;
    }
    log(`[memcap] ${c.req.method} ${c.req.path} failed:`, err);
    return errorResponse(c, 500, "internal_error", "Internal server error");
  };
}

function defaultMessage(status: number): string {
  if (status === 401) return "Unauthorized: send Authorization: Bearer <token>";
  if (status === 413) return "Payload too large";
  return `HTTP ${status}`;
}

/** The app-wide `notFound` handler: a 404 JSON error naming the method and path. */
export const notFoundHandler: NotFoundHandler = (c) =>
  errorResponse(c, 404, "not_found", `No route for ${c.req.method} ${c.req.path}`);
