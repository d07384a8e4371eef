import assert from "node:assert/strict";
import { validate } from "@readme/openapi-parser";
import { z } from "zod";
import { createApp } from "../../routes/app.ts";
import { toOpenApiPath } from "../../lib/http/route.ts";
import { ErrorBody } from "../../lib/http/errors.ts";
import { VERSION } from "../../lib/version.ts";
import { fakeGpu, probeApp } from "./_probe.ts";

async function documentOf(app: { request: (p: string) => Response | Promise<Response> }) {
  const res = await app.request("/openapi.json");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  return await res.json();
}

async function assertValid(doc: unknown) {
  const result = await validate(structuredClone(doc) as any);
  assert.ok(result.valid, JSON.stringify(result, null, 2));
}

/** Every non-middleware route Hono serves, as "method /openapi/{path}". */
function servedRoutes(app: { routes: { method: string; path: string }[] }): string[] {
  return [
    ...new Set(
      app.routes
        .filter((r) => r.method !== "ALL")
        .map((r) => `${r.method.toLowerCase()} ${toOpenApiPath(r.path)}`),
    ),
  ];
}

for (
  const [name, make] of [
    ["the service", () => createApp({ gpu: fakeGpu })],
    ["the service with a token", () => createApp({ gpu: fakeGpu, token: "t" })],
    ["the service with probe routes", () => probeApp().app],
  ] as const
) {
  Deno.test(`/openapi.json of ${name} is valid OpenAPI 3.1 listing every route`, async () => {
    const app = make();
    const doc = await documentOf(app);
    assert.equal(doc.openapi, "3.1.0");
    assert.equal(doc.info.version, VERSION);
    await assertValid(doc);

    const served = servedRoutes(app);
    assert.ok(served.includes("get /v1/health"));
    assert.ok(served.includes("get /openapi.json"));
    assert.ok(served.includes("get /docs"));
    for (const route of served) {
      const [method, path] = route.split(" ");
      assert.ok(doc.paths[path]?.[method], `${route} is served but missing from the document`);
    }
    // ...and the document lists nothing that is not served.
    const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item as object).map((m) => `${m} ${path}`)
    );
    assert.deepEqual(documented.sort(), served.sort());
  });
}

Deno.test("schemas with .meta({id}) become components; refs, examples, params carry over", async () => {
  const doc = await documentOf(probeApp().app);
  const schemas = doc.components.schemas;
  for (const id of ["Error", "Health", "GpuSummary", "ProbeCreate", "ProbeThing", "ProbeConfig"]) {
    assert.ok(schemas[id], `components.schemas.${id}`);
  }
  // ProbeConfig's input side (heads has a default, so is optional) differs from its output.
  assert.deepEqual(schemas.ProbeConfig.required, ["vocabSize", "heads"]);
  assert.deepEqual(schemas.ProbeConfigInput.required, ["vocabSize"]);
  assert.equal(schemas.ProbeCreate.properties.config.$ref, "#/components/schemas/ProbeConfigInput");

  const create = doc.paths["/v1/probes"].post;
  const body = create.requestBody.content["application/json"];
  assert.equal(body.schema.$ref, "#/components/schemas/ProbeCreate");
  assert.deepEqual(body.example, { config: { vocabSize: 2048, heads: 4 } });
  assert.equal(create.requestBody.required, true);
  assert.equal(
    create.responses["201"].content["application/json"].schema.$ref,
    "#/components/schemas/ProbeThing",
  );
  for (const status of ["400", "422", "413", "default"]) {
    assert.equal(
      create.responses[status].content["application/json"].schema.$ref,
      "#/components/schemas/Error",
    );
  }
  assert.ok(doc.tags.some((t: { name: string }) => t.name === "probes"));

  const items = doc.paths["/v1/probes/{id}/items"].get;
  const byName = Object.fromEntries(items.parameters.map((p: any) => [p.name, p]));
  assert.equal(byName.id.in, "path");
  assert.equal(byName.id.required, true);
  assert.equal(byName.limit.in, "query");
  assert.equal(byName.limit.required, false);
  assert.equal(byName.limit.schema.default, 10);
  assert.equal(byName.tag.schema.type, "array");

  assert.equal(doc.paths["/docs/assets/{file}"].get.parameters[0].name, "file");
  const health = doc.paths["/v1/health"].get.responses["200"].content["application/json"];
  assert.equal(health.schema.$ref, "#/components/schemas/Health");
  assert.equal(health.example.status, "ok");
});

Deno.test("/openapi.json of the full service (store, jobs, engine) is valid and complete", async () => {
  const { withService } = await import("./_service.ts");
  await withService(async ({ app }) => {
    const doc = await documentOf(app);
    await assertValid(doc);
    const served = servedRoutes(app);
    const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item as object).map((m) => `${m} ${path}`)
    );
    assert.deepEqual(documented.sort(), served.sort());
    // The contract of DESIGN.md ("HTTP API v1") for this resources.
    for (
      const route of [
        "post /v1/runs",
        "get /v1/runs",
        "get /v1/runs/{id}",
        "get /v1/runs/{id}/events",
        "post /v1/runs/{id}/cancel",
        "delete /v1/runs/{id}",
        "post /v1/models/{id}/likelihood",
        "post /v1/memorization",
        "post /v1/extraction",
        "post /v1/capacity",
        "get /v1/capacity",
        "get /v1/capacity/{id}",
        "get /v1/capacity/{id}/plot.svg",
        "delete /v1/capacity/{id}",
      ]
    ) {
      assert.ok(served.includes(route), `${route} is served`);
    }
    for (
      const id of [
        "Run",
        "RunCreateRequest",
        "CapacitySweep",
        "MemorizationResult",
        "ExtractionRequest",
        "ExtractionResult",
      ]
    ) {
      assert.ok(doc.components.schemas[id], `components.schemas.${id}`);
    }
  });
});

/** The zod schema registered under a component's id (`.meta({ id })`), if any. */
function zodSchemaOf(id: string): z.ZodType | undefined {
  // zod keeps no public lookup by id; its registry's id map is the one source.
  return z.globalRegistry._idmap.get(id) as z.ZodType | undefined;
}

Deno.test("every JSON response body schema has an example that its own zod schema accepts", async () => {
  const { withService } = await import("./_service.ts");
  await withService(async ({ app }) => {
    const doc = await documentOf(app);
    const schemas = doc.components.schemas;
    // Components used as a JSON response body (successes and errors alike)...
    const used = new Set<string>();
    for (const item of Object.values<Record<string, any>>(doc.paths)) {
      for (const op of Object.values(item)) {
        for (const [status, res] of Object.entries<any>(op.responses)) {
          const ref = res.content?.["application/json"]?.schema?.$ref as string | undefined;
          if (ref) used.add(ref.slice("#/components/schemas/".length));
          // Error statuses document the one error shape, so its example shows too.
          if (status === "default" || Number(status) >= 400) {
            assert.equal(ref, "#/components/schemas/Error", `${status} of ${op.operationId}`);
          }
        }
      }
    }
    for (const id of ["Run", "RunPage", "CapacitySweep", "CapacitySweepPage", "Error"]) {
      assert.ok(used.has(id), `${id} is a response body`);
    }
    // ...and the job results and progress they nest, which readers look up on their own.
    const nested = [
      "RunResult",
      "RunProgress",
      "CapacitySweepResult",
      "CapacityProgress",
      "SweepRun",
    ];
    for (const id of [...used, ...nested]) {
      const example = schemas[id]?.example;
      assert.ok(example !== undefined, `components.schemas.${id} has no example`);
      const zod = zodSchemaOf(id);
      assert.ok(zod, `no zod schema registered as ${id}`);
      const parsed = zod.safeParse(example);
      assert.ok(parsed.success, `${id}'s example: ${parsed.error?.message}`);
    }
  });
});

Deno.test("each error status shows its own example, and a sweep's 202 a sweep id", async () => {
  const { withService } = await import("./_service.ts");
  await withService(async ({ app }) => {
    const doc = await documentOf(app);
    const seen = new Map<string, string>();
    for (const item of Object.values<Record<string, any>>(doc.paths)) {
      for (const op of Object.values(item)) {
        for (const [status, res] of Object.entries<any>(op.responses)) {
          if (status !== "default" && Number(status) < 400) continue;
          const example = res.content?.["application/json"]?.example;
          assert.ok(example, `${status} of ${op.operationId} has an example`);
          assert.ok(ErrorBody.safeParse(example).success, `${status} of ${op.operationId}`);
          seen.set(status, example.error.code);
        }
      }
    }
    assert.equal(seen.get("404"), "not_found");
    assert.equal(seen.get("415"), "unsupported_media_type");
    assert.equal(seen.get("422"), "validation_error");
    assert.equal(seen.get("429"), "queue_full");
    assert.equal(new Set(seen.values()).size, seen.size, "one code per status");
    const accepted = doc.paths["/v1/capacity"].post.responses["202"].content["application/json"];
    assert.match(accepted.example.id, /^cap_/);
  });
});
