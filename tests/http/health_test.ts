import assert from "node:assert/strict";
import { createApp } from "../../routes/app.ts";
import { VERSION } from "../../lib/version.ts";
import { Health } from "../../routes/health.ts";
import { fakeGpu } from "./_probe.ts";

Deno.test("GET /v1/health reports version, GPU and queue depth", async () => {
  const app = createApp({ gpu: fakeGpu, queue: { depth: () => 3 } });
  const res = await app.request("/v1/health");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  const body = await res.json();
  Health.parse(body);
  assert.deepEqual(body, {
    status: "ok",
    version: VERSION,
    gpu: {
      backend: "vulkan",
      description: "Fake GPU",
      software: false,
      limits: { maxBufferSize: 1 << 30 },
    },
    queue: { depth: 3 },
  });
});

Deno.test("GET /v1/health without an adapter answers 'degraded' with the reason", async () => {
  const app = createApp({ gpu: () => Promise.reject(new Error("No WebGPU adapter")) });
  const res = await app.request("/v1/health");
  assert.equal(res.status, 200);
  const body = Health.parse(await res.json());
  assert.equal(body.status, "degraded");
  assert.equal(body.gpu, null);
  assert.equal(body.error, "No WebGPU adapter");
  assert.equal(body.version, VERSION);
  assert.deepEqual(body.queue, { depth: 0 });
});

Deno.test("with a token, /v1/* needs it but health and docs stay public", async () => {
  const app = createApp({ gpu: fakeGpu, token: "s3cret" });
  assert.equal((await app.request("/v1/health")).status, 200);
  assert.equal((await app.request("/openapi.json")).status, 200);

  const denied = await app.request("/v1/datasets");
  assert.equal(denied.status, 401);
  assert.match(denied.headers.get("www-authenticate") ?? "", /Bearer/);
  const err = await denied.json();
  assert.equal(err.error.code, "unauthorized");

  const wrong = await app.request("/v1/datasets", { headers: { authorization: "Bearer nope" } });
  assert.equal(wrong.status, 401);

  // With the right token the request gets past auth (and, here, to the 404 handler).
  const ok = await app.request("/v1/datasets", { headers: { authorization: "Bearer s3cret" } });
  assert.equal(ok.status, 404);
  assert.equal((await ok.json()).error.code, "not_found");

  const doc = await (await app.request("/openapi.json")).json();
  assert.ok(doc.components.securitySchemes.bearerAuth);
  assert.equal(doc.paths["/v1/health"].get.security, undefined);
});
