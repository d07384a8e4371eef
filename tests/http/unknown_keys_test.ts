// Typos are refused, not silently dropped (issue 23): a key a request body's schema does not
// know answers 422 naming it and, when one is close, the key meant; nothing is queued.
import assert from "node:assert/strict";
import { z } from "zod";
import { closest, unknownKeys } from "../../lib/http/unknown_keys.ts";
import { JobQueue } from "../../lib/jobs/queue.ts";
import { openStore } from "../../lib/store/mod.ts";
import { createApp } from "../../routes/app.ts";
import { fakeGpu, queueOnlyEngine } from "./_probe.ts";

Deno.test("closest: a typo finds the key meant; a stranger finds none", () => {
  const keys = ["config", "training", "datasetSizes", "seeds", "maxSteps", "steps"];
  assert.equal(closest("trainig", keys), "training");
  assert.equal(closest("maxStep", keys), "maxSteps");
  assert.equal(closest("stepz", keys), "steps");
  assert.equal(closest("sedes", keys), "seeds"); // a transposition is one edit
  assert.equal(closest("colour", keys), undefined);
});

Deno.test("unknownKeys walks nested objects, arrays, defaults and unions", () => {
  const schema = z.object({
    a: z.object({ b: z.number() }).default({ b: 1 }),
    list: z.array(z.object({ x: z.number() })),
    pick: z.union([z.object({ kind: z.literal("u"), n: z.number() }), z.string()]),
    free: z.record(z.string(), z.number()).optional(),
  });
  const value = {
    a: { b: 2, c: 3 },
    list: [{ x: 1 }, { x: 2, y: 3 }],
    pick: { kind: "u", n: 1, m: 2 },
    free: { anything: 1 },
    extra: true,
  };
  assert.ok(schema.safeParse(value).success, "zod alone drops them all");
  assert.deepEqual(unknownKeys(schema, value).map((u) => u.path.join(".")), [
    "a.c",
    "list.1.y",
    "pick.m",
    "extra",
  ]);
  assert.deepEqual(unknownKeys(schema, { list: [], pick: "s" }), []);
});

Deno.test("a request with a misspelt key answers 422 naming it; nothing is queued", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memcap_unknown_keys_" });
  const store = await openStore({ dataDir: dir });
  try {
    const app = createApp({
      gpu: fakeGpu,
      store,
      jobs: new JobQueue(store),
      engine: queueOnlyEngine,
    });
    const post = async (path: string, body: unknown) => {
      const res = await app.request(path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: res.status, json: await res.json() };
    };
    const config = { vocabSize: 64, seqLen: 16, layers: 1, dModel: 16, heads: 2 };
    const cases: [string, unknown, RegExp][] = [
      [
        "/v1/capacity",
        { config, trainig: { maxSteps: 1000 } },
        /^body\.trainig: unknown key; did you mean "training"\?$/,
      ],
      [
        "/v1/capacity",
        { config, training: { maxStep: 1000 } },
        /^body\.training\.maxStep: unknown key; did you mean "maxSteps"\?$/,
      ],
      [
        "/v1/runs",
        {
          modelId: "mdl_00000000000000000000",
          datasetId: "ds_00000000000000000000",
          optimizer: { type: "adamw", lr: 1e-3 },
          batchSize: 8,
          stepz: 10,
          steps: 10,
        },
        /^body\.stepz: unknown key; did you mean "steps"\?$/,
      ],
      ["/v1/models", { config, seed: 0, colour: "red" }, /^body\.colour: unknown key$/],
    ];
    for (const [path, body, message] of cases) {
      const r = await post(path, body);
      assert.equal(r.status, 422, `${path}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.error.code, "validation_error");
      assert.match(r.json.error.message, message);
      assert.equal(r.json.error.details.issues[0].code, "unrecognized_keys");
    }
    assert.equal(await store.count("capacity"), 0);
    assert.equal(await store.count("models"), 0);
    // The same requests without the typo are accepted.
    const fixed = await post("/v1/capacity", { config, training: { maxSteps: 1000 } });
    assert.equal(fixed.status, 202, JSON.stringify(fixed.json));
    // The document says so: request objects admit no other keys.
    const doc = await (await app.request("/openapi.json")).json();
    const ref = doc.paths["/v1/capacity"].post.requestBody.content["application/json"].schema.$ref;
    const sweep = doc.components.schemas[ref.split("/").pop()];
    assert.equal(sweep.additionalProperties, false);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
