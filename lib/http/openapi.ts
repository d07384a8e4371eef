// Builds the OpenAPI 3.1 document from the route definitions (route.ts). Schemas come from
// zod v4's z.toJSONSchema: a schema with `.meta({ id })` becomes components/schemas/{id}, and
// `.meta({ example })` / `.meta({ description })` carry through. Request bodies, query and path
// parameters use the schema's input side (defaults optional); responses the output side.
// Where the two sides of a named schema differ, the input one is named `{id}Input`.

import { OpenApiBuilder } from "openapi3-ts/oas31";
import type {
  OpenAPIObject,
  OperationObject,
  ParameterObject,
  ResponsesObject,
  SchemaObject,
} from "openapi3-ts/oas31";
import { z } from "zod";
import { ERROR_EXAMPLES, ErrorBody, VALIDATION_STATUS } from "./errors.ts";
import { defaultOperationId, type RouteSpec, toOpenApiPath } from "./route.ts";

type Io = "input" | "output";
type Json = Record<string, unknown>;

const DEFS_PREFIX = "#/$defs/";
const COMPONENTS_PREFIX = "#/components/schemas/";

const isErrorStatus = (status: string) => status === "default" || Number(status) >= 400;

function toJson(schema: z.ZodType, io: Io): Json {
  return closeObjects(
    z.toJSONSchema(schema, {
      target: "draft-2020-12",
      io,
      unrepresentable: "any",
      reused: "inline",
      cycles: "ref",
    }),
  ) as Json;
}

/**
 * `additionalProperties: false` on every object with named properties: requests with a key
 * their schema does not know are refused (lib/http/unknown_keys.ts), and responses carry only
 * the keys they declare.
 */
function closeObjects(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(closeObjects);
  if (!value || typeof value !== "object") return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) out[k] = closeObjects(v);
  if (out.type === "object" && out.properties && out.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  return out;
}

function canonical(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v) =>
      v && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
        : v,
  );
}

function mapRefs(value: unknown, rename: (ref: string) => string): unknown {
  if (Array.isArray(value)) return value.map((v) => mapRefs(v, rename));
  if (value && typeof value === "object") {
    const out: Json = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = k === "$ref" && typeof v === "string" ? rename(v) : mapRefs(v, rename);
    }
    return out;
  }
  return value;
}

/**
 * Collects every zod schema the routes use, then emits component schemas and the
 * (possibly `$ref`) schema object for each use.
 */
class SchemaCollector {
  private readonly uses: { schema: z.ZodType; io: Io; root: Json }[] = [];
  /** id -> io -> JSON schema of the named definition (refs still point at $defs). */
  private readonly defs = new Map<string, Partial<Record<Io, Json>>>();

  /** Registers a use and returns a handle for `resolve`. */
  use(schema: z.ZodType, io: Io): number {
    const raw = toJson(schema, io);
    const { $defs, $schema: _ignored, ...root } = raw as Json & { $defs?: Record<string, Json> };
    for (const [id, def] of Object.entries($defs ?? {})) {
      const byIo = this.defs.get(id) ?? {};
      const seen = byIo[io];
      if (seen && canonical(seen) !== canonical(def)) {
        throw new Error(`Two different schemas use the id "${id}" (${io})`);
      }
      byIo[io] = def;
      this.defs.set(id, byIo);
    }
    this.uses.push({ schema, io, root });
    return this.uses.length - 1;
  }

  private nameOf(id: string, io: Io): string {
    const byIo = this.defs.get(id);
    if (io === "input" && byIo?.input && byIo.output) {
      return canonical(byIo.input) === canonical(byIo.output) ? id : `${id}Input`;
    }
    return id;
  }

  private rewrite(value: unknown, io: Io): unknown {
    return mapRefs(
      value,
      (ref) =>
        ref.startsWith(DEFS_PREFIX)
          ? COMPONENTS_PREFIX + this.nameOf(ref.slice(DEFS_PREFIX.length), io)
          : ref,
    );
  }

  resolve(handle: number): SchemaObject {
    const { root, io } = this.uses[handle];
    return this.rewrite(root, io) as SchemaObject;
  }

  components(): Record<string, SchemaObject> {
    const out: Record<string, SchemaObject> = {};
    const ids = [...this.defs.keys()].sort();
    for (const id of ids) {
      for (const io of ["output", "input"] as const) {
        const def = this.defs.get(id)![io];
        if (def) out[this.nameOf(id, io)] = this.rewrite(def, io) as SchemaObject;
      }
    }
    return out;
  }

  /** A top-level object schema with its properties inlined (for parameters). */
  objectProperties(schema: z.ZodType): { props: Record<string, Json>; required: string[] } {
    const raw = toJson(schema, "input") as Json & { $defs?: Record<string, Json> };
    const defs = raw.$defs ?? {};
    const inline = (v: unknown, depth = 0): unknown => {
      if (depth > 32) return {};
      if (Array.isArray(v)) return v.map((x) => inline(x, depth + 1));
      if (v && typeof v === "object") {
        const o = v as Json;
        if (typeof o.$ref === "string" && o.$ref.startsWith(DEFS_PREFIX)) {
          const { $ref: _r, ...rest } = o;
          return {
            ...(inline(defs[o.$ref.slice(DEFS_PREFIX.length)], depth + 1) as Json),
            ...rest,
          };
        }
        return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, inline(x, depth + 1)]));
      }
      return v;
    };
    const obj = inline(raw) as Json;
    return {
      props: (obj.properties ?? {}) as Record<string, Json>,
      required: (obj.required ?? []) as string[],
    };
  }
}

function metaOf(schema: z.ZodType): Json | undefined {
  return z.globalRegistry.get(schema) as Json | undefined;
}

function parameters(
  collector: SchemaCollector,
  schema: z.ZodType,
  where: "path" | "query",
): ParameterObject[] {
  const { props, required } = collector.objectProperties(schema);
  return Object.entries(props).map(([name, prop]) => {
    const { description, example, ...rest } = prop as Json & {
      description?: string;
      example?: unknown;
    };
    const p: ParameterObject = {
      name,
      in: where,
      required: where === "path" ? true : required.includes(name),
      schema: rest as SchemaObject,
    };
    if (description) p.description = description;
    if (example !== undefined) p.example = example;
    if (where === "query" && (rest as Json).type === "array") {
      p.style = "form";
      p.explode = true;
    }
    return p;
  });
}

export interface OpenApiOptions {
  title?: string;
  version: string;
  description?: string;
  /** Documents the bearer token on every non-public /v1 route. */
  auth?: boolean;
  tags?: { name: string; description?: string }[];
}

/** The OpenAPI 3.1 document for `routes`. */
export function buildOpenApiDocument(
  routes: readonly RouteSpec[],
  options: OpenApiOptions,
): OpenAPIObject {
  const collector = new SchemaCollector();
  const errorHandle = collector.use(ErrorBody, "output");
  const errorContent = (status: string) => ({
    "application/json": {
      schema: collector.resolve(errorHandle),
      ...(ERROR_EXAMPLES[status] ? { example: ERROR_EXAMPLES[status] } : {}),
    },
  });

  // First pass: register every schema use, so that names of input/output variants are known.
  const pending = routes.map((spec) => {
    const body = spec.body ? collector.use(spec.body, "input") : undefined;
    const responses = Object.entries(spec.responses).map(([status, r]) => ({
      status,
      r,
      handle: r.schema ? collector.use(r.schema, "output") : undefined,
    }));
    return { spec, body, responses };
  });

  const builder = OpenApiBuilder.create({
    openapi: "3.1.0",
    info: {
      title: options.title ?? "memcap",
      version: options.version,
      ...(options.description ? { description: options.description } : {}),
    },
    paths: {},
    components: {},
  });

  const tagNames = new Set<string>();
  const operationIds = new Set<string>();
  for (const { spec, body, responses } of pending) {
    const path = toOpenApiPath(spec.path);
    const operationId = spec.operationId ?? defaultOperationId(spec.method, spec.path);
    if (operationIds.has(operationId)) throw new Error(`Duplicate operationId ${operationId}`);
    operationIds.add(operationId);

    const params: ParameterObject[] = [];
    if (spec.params) params.push(...parameters(collector, spec.params, "path"));
    else {
      for (const m of path.matchAll(/\{([^}]+)\}/g)) {
        params.push({ name: m[1], in: "path", required: true, schema: { type: "string" } });
      }
    }
    if (spec.query) params.push(...parameters(collector, spec.query, "query"));

    const op: OperationObject = {
      ...(spec.tags?.length ? { tags: spec.tags } : {}),
      summary: spec.summary,
      ...(spec.description ? { description: spec.description } : {}),
      operationId,
      ...(params.length ? { parameters: params } : {}),
      responses: {},
    };
    spec.tags?.forEach((t) => tagNames.add(t));

    if (spec.body && body !== undefined) {
      const example = metaOf(spec.body)?.example;
      op.requestBody = {
        required: !spec.body.safeParse(undefined).success,
        content: {
          "application/json": {
            schema: collector.resolve(body),
            ...(example !== undefined ? { example } : {}),
          },
        },
      };
    } else if (spec.rawBody) {
      op.requestBody = {
        required: spec.rawBody.required ?? true,
        ...(spec.rawBody.description ? { description: spec.rawBody.description } : {}),
        content: {
          [spec.rawBody.contentType]: {
            schema: { type: "string", contentMediaType: spec.rawBody.contentType },
          },
        },
      };
    }

    const out: ResponsesObject = {};
    for (const { status, r, handle } of responses) {
      const contentType = r.contentType ?? (r.schema ? "application/json" : undefined);
      if (!contentType) {
        out[status] = { description: r.description };
        continue;
      }
      const schema: SchemaObject = handle !== undefined
        ? collector.resolve(handle)
        : { type: "string", contentMediaType: contentType };
      const example = r.example ?? (isErrorStatus(status) ? ERROR_EXAMPLES[status] : undefined) ??
        (r.schema ? metaOf(r.schema)?.example : undefined);
      out[status] = {
        description: r.description,
        content: { [contentType]: { schema, ...(example !== undefined ? { example } : {}) } },
      };
    }
    // The errors every route can answer with, unless the route describes them itself.
    const addError = (status: string, description: string) => {
      if (!out[status]) out[status] = { description, content: errorContent(status) };
    };
    if (spec.body) addError("400", "Malformed JSON body");
    if (spec.body) addError("415", "The body was not sent as application/json");
    if (spec.body || spec.query || spec.params) {
      addError(String(VALIDATION_STATUS), "Input failed validation (the message names the field)");
    }
    const needsAuth = options.auth && !spec.public && spec.path.startsWith("/v1/");
    if (needsAuth) {
      addError("401", "Missing or wrong bearer token");
      op.security = [{ bearerAuth: [] }];
    }
    if (spec.body || spec.rawBody) addError("413", "Request body too large");
    addError("default", "Unexpected error");
    op.responses = out;

    builder.addPath(path, { [spec.method]: op });
  }

  for (const [name, schema] of Object.entries(collector.components())) {
    builder.addSchema(name, schema);
  }
  if (options.auth) {
    builder.addSecurityScheme("bearerAuth", {
      type: "http",
      scheme: "bearer",
      description: "The MEMCAP_TOKEN the server was started with.",
    });
  }
  const described = new Map((options.tags ?? []).map((t) => [t.name, t]));
  for (const name of [...tagNames].sort()) {
    builder.addTag(described.get(name) ?? { name });
  }
  return builder.getSpec();
}
