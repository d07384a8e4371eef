// Fuzzing every route of the in-process service (real store, started job queue, GPU engine)
// with seeded random and malformed requests: random JSON, mutated valid bodies (wrong types,
// huge, negative and non-finite numbers), deep nesting, invalid JSON text, wrong content
// types, empty bodies, random path parameters and query strings. Whatever comes in, the
// service answers with no 5xx, every non-2xx is the JSON error shape, and it keeps serving.
//
// Valid requests that would start GPU work are kept tiny: the templates below use a model of
// 16 tokens x 8 positions, and any run or capacity sweep the fuzz manages to start is
// cancelled at once.
import assert from "node:assert/strict";
import fc from "fast-check";
import { createApp } from "../../routes/app.ts";
import { type App, call, withService } from "./_service.ts";
import { TINY_SWEEP_TRAINING } from "./_fixtures.ts";

// FUZZ_SEED and FUZZ_RUNS explore further by hand; the suite runs the fixed seed.
const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20250601);
const NUM_REQUESTS = Number(Deno.env.get("FUZZ_RUNS") ?? 3000);
const BURST_REQUESTS = 500;
const AUTH_REQUESTS = 600;

const CONFIG = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 16, heads: 2 };
const B32 = "0123456789abcdefghjkmnpqrstvwxyz";
const PREFIXES = ["ds", "mdl", "run", "cap"];

/** One request as the fuzz builds it; `describe` prints it for a reproduction. */
interface FuzzRequest {
  method: string;
  /** Path and query, already URL-safe. */
  url: string;
  contentType: string | null;
  body: string | Uint8Array | null;
  /** Which generator made the body (for the report). */
  kind: string;
  /** The route it was made for, e.g. "POST /v1/models/:id/likelihood". */
  route: string;
}

function describe(r: FuzzRequest): string {
  const body = r.body === null
    ? "(no body)"
    : typeof r.body === "string"
    ? JSON.stringify(r.body.length > 600 ? r.body.slice(0, 600) + "…" : r.body) +
      ` (${r.body.length} chars)`
    : `<${r.body.length} bytes: ${Array.from(r.body.subarray(0, 48)).join(",")}…>`;
  return `${r.method} ${r.url} content-type=${r.contentType ?? "(none)"} [${r.kind}] ${body}`;
}

/** A route as Hono serves it, e.g. { method: "POST", path: "/v1/models/:id/likelihood" }. */
interface Route {
  method: string;
  path: string;
}

function servedRoutes(app: App): Route[] {
  const seen = new Map<string, Route>();
  for (const r of app.routes) {
    if (r.method === "ALL" || r.path.includes("*")) continue; // middleware
    seen.set(`${r.method} ${r.path}`, { method: r.method, path: r.path });
  }
  return [...seen.values()];
}

// ------------------------------------------------------------------ value generators

/** Numbers that break naive validation: zero, signs, fractions, 2^31/2^32/2^53 edges, huge. */
const NASTY_NUMBERS = [
  0,
  -0,
  -1,
  1,
  2,
  3,
  7,
  8,
  16,
  17,
  255,
  65536,
  0.5,
  -2.5,
  1e-7,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  1e21,
  1.7976931348623157e308,
  -1.7976931348623157e308,
  5e-324,
];
/**
 * Number literals spliced into JSON text, which JSON.stringify cannot write: 1e999 parses as
 * Infinity, then -0, and more digits than a double holds.
 */
const NUMBER_TEXTS = [
  "1e999",
  "-1e999",
  "1E+400",
  "-0",
  "-0.0",
  "0.00000000000000000000000000001",
  "123456789012345678901234567890",
  "1.0",
  "8.000000000000001",
];
const NASTY_STRINGS = [
  "",
  " ",
  "NaN",
  "Infinity",
  "-Infinity",
  "1",
  "0x10",
  "1e3",
  "null",
  "true",
  "__proto__",
  "constructor",
  "uniform",
  "tokens",
  "adamw",
  "sgd",
  "auto",
  "bf16",
  "fp32",
  "\u0000",
  "\ud800",
  "😀".repeat(50),
  "a".repeat(10_000),
  "../../etc/passwd",
];

const fakeId = fc.record({
  prefix: fc.constantFrom(...PREFIXES, "xyz", "DS", ""),
  body: fc.string({ unit: fc.constantFrom(...B32.split("")), minLength: 20, maxLength: 20 }),
  tweak: fc.constantFrom("none", "none", "upper", "short", "long"),
}).map(({ prefix, body, tweak }) => {
  const b = tweak === "upper"
    ? body.toUpperCase()
    : tweak === "short"
    ? body.slice(1)
    : tweak === "long"
    ? body + "0"
    : body;
  return `${prefix}_${b}`;
});

function scalarArb(realIds: () => string[]): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constantFrom(...NASTY_NUMBERS),
    fc.constantFrom(...NASTY_STRINGS),
    fc.constantFrom(null, true, false, [], {}),
    fc.integer(),
    fc.double(),
    fc.string({ maxLength: 30 }),
    fakeId,
    fc.nat().map((n) => pick(realIds(), n)),
  );
}

/** The n-th element, cyclically (the pools grow while the fuzz runs). */
function pick<T>(xs: T[], n: number): T {
  return xs[n % xs.length];
}

/** Real ids of the collection a route's path names ("/v1/models/..." -> "mdl_..."). */
function idsFor(route: Route, fx: Fixtures): string[] {
  const prefix = { datasets: "ds", models: "mdl", runs: "run", capacity: "cap" }[
    route.path.split("/")[2] ?? ""
  ];
  const ids = fx.ids.filter((id) => id.startsWith(`${prefix}_`));
  return ids.length > 0 ? ids : fx.ids;
}

/** A small, plausible change: a number nudged, an id swapped for another real one. */
const GENTLE = Symbol("gentle");
function gentle(v: unknown, n: number, fx: Fixtures): unknown {
  if (typeof v === "number") return [v + 1, v - 1, v * 2, Math.floor(v / 2), 1, v][n % 6];
  if (typeof v === "boolean") return !v;
  if (typeof v === "string" && /^[a-z]+_/.test(v)) {
    const same = fx.ids.filter((id) => id.split("_")[0] === v.split("_")[0]);
    return same.length > 0 ? pick(same, n) : v;
  }
  return v;
}

/** Every path (keys and indexes) into a JSON value, the root included. */
function pathsOf(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...pathsOf(x, [...prefix, i])));
  else if (v !== null && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) out.push(...pathsOf(x, [...prefix, k]));
  }
  return out;
}

function getAt(v: unknown, path: (string | number)[]): unknown {
  for (const k of path) v = (v as Record<string | number, unknown>)?.[k];
  return v;
}

/** `v` with the value at `path` replaced (or the key deleted when `value` is DELETE). */
const DELETE = Symbol("delete");
function setAt(v: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value === DELETE ? undefined : value;
  const [head, ...rest] = path;
  if (Array.isArray(v)) {
    const copy = [...v];
    if (rest.length === 0 && value === DELETE) copy.splice(head as number, 1);
    else copy[head as number] = setAt(copy[head as number], rest, value);
    return copy;
  }
  const copy = { ...(v as Record<string, unknown>) };
  if (rest.length === 0 && value === DELETE) delete copy[head as string];
  else {
    // defineProperty, not assignment: a "__proto__" key stays a plain key.
    Object.defineProperty(copy, head, {
      value: setAt(copy[head as string], rest, value),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy;
}

function deepNesting(depth: number, kind: "array" | "object"): string {
  return kind === "array"
    ? "[".repeat(depth) + "]".repeat(depth)
    : '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
}

/** The bytes of `bytes` with a few changes: flips, truncation, header length, header text. */
function mutateSafetensors(bytes: Uint8Array, op: number, a: number, b: number): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  const headerLen = Number(view.getBigUint64(0, true));
  switch (op % 8) {
    case 7: // the file as downloaded: a valid upload
      return out;
    case 0: // flip bytes anywhere
      for (let i = 0; i < 4; i++) out[(a + i * b) % out.length] ^= 0xff;
      return out;
    case 1: // truncate
      return out.subarray(0, a % out.length);
    case 2: // absurd header lengths
      view.setBigUint64(
        0,
        [0n, 1n, 2n ** 63n, 2n ** 64n - 1n, BigInt(out.length), BigInt(headerLen + 1)][b % 6],
        true,
      );
      return out;
    case 3: { // garble the header JSON
      const pos = 8 + (a % Math.max(1, headerLen));
      out[pos] = '{}[]",:0-e9 x'[b % 13].charCodeAt(0);
      return out;
    }
    case 4: { // rewrite the header: wrong dtype, shapes or offsets
      const header = JSON.parse(new TextDecoder().decode(out.subarray(8, 8 + headerLen)));
      const names = Object.keys(header).filter((k) => k !== "__metadata__");
      const name = names[a % names.length];
      const field = ["dtype", "shape", "data_offsets"][b % 3];
      header[name][field] = [
        "F16",
        "I64",
        "BOGUS",
        [1e300],
        [-1, 4],
        [0, 2 ** 60],
        [2 ** 53, 2 ** 53 + 8],
        [5, 3],
        null,
        [],
      ][(a + b) % 10];
      const text = new TextEncoder().encode(JSON.stringify(header));
      const rebuilt = new Uint8Array(8 + text.length + out.length - 8 - headerLen);
      new DataView(rebuilt.buffer).setBigUint64(0, BigInt(text.length), true);
      rebuilt.set(text, 8);
      rebuilt.set(out.subarray(8 + headerLen), 8 + text.length);
      return rebuilt;
    }
    case 5: { // NaN / Infinity in the data
      const dataStart = 8 + headerLen;
      const floats = (out.length - dataStart) >> 2;
      view.setFloat32(dataStart + 4 * (a % floats), [NaN, Infinity, -Infinity][b % 3], true);
      return out;
    }
    default: { // append garbage: a few bytes, or 2 MiB (past this model's upload limit: 413)
      const extra = new Uint8Array(a % 5 === 0 ? 2 << 20 : 1 + (a % 64)).fill(b & 0xff);
      const grown = new Uint8Array(out.length + extra.length);
      grown.set(out);
      grown.set(extra, out.length);
      return grown;
    }
  }
}

// ------------------------------------------------------------------ requests

interface Fixtures {
  /** Ids that must survive the fuzz (DELETE gets a look-alike id instead). */
  protectedIds: Set<string>;
  /** Real ids of every collection, fixtures and whatever the fuzz created. */
  ids: string[];
  weights: Uint8Array;
  templates: Map<string, unknown[]>;
}

function pathParamArb(name: string, route: Route, fx: Fixtures): fc.Arbitrary<string> {
  if (name === "file") {
    return fc.oneof(
      fc.constantFrom(
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "index.html",
        "..%2F..%2Fdeno.json",
        "%2e%2e",
        "..",
        ".",
        "%00",
        "package.json",
        "toString", // the known bug above
        "hasOwnProperty",
        "a".repeat(300),
        "%E0%A4%A",
      ),
      fc.string({ maxLength: 40 }).map(encodeURIComponent),
    );
  }
  return fc.oneof(
    { weight: 8, arbitrary: fc.nat().map((n) => pick(idsFor(route, fx), n)) },
    { weight: 1, arbitrary: fc.nat().map((n) => pick(fx.ids, n)) },
    { weight: 3, arbitrary: fakeId },
    { weight: 2, arbitrary: fc.string({ maxLength: 40 }).map(encodeURIComponent) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        "..",
        "%2e%2e",
        "%2F",
        "%00",
        "%E0%A4%A",
        "%",
        "null",
        "0",
        "-1",
        "1e309",
        "__proto__",
        "constructor",
        "a".repeat(5000),
        encodeURIComponent("😀"),
      ),
    },
  );
}

const queryArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constant("") },
  {
    weight: 4,
    arbitrary: fc.array(
      fc.tuple(
        fc.oneof(
          fc.constantFrom("limit", "cursor", "offset", "perToken", "id", "__proto__"),
          fc.string({ maxLength: 10 }),
        ),
        fc.oneof(
          fc.constantFrom(
            "",
            "0",
            "-1",
            "1",
            "100",
            "101",
            "1000",
            "1e999",
            "NaN",
            "Infinity",
            "9007199254740993",
            "0x10",
            "1.5",
            " 5 ",
            "true",
          ),
          fakeId,
          fc.string({ maxLength: 30 }),
        ),
      ),
      { maxLength: 4 },
    ).map((kvs) =>
      kvs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&")
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom("%zz=1", "limit=%", "&&&==&", "limit[]=1&limit=2") },
);

const CONTENT_TYPES = [
  "application/json",
  "application/json",
  "application/json; charset=utf-8",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=xyz",
  "application/octet-stream",
  "garbage/;;;",
  null,
];

function bodyArb(
  route: Route,
  fx: Fixtures,
): fc.Arbitrary<{ kind: string; body: string | Uint8Array | null }> {
  const key = `${route.method} ${route.path}`;
  const templates = fx.templates.get(key) ?? [{}];
  const template = fc.constantFrom(...templates);
  const scalar = scalarArb(() => fx.ids);
  const mutated = fc.tuple(
    template,
    fc.array(
      fc.tuple(
        fc.nat(),
        fc.oneof(
          { weight: 6, arbitrary: scalar },
          { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
          { weight: 1, arbitrary: fc.constant(DELETE) },
          { weight: 4, arbitrary: fc.nat().map((n) => [GENTLE, n] as const) },
        ),
      ),
      { minLength: 0, maxLength: 3 },
    ),
    fc.option(fc.constantFrom(...NUMBER_TEXTS), { freq: 4 }),
    fc.option(fc.tuple(fc.string({ maxLength: 10 }), scalar), { freq: 4 }),
  ).map(([t, edits, numberText, extra]) => {
    let v = t;
    for (const [i, value] of edits) {
      const paths = pathsOf(v);
      const path = paths[i % paths.length];
      const isGentle = Array.isArray(value) && value[0] === GENTLE;
      v = setAt(v, path, isGentle ? gentle(getAt(v, path), value[1], fx) : value);
    }
    if (extra && v !== null && typeof v === "object" && !Array.isArray(v)) {
      v = { ...v, [extra[0]]: extra[1] };
    }
    let text = JSON.stringify(v) ?? "";
    // Splice a number that JSON.stringify cannot write (1e999 parses as Infinity) over the
    // first number in the text.
    if (numberText !== null) text = text.replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/i, numberText);
    return { kind: "mutated", body: text };
  });
  const arbs: { weight: number; arbitrary: fc.Arbitrary<{ kind: string; body: any }> }[] = [
    { weight: 2, arbitrary: fc.constant({ kind: "empty", body: null }) },
    { weight: 1, arbitrary: fc.constant({ kind: "empty-string", body: "" }) },
    {
      weight: 3,
      arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => ({
        kind: "random-json",
        body: JSON.stringify(v),
      })),
    },
    { weight: 10, arbitrary: mutated },
    {
      weight: 2,
      arbitrary: fc.oneof(
        fc.string({ maxLength: 60 }),
        template.chain((t) => {
          const s = JSON.stringify(t);
          return fc.nat({ max: Math.max(0, s.length - 1) }).map((n) => s.slice(0, n));
        }),
        fc.constantFrom(
          "{",
          "}",
          "[1,]",
          "{'a':1}",
          '{"a":01}',
          "NaN",
          "Infinity",
          '{"a":1}{"b":2}',
          '{"a":"\\x"}',
          "\ufeff{}",
          '{"__proto__":{"polluted":1}}',
          '{"constructor":{"prototype":{"polluted":1}}}',
        ),
      ).map((s) => ({ kind: "invalid-json", body: s })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom(10, 500, 5000, 50_000), fc.boolean(), template).map((
        [depth, arr, t],
      ) => {
        const deep = deepNesting(depth, arr ? "array" : "object");
        // Put the deep value either at the root or in place of the template's first field.
        const base = JSON.stringify(t);
        const body = base.startsWith("{") && base.length > 2
          ? base.replace(/^\{("[^"]*"):/, `{$1:${deep},"_":`)
          : deep;
        return { kind: `deep-${depth}`, body };
      }),
    },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => ({ kind: "bytes", body: b })),
    },
  ];
  if (route.method === "PUT") {
    arbs.push({
      weight: 10,
      arbitrary: fc.tuple(fc.nat(), fc.nat(), fc.nat()).map(([op, a, b]) => ({
        kind: `safetensors-${op % 8}`,
        body: mutateSafetensors(fx.weights, op, a, b),
      })),
    });
  }
  return fc.oneof(...arbs);
}

function requestArb(routes: Route[], fx: Fixtures): fc.Arbitrary<FuzzRequest> {
  return fc.constantFrom(...routes).chain((route) => {
    const names = [...route.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]);
    return fc.record({
      params: fc.tuple(...names.map((n) => pathParamArb(n, route, fx))),
      query: queryArb,
      body: bodyArb(route, fx),
      // Mostly JSON, as clients send it (other types answer 415 before the body is looked at).
      contentType: fc.oneof(
        {
          weight: 6,
          arbitrary: fc.constantFrom("application/json", "application/json; charset=utf-8"),
        },
        { weight: 1, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
      ),
      method: fc.oneof(
        { weight: 12, arbitrary: fc.constant(route.method) },
        { weight: 1, arbitrary: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD") },
      ),
    }).map(({ params, query, body, contentType, method }) => {
      let i = 0;
      const path = route.path.replace(
        /:([A-Za-z0-9_]+)(\{[^}]*\})?\??/g,
        () => {
          const p = params[i++];
          // Never delete the fixtures: a look-alike id of the same collection instead.
          if (method === "DELETE" && fx.protectedIds.has(p)) {
            return p.slice(0, -1) + (p.endsWith("z") ? "0" : "z");
          }
          return p;
        },
      );
      const hasBody = method !== "GET" && method !== "HEAD";
      return {
        method,
        url: query ? `${path}?${query}` : path,
        contentType: hasBody ? contentType : null,
        body: hasBody ? body.body : null,
        kind: hasBody ? body.kind : "no-body",
        route: `${route.method} ${route.path}`,
      };
    });
  });
}

// ------------------------------------------------------------------ checks

interface Outcome {
  status: number;
  contentType: string;
  text: string;
}

async function send(app: App, r: FuzzRequest): Promise<Outcome> {
  const headers: Record<string, string> = {};
  if (r.contentType) headers["content-type"] = r.contentType;
  const res = await app.request(r.url, {
    method: r.method,
    headers,
    body: r.body === null ? undefined : r.body as BodyInit,
  });
  const contentType = res.headers.get("content-type") ?? "";
  // An event stream of a job still running stays open: the status line is all we need.
  if (contentType.includes("text/event-stream")) {
    await res.body?.cancel();
    return { status: res.status, contentType, text: "" };
  }
  return { status: res.status, contentType, text: await res.text() };
}

/** Why a response breaks the contract, or null when it keeps it. */
function violation(r: FuzzRequest, out: Outcome): string | null {
  if (out.status >= 500) return `status ${out.status}`;
  if (out.status >= 200 && out.status < 300) {
    if (r.method !== "HEAD" && out.contentType.includes("application/json")) {
      try {
        JSON.parse(out.text);
      } catch {
        return `2xx with invalid JSON`;
      }
    }
    return null;
  }
  if (r.method === "HEAD") return null; // no body to check
  if (!out.contentType.includes("application/json")) {
    return `status ${out.status} with content-type ${out.contentType}`;
  }
  let body: any;
  try {
    body = JSON.parse(out.text);
  } catch {
    return `status ${out.status} with a body that is not JSON`;
  }
  if (
    typeof body?.error?.code !== "string" || typeof body?.error?.message !== "string" ||
    Object.keys(body).length !== 1
  ) {
    return `status ${out.status} without the error shape`;
  }
  return null;
}

// ------------------------------------------------------------------ fixtures

async function waitForJob(app: App, path: string): Promise<any> {
  for (let i = 0; i < 600; i++) {
    const r = await call(app, "GET", path);
    if (!["queued", "running"].includes(r.json.status)) return r.json;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`${path} did not finish`);
}

async function makeFixtures(app: App): Promise<Fixtures> {
  const created = async (path: string, body: unknown, status = 201) => {
    const r = await call(app, "POST", path, body);
    assert.equal(r.status, status, `${path}: ${JSON.stringify(r.json)}`);
    return r.json.id as string;
  };
  const uniform = { kind: "uniform", vocabSize: 16, seqLen: 8, count: 4, seed: 1 };
  const tokens = { kind: "tokens", vocabSize: 16, sequences: [[1, 2, 3, 4, 5, 6, 7, 8]] };
  const ds = await created("/v1/datasets", uniform);
  const ds2 = await created("/v1/datasets", tokens);
  const modelBody = { config: CONFIG, precision: "fp32", seed: 1 };
  const mdl = await created("/v1/models", modelBody);
  const ref = await created("/v1/models", { ...modelBody, precision: "bf16", seed: 2 });
  const runBody = {
    modelId: mdl,
    datasetId: ds,
    optimizer: { type: "adamw", lr: 0.01 },
    batchSize: 4,
    steps: 2,
    evalEvery: 1,
  };
  const run = await created("/v1/runs", runBody, 202);
  const capBody = {
    config: CONFIG,
    datasetSizes: [2],
    seeds: [0],
    training: TINY_SWEEP_TRAINING,
    maxFleetSize: 1,
  };
  const cap = await created("/v1/capacity", capBody, 202);
  assert.equal((await waitForJob(app, `/v1/runs/${run}`)).status, "succeeded");
  assert.equal((await waitForJob(app, `/v1/capacity/${cap}`)).status, "succeeded");
  const weights = new Uint8Array(
    await (await app.request(`/v1/models/${mdl}/weights`)).arrayBuffer(),
  );
  const ids = [ds, ds2, mdl, ref, run, cap];
  const templates = new Map<string, unknown[]>([
    ["POST /v1/datasets", [uniform, tokens]],
    ["POST /v1/models", [modelBody]],
    ["POST /v1/runs", [runBody, { ...runBody, steps: undefined, epochs: 1 }]],
    ["POST /v1/capacity", [capBody]],
    ["POST /v1/models/:id/likelihood", [
      { sequences: [[0, 1, 2, 3, 4, 5, 6, 15]], perToken: true },
      { datasetId: ds },
    ]],
    ["POST /v1/memorization", [
      { modelId: mdl, datasetId: ds, reference: { kind: "uniform" } },
      { modelId: mdl, datasetId: ds2, reference: { kind: "model", modelId: ref } },
      { modelId: mdl, datasetId: ds, tfidf: true },
    ]],
    ["POST /v1/extraction", [
      { modelId: mdl, trainDatasetId: ds, heldOutDatasetId: ds2, prefixLengths: [1, 4, 7] },
      { modelId: mdl, trainDatasetId: ds2, maxSequences: 1 },
    ]],
  ]);
  return { protectedIds: new Set(ids), ids, weights, templates };
}

// ------------------------------------------------------------------ the test

const COLLECTION_BY_PREFIX: Record<string, string> = {
  ds: "datasets",
  mdl: "models",
  run: "runs",
  cap: "capacity",
};
const collectionOf = (id: string) => COLLECTION_BY_PREFIX[id.split("_")[0]];

interface Tally {
  statuses: Map<number, number>;
  /** Per route and method actually sent (printed with FUZZ_STATS=1). */
  byRoute: Map<string, Map<number, number>>;
}

/** Sends one request, throws with a reproduction when the response breaks the contract. */
async function exercise(app: App, fx: Fixtures, req: FuzzRequest, tally: Tally): Promise<void> {
  const out = await send(app, req);
  const bad = violation(req, out);
  if (bad) {
    throw new Error(
      `${bad}\n  request: ${describe(req)}\n  response: ${out.status} ${out.text.slice(0, 600)}`,
    );
  }
  tally.statuses.set(out.status, (tally.statuses.get(out.status) ?? 0) + 1);
  const key = `${req.route} (sent as ${req.method})`;
  const m = tally.byRoute.get(key) ?? new Map<number, number>();
  m.set(out.status, (m.get(out.status) ?? 0) + 1);
  tally.byRoute.set(key, m);
  // What the fuzz created joins the id pool (jobs are cancelled at once: no long GPU work);
  // what it deleted leaves it.
  if (out.status === 201 || out.status === 202) {
    const id = JSON.parse(out.text).id as string;
    fx.ids.push(id);
    if (out.status === 202) {
      const c = await call(app, "POST", `/v1/${collectionOf(id)}/${id}/cancel`);
      assert.equal(c.status, 200, JSON.stringify(c.json));
    }
  }
  if (out.status === 204 && req.method === "DELETE") {
    const i = fx.ids.indexOf(req.url.split("?")[0].split("/")[3]);
    if (i >= 0) fx.ids.splice(i, 1);
  }
}

Deno.test({
  name: "fuzz: random and malformed requests to every route never give a 5xx",
  fn: async () => {
    await withService(async ({ app }) => {
      const routes = servedRoutes(app);
      // Every documented route is fuzzed (and nothing undocumented is served).
      const doc = (await call(app, "GET", "/openapi.json")).json;
      const documented = Object.entries(doc.paths as Record<string, object>).flatMap((
        [p, ops],
      ) =>
        Object.keys(ops).filter((m) => m !== "parameters").map((m) => `${m.toUpperCase()} ${p}`)
      );
      const served = routes.map((r) =>
        `${r.method} ${r.path.replace(/:([A-Za-z0-9_]+)/g, "{$1}")}`
      );
      assert.deepEqual([...served].sort(), [...documented].sort());

      const fx = await makeFixtures(app);
      const tally: Tally = { statuses: new Map(), byRoute: new Map() };
      const started = performance.now();
      // One at a time: a failure shrinks to a small reproduction.
      await fc.assert(
        fc.asyncProperty(requestArb(routes, fx), (req) => exercise(app, fx, req, tally)),
        { numRuns: NUM_REQUESTS, seed: SEED, verbose: 1 },
      );
      // Then a burst with 16 in flight: creates, deletes, cancels and GPU reads interleave.
      const burst = fc.sample(requestArb(routes, fx), { numRuns: BURST_REQUESTS, seed: SEED + 1 });
      for (let i = 0; i < burst.length; i += 16) {
        await Promise.all(burst.slice(i, i + 16).map((req) => exercise(app, fx, req, tally)));
      }
      const seconds = (performance.now() - started) / 1000;
      if (Deno.env.get("FUZZ_STATS")) {
        for (const [k, m] of [...tally.byRoute].sort()) {
          console.log(k, JSON.stringify(Object.fromEntries(m)));
        }
      }
      console.log(
        `fuzz: ${NUM_REQUESTS + BURST_REQUESTS} requests over ${routes.length} routes in ` +
          `${seconds.toFixed(1)} s; statuses ` +
          JSON.stringify(Object.fromEntries([...tally.statuses].sort())),
      );
      // Every route was reached, and most also answered 2xx: the fuzz gets past validation.
      const routeOf = (k: string) => k.split(" (")[0];
      const reached = new Set([...tally.byRoute.keys()].map(routeOf));
      assert.equal(reached.size, routes.length);
      const succeeded = new Set(
        [...tally.byRoute].filter(([, m]) => [...m.keys()].some((s) => s < 300)).map(([k]) =>
          routeOf(k)
        ),
      );
      assert.ok(succeeded.size >= 0.75 * routes.length, `2xx on ${[...succeeded]}`);

      // Still serving, and the fixtures are intact.
      const health = await call(app, "GET", "/v1/health");
      assert.equal(health.status, 200);
      assert.equal(health.json.status, "ok");
      for (const id of fx.protectedIds) {
        assert.equal((await call(app, "GET", `/v1/${collectionOf(id)}/${id}`)).status, 200, id);
      }
      // Every job the fuzz started ends (cancelled, or done), none failed.
      for (const id of fx.ids.filter((i) => /^(run|cap)_/.test(i))) {
        const job = await waitForJob(app, `/v1/${collectionOf(id)}/${id}`);
        assert.notEqual(job.status, "failed", `${id}: ${JSON.stringify(job.error)}`);
      }
    });
  },
});

const TOKEN = "s3cret-T0ken";
const printable = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 40,
});
const authHeaderArb: fc.Arbitrary<string | null> = fc.oneof(
  fc.constant(null),
  fc.constant(`Bearer ${TOKEN}`),
  fc.constantFrom(
    "Bearer",
    "Bearer ",
    "Bearer wrong",
    `Bearer ${TOKEN}x`,
    `Bearer ${TOKEN.slice(1)}`,
    `Basic ${btoa(`user:${TOKEN}`)}`,
    `Token ${TOKEN}`,
    `Bearer ${"a".repeat(10_000)}`,
    "Bearer ====",
    "Bearer a b",
  ),
  printable,
  printable.map((t) => `Bearer ${t}`),
);

Deno.test({
  name: "fuzz: with MEMCAP_TOKEN and a small body limit, bad tokens get 401 and big bodies 413",
  fn: async () => {
    await withService(async ({ app: open, store, jobs, engine, metrics }) => {
      const fx = await makeFixtures(open);
      const app = createApp({
        gpu: () => engine.gpu(),
        store,
        jobs,
        engine,
        metrics, // so /metrics is fuzzed behind the token too
        token: TOKEN,
        maxBodyBytes: 4096,
        log: () => {},
      });
      const routes = servedRoutes(app);
      const bigBody = fc.constantFrom(4097, 50_000).map((n) => ({
        kind: `big-${n}`,
        body: JSON.stringify({ pad: "x".repeat(n) }),
      }));
      const counts = { unauthorized: 0, tooLarge: 0, passed: 0 };
      await fc.assert(
        fc.asyncProperty(
          requestArb(routes, fx),
          authHeaderArb,
          fc.option(bigBody, { freq: 4 }),
          async (req0, auth, big) => {
            const req = big && req0.body !== null ? { ...req0, ...big } : req0;
            const headers: Record<string, string> = {};
            if (req.contentType) headers["content-type"] = req.contentType;
            if (auth !== null) headers.authorization = auth;
            const res = await app.request(req.url, {
              method: req.method,
              headers,
              body: req.body === null ? undefined : req.body as BodyInit,
            });
            const contentType = res.headers.get("content-type") ?? "";
            let text = "";
            if (contentType.includes("text/event-stream")) await res.body?.cancel();
            else text = await res.text();
            const out = { status: res.status, contentType, text };
            const where = `\n  request: ${describe(req)} authorization=${JSON.stringify(auth)}` +
              `\n  response: ${out.status} ${text.slice(0, 400)}`;
            const bad = violation(req, out);
            if (bad) throw new Error(bad + where);
            const path = req.url.split("?")[0];
            const isPublic = (!path.startsWith("/v1/") && path !== "/metrics") ||
              (path === "/v1/health" && (req.method === "GET" || req.method === "HEAD"));
            if (!isPublic && (auth === null || !auth.includes(TOKEN))) {
              // Hono's bearer auth: 401 without or with a wrong token, 400 for a header that
              // is not "Bearer <token68>".
              assert.ok(
                out.status === 401 || out.status === 400,
                `a request without the token got through${where}`,
              );
            }
            if (out.status === 401) counts.unauthorized++;
            if (out.status === 413) counts.tooLarge++;
            if (out.status !== 401 && out.status !== 413) counts.passed++;
            if (out.status === 202) {
              const id = JSON.parse(text).id as string;
              await call(open, "POST", `/v1/${collectionOf(id)}/${id}/cancel`);
            }
          },
        ),
        { numRuns: AUTH_REQUESTS, seed: SEED + 2 },
      );
      console.log(`fuzz with a token: ${AUTH_REQUESTS} requests: ${JSON.stringify(counts)}`);
      assert.ok(counts.unauthorized > 0 && counts.tooLarge > 0 && counts.passed > 0);
    });
  },
});

Deno.test({
  name: "fuzz: huge model shapes are refused with 4xx before any GPU work",
  fn: async () => {
    await withService(async ({ app, store }) => {
      const huge = [
        { vocabSize: 1 << 20, seqLen: 4096, layers: 64, dModel: 8192, heads: 256 },
        { vocabSize: 1 << 20, seqLen: 4096, layers: 1, dModel: 256, heads: 4 },
        { vocabSize: 1 << 20, seqLen: 4096, layers: 1, dModel: 128, heads: 4 },
        { vocabSize: 2048, seqLen: 4096, layers: 64, dModel: 1024, heads: 16 },
        { vocabSize: 1 << 21, seqLen: 8, layers: 1, dModel: 16, heads: 2 },
        { vocabSize: 16, seqLen: 8, layers: 1, dModel: 2 ** 31, heads: 2 },
      ];
      for (const config of huge) {
        const started = performance.now();
        for (
          const [path, body] of [
            ["/v1/models", { config, seed: 0 }],
            ["/v1/capacity", { config, datasetSizes: [1], seeds: [0], maxFleetSize: 1 }],
          ] as const
        ) {
          const r = await call(app, "POST", path, body);
          assert.ok(
            r.status >= 400 && r.status < 500,
            `${path} ${JSON.stringify(config)}: ${r.status} ${JSON.stringify(r.json)}`,
          );
          assert.equal(typeof r.json.error.message, "string");
          assert.match(r.json.error.message, /body\.config/);
        }
        assert.ok(performance.now() - started < 5000, `${JSON.stringify(config)} took too long`);
      }
      assert.equal(await store.count("models"), 0);
      assert.equal(await store.count("capacity"), 0);
    });
  },
});

Deno.test({
  name: "/docs/assets/{inherited Object property name} answers 404, not 500",
  fn: async () => {
    await withService(async ({ app }) => {
      for (const name of ["toString", "constructor", "__proto__", "valueOf", "hasOwnProperty"]) {
        const r = await call(app, "GET", `/docs/assets/${name}`);
        assert.equal(r.status, 404, `${name}: ${r.status} ${JSON.stringify(r.json)}`);
        assert.equal(r.json.error.code, "not_found");
      }
    });
  },
});
