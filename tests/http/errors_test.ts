import assert from "node:assert/strict";
import { probeApp } from "./_probe.ts";

const JSON_TYPE = { "content-type": "application/json" };

Deno.test("a JSON body without a JSON content type answers 415 naming what came", async () => {
  const { app } = probeApp();
  for (const headers of [{}, { "content-type": "text/plain" }] as Record<string, string>[]) {
    const res = await app.request("/v1/probes", {
      method: "POST",
      headers,
      body: JSON.stringify({ config: { vocabSize: 16 } }),
    });
    assert.equal(res.status, 415);
    const err = await errorOf(res);
    assert.equal(err.code, "unsupported_media_type");
    assert.match(err.message, /Content-Type: application\/json/);
  }
  const merge = await app.request("/v1/probes", {
    method: "POST",
    headers: { "content-type": "application/merge-patch+json; charset=utf-8" },
    body: JSON.stringify({ config: { vocabSize: 16 } }),
  });
  assert.equal(merge.status, 201);
  await merge.body?.cancel();
});

async function errorOf(res: Response) {
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  const body = await res.json();
  assert.equal(typeof body.error?.code, "string");
  assert.equal(typeof body.error?.message, "string");
  return body.error as { code: string; message: string; details?: any };
}

Deno.test("unknown route -> 404 JSON error", async () => {
  const { app } = probeApp();
  const res = await app.request("/v1/nope?x=1");
  assert.equal(res.status, 404);
  const err = await errorOf(res);
  assert.equal(err.code, "not_found");
  assert.match(err.message, /GET \/v1\/nope/);
  assert.equal((await app.request("/v1/health", { method: "DELETE" })).status, 404);
});

Deno.test("malformed JSON -> 400 JSON error naming the problem", async () => {
  const { app } = probeApp();
  const res = await app.request("/v1/probes", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: '{"config": {"vocabSize": 2,',
  });
  assert.equal(res.status, 400);
  const err = await errorOf(res);
  assert.equal(err.code, "invalid_json");
  assert.match(err.message, /Malformed JSON body/);
  assert.match(err.message, /JSON/);
});

Deno.test("missing body -> 400", async () => {
  const { app } = probeApp();
  const res = await app.request("/v1/probes", { method: "POST" });
  assert.equal(res.status, 400);
  assert.equal((await errorOf(res)).code, "missing_body");
});

Deno.test("schema violations -> 422 naming each field path", async () => {
  const { app } = probeApp();
  const res = await app.request("/v1/probes", {
    method: "POST",
    headers: JSON_TYPE,
    body: JSON.stringify({ config: { vocabSize: 2, heads: 0 }, sequences: [[1, 2], [3, -1]] }),
  });
  assert.equal(res.status, 422);
  const err = await errorOf(res);
  assert.equal(err.code, "validation_error");
  assert.match(err.message, /body\.config\.heads: /);
  assert.match(err.message, /body\.sequences\[1\]\[1\]: /);
  assert.deepEqual(
    err.details.issues.map((i: { path: string }) => i.path),
    ["body.config.heads", "body.sequences[1][1]"],
  );
});

Deno.test("valid input reaches the handler parsed (defaults applied, query coerced)", async () => {
  const { app } = probeApp();
  const res = await app.request("/v1/probes", {
    method: "POST",
    headers: JSON_TYPE,
    body: JSON.stringify({ config: { vocabSize: 16 } }),
  });
  assert.equal(res.status, 201);
  assert.deepEqual(await res.json(), { id: "p1", config: { vocabSize: 16, heads: 4 } });

  const q = await app.request("/v1/probes/abc/items?limit=5&tag=a&tag=b");
  assert.equal(q.status, 200);
  assert.deepEqual(await q.json(), { id: "abc", limit: 5, tag: ["a", "b"] });

  const one = await app.request("/v1/probes/abc/items?tag=a");
  assert.deepEqual(await one.json(), { id: "abc", limit: 10, tag: ["a"] });
});

Deno.test("bad query and path parameters -> 422 naming query.* / params.*", async () => {
  const { app } = probeApp();
  const q = await errorOf(await app.request("/v1/probes/abc/items?limit=lots"));
  assert.match(q.message, /^query\.limit: /);
  const p = await app.request("/v1/probes/ab/items");
  assert.equal(p.status, 422);
  assert.match((await errorOf(p)).message, /^params\.id: /);
});

Deno.test("unexpected errors -> 500 without internals, logged on the server", async () => {
  const { app, logged } = probeApp();
  const res = await app.request("/v1/probes/boom");
  assert.equal(res.status, 500);
  const text = await res.text();
  assert.ok(!text.includes("secret internal detail"), text);
  assert.ok(!text.includes("at "), "no stack trace in the response");
  assert.deepEqual(JSON.parse(text), {
    error: { code: "internal_error", message: "Internal server error" },
  });
  assert.equal(logged.length, 1);
  assert.match(String(logged[0]), /secret internal detail/);
});

Deno.test("bodies over the route's limit -> 413", async () => {
  const { app } = probeApp();
  const big = JSON.stringify({ config: { vocabSize: 2 }, sequences: [new Array(2000).fill(1)] });
  const res = await app.request("/v1/probes", { method: "POST", body: big });
  assert.equal(res.status, 413);
  const err = await errorOf(res);
  assert.equal(err.code, "payload_too_large");

  // A chunked body (no Content-Length) is counted as it streams.
  const stream = new Blob([big]).stream();
  const chunked = await app.request("/v1/probes", {
    method: "POST",
    body: stream,
    duplex: "half",
  } as RequestInit);
  assert.equal(chunked.status, 413);
  await chunked.body?.cancel();
});

Deno.test("the app-wide body limit applies to routes without their own", async () => {
  const { app } = probeApp({ maxBodyBytes: 40 });
  const body = JSON.stringify({ text: "x".repeat(60) });
  const capped = await app.request("/v1/probes/echo", { method: "POST", headers: JSON_TYPE, body });
  assert.equal(capped.status, 413);
  assert.match((await errorOf(capped)).message, /limit of 40 bytes/);
  const small = await app.request("/v1/probes/echo", {
    method: "POST",
    headers: JSON_TYPE,
    body: '{"text":"hi"}',
  });
  assert.deepEqual(await small.json(), { text: "hi" });
  // The probe-creating route sets its own 1024-byte limit, above the app's 40.
  const own = await app.request("/v1/probes", {
    method: "POST",
    headers: JSON_TYPE,
    body: JSON.stringify({ config: { vocabSize: 2 }, sequences: [[1, 2, 3, 4, 5, 6, 7, 8]] }),
  });
  assert.equal(own.status, 201);
  await own.body?.cancel();
});
