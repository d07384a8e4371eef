// One definition per route: its method, path, zod schemas and responses. The same object
// validates requests (here) and describes the route in the OpenAPI document (openapi.ts), so
// the two cannot drift apart.
//
//   const getDataset = defineRoute({
//     method: "get", path: "/v1/datasets/:id", summary: "One dataset", tags: ["datasets"],
//     responses: { 200: { schema: Dataset, description: "The dataset" } },
//   });
//   router.add(getDataset, async (c, { params }) => c.json(await store.get(params.id)));

import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import {
  ApiError,
  bodyReadError,
  errorResponse,
  formatPath,
  fromZodError,
  VALIDATION_STATUS,
} from "./errors.ts";
import { type UnknownKey, unknownKeys } from "./unknown_keys.ts";

export type HttpMethod = "get" | "post" | "put" | "patch" | "delete";

/** Context variables every route can read. */
export type AppEnv = {
  Variables: {
    /** The app's default request body limit in bytes (set by createApp). */
    maxBodyBytes: number;
    /**
     * Aborted when the request is abandoned: its client went away, or it ran past the
     * request timeout (set by createApp). Pass it to engine calls so they stop early.
     */
    signal: AbortSignal;
  };
};

/** Zod object schemas for params and query (values arrive as strings: use z.coerce). */
export type ObjectSchema = z.ZodObject<any>;

export interface ResponseSpec {
  description: string;
  /** JSON body schema (content type application/json unless `contentType` says otherwise). */
  schema?: z.ZodType;
  /** For non-JSON bodies: "text/event-stream", "application/octet-stream", "image/svg+xml", ... */
  contentType?: string;
  /** The example the document shows, where the schema's own does not fit this route. */
  example?: unknown;
}

export type Responses = Record<number, ResponseSpec>;

export interface RawBodySpec {
  /** Media type the handler reads itself, e.g. "application/octet-stream". */
  contentType: string;
  description?: string;
  required?: boolean;
}

export interface RouteSpec<
  Path extends string = string,
  P extends ObjectSchema | undefined = ObjectSchema | undefined,
  Q extends ObjectSchema | undefined = ObjectSchema | undefined,
  B extends z.ZodType | undefined = z.ZodType | undefined,
  R extends Responses = Responses,
> {
  method: HttpMethod;
  /** Hono path, e.g. "/v1/datasets/:id" (documented as "/v1/datasets/{id}"). */
  path: Path;
  summary: string;
  description?: string;
  tags?: string[];
  /** Defaults to a name made from the method and path, e.g. "getV1DatasetsId". */
  operationId?: string;
  /** Path parameters; without a schema each `:name` is a string. */
  params?: P;
  /** Query string; a key given twice arrives as an array when its schema is an array. */
  query?: Q;
  /** JSON request body, parsed (whatever the Content-Type) and validated. */
  body?: B;
  /** A body the handler reads itself (documented, not parsed). */
  rawBody?: RawBodySpec;
  /** By status code; error responses (400/401/413/422/default) are added to the document. */
  responses: R;
  /** Reachable without the bearer token even when MEMCAP_TOKEN is set (e.g. health). */
  public?: boolean;
  /** Request body limit in bytes for this route (default: the app's). */
  maxBodyBytes?: number;
}

type CleanParam<N extends string> = N extends `${infer A}{${string}` ? A
  : N extends `${infer A}?` ? A
  : N;
/** The `:name` parameters of a Hono path, as a union of names. */
export type PathParamNames<P extends string> = P extends `${string}:${infer Rest}`
  ? Rest extends `${infer Name}/${infer Tail}` ? CleanParam<Name> | PathParamNames<`/${Tail}`>
  : CleanParam<Rest>
  : never;

type Out<S, Fallback> = [NonNullable<S>] extends [never] ? Fallback
  : NonNullable<S> extends z.ZodType ? z.output<NonNullable<S>>
  : Fallback;

/** What a handler receives besides the Hono context: parsed, typed input. */
export interface RouteInput<S extends RouteSpec<any, any, any, any, any>> {
  params: Out<S["params"], { [K in PathParamNames<S["path"]>]: string }>;
  query: Out<S["query"], Record<string, never>>;
  body: Out<S["body"], undefined>;
}

export type RouteHandler<S extends RouteSpec<any, any, any, any, any>> = (
  c: Context<AppEnv>,
  input: RouteInput<S>,
) => Response | Promise<Response>;

/** The JSON body type a route declares for a status: `ResponseBody<typeof getDataset, 200>`. */
export type ResponseBody<S extends RouteSpec<any, any, any, any, any>, Status extends number> =
  S["responses"][Status] extends { schema: infer T extends z.ZodType } ? z.input<T> : never;

const PARAM_RE = /:([A-Za-z0-9_]+)(\{[^}]*\})?\??/g;

/** Names of the `:name` parameters of a Hono path, in order. */
export function pathParamNames(path: string): string[] {
  return [...path.matchAll(PARAM_RE)].map((m) => m[1]);
}

/** Hono path -> OpenAPI path: "/v1/datasets/:id" -> "/v1/datasets/{id}". */
export function toOpenApiPath(path: string): string {
  return path.replace(PARAM_RE, "{$1}");
}

/** Default operationId: "get /v1/datasets/:id/sequences" -> "getV1DatasetsIdSequences". */
export function defaultOperationId(method: HttpMethod, path: string): string {
  const words = path.split(/[^A-Za-z0-9]+/).filter((w) => w !== "");
  return method + words.map((w) => w[0].toUpperCase() + w.slice(1)).join("");
}

/**
 * Declares a route. Checks the definition eagerly (params schema vs. path, no wildcards) and
 * returns it unchanged with its types kept for the handler.
 */
export function defineRoute<
  const Path extends string,
  P extends ObjectSchema | undefined = undefined,
  Q extends ObjectSchema | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
  const R extends Responses = Responses,
>(spec: RouteSpec<Path, P, Q, B, R>): RouteSpec<Path, P, Q, B, R> {
  const where = `${spec.method.toUpperCase()} ${spec.path}`;
  if (!spec.path.startsWith("/")) throw new Error(`${where}: path must start with "/"`);
  if (spec.path.includes("*")) throw new Error(`${where}: wildcards cannot be documented`);
  if (spec.body && spec.rawBody) throw new Error(`${where}: give body or rawBody, not both`);
  if (Object.keys(spec.responses).length === 0) {
    throw new Error(`${where}: declare at least one response`);
  }
  if (spec.params) {
    const declared = Object.keys(spec.params.shape).sort();
    const inPath = pathParamNames(spec.path).sort();
    if (declared.join(",") !== inPath.join(",")) {
      throw new Error(
        `${where}: params schema has [${declared}] but the path has [${inPath}]`,
      );
    }
  }
  return spec;
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s: any = schema;
  for (let i = 0; i < 16; i++) {
    const def = s?._zod?.def;
    if (!def) break;
    if (def.innerType) s = def.innerType;
    else if (def.type === "pipe" && def.in) s = def.in;
    else break;
  }
  return s;
}

function isArraySchema(schema: z.ZodType | undefined): boolean {
  return schema !== undefined && (unwrap(schema) as any)._zod?.def?.type === "array";
}

function queryObject(c: Context, schema: ObjectSchema): Record<string, string | string[]> {
  const all = c.req.queries();
  const out: Record<string, string | string[]> = {};
  for (const [key, values] of Object.entries(all)) {
    out[key] = isArraySchema(schema.shape[key]) ? values : values[values.length - 1];
  }
  return out;
}

function check<T extends z.ZodType>(schema: T, value: unknown, where: string): z.output<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw fromZodError(r.error, where);
  return r.data;
}

/** Parses and validates params, query and body of a request against a route's schemas. */
export async function parseInput<S extends RouteSpec<any, any, any, any, any>>(
  spec: S,
  c: Context,
): Promise<RouteInput<S>> {
  const rawParams = c.req.param() as Record<string, string>;
  const params = spec.params ? check(spec.params, rawParams, "params") : rawParams;
  const query = spec.query ? check(spec.query, queryObject(c, spec.query), "query") : {};
  let body: unknown = undefined;
  if (spec.body) {
    const text = await c.req.text().catch((err) => {
      throw bodyReadError(err);
    });
    let json: unknown = undefined;
    if (text.trim() !== "" && !isJsonType(c.req.header("content-type"))) {
      throw new ApiError(
        415,
        "unsupported_media_type",
        `This request's body is JSON: send it with Content-Type: application/json (got ` +
          `${c.req.header("content-type") ? `"${c.req.header("content-type")}"` : "none"})`,
      );
    }
    if (text.trim() !== "") {
      try {
        json = JSON.parse(text);
      } catch (err) {
        throw new ApiError(
          400,
          "invalid_json",
          `Malformed JSON body: ${(err as Error).message}`,
        );
      }
    }
    const r = spec.body.safeParse(json);
    if (!r.success) {
      if (json === undefined) {
        throw new ApiError(400, "missing_body", "This request needs a JSON body");
      }
      throw fromZodError(r.error, "body");
    }
    const unknown = unknownKeys(spec.body, json);
    if (unknown.length > 0) throw unknownKeysError(unknown);
    body = r.data;
  }
  return { params, query, body } as RouteInput<S>;
}

/** application/json, or a +json type such as application/merge-patch+json. */
function isJsonType(contentType: string | undefined): boolean {
  const type = contentType?.split(";")[0].trim().toLowerCase() ?? "";
  return type === "application/json" || /^application\/[\w.+-]+\+json$/.test(type);
}

/** The 422 for keys the body's schema does not know, in the shape of a validation error. */
function unknownKeysError(unknown: UnknownKey[]): ApiError {
  const issues = unknown.map((u) => ({
    path: formatPath("body", u.path),
    code: "unrecognized_keys",
    message: "unknown key" + (u.suggestion ? `; did you mean "${u.suggestion}"?` : ""),
  }));
  const message = issues.map((i) => `${i.path}: ${i.message}`).join("; ");
  return new ApiError(VALIDATION_STATUS, "validation_error", message, { issues });
}

function limitFor(spec: RouteSpec): MiddlewareHandler<AppEnv> {
  return (c, next) => {
    const maxSize = spec.maxBodyBytes ?? c.get("maxBodyBytes") ?? Number.POSITIVE_INFINITY;
    if (!Number.isFinite(maxSize)) return next();
    return bodyLimit({
      maxSize,
      onError: (c) =>
        errorResponse(
          c,
          413,
          "payload_too_large",
          `Request body exceeds the limit of ${maxSize} bytes`,
          { maxBytes: maxSize },
        ),
    })(c, next);
  };
}

/**
 * A group of documented routes: a Hono app plus the definitions of what it serves. Routers are
 * mounted by createApp, which also gathers their definitions for the OpenAPI document.
 */
export class ApiRouter {
  readonly hono: Hono<AppEnv> = new Hono<AppEnv>();
  readonly routes: RouteSpec[] = [];

  /** Serves `spec` with `handler`, which gets the validated input. */
  add<S extends RouteSpec<any, any, any, any, any>>(spec: S, handler: RouteHandler<S>): this {
    const key = `${spec.method} ${toOpenApiPath(spec.path)}`;
    if (this.routes.some((r) => `${r.method} ${toOpenApiPath(r.path)}` === key)) {
      throw new Error(`Route ${key} is defined twice`);
    }
    this.routes.push(spec);
    this.hono.on(
      spec.method.toUpperCase(),
      spec.path,
      limitFor(spec),
      async (c) => handler(c, await parseInput(spec, c)),
    );
    return this;
  }
}
