// Every route with an `{id}` in its path answers an unknown id with a 404
// whose message names the parameter (`params.id: ...`), the way validation
// errors name `body.*` and `query.*` fields. The routes come from the
// OpenAPI document, so a new route is checked without editing this test.
import assert from "node:assert/strict";
import { JobQueue } from "../../lib/jobs/queue.ts";
import { openStore } from "../../lib/store/mod.ts";
import { type Collection, newId } from "../../lib/store/store.ts";
import { createApp } from "../../routes/app.ts";
import { fakeGpu, tokenSumEngine } from "./_probe.ts";

Deno.test("an unknown path id -> 404 naming params.id, on every route that takes one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memcap_service_path_ids_" });
  const store = await openStore({ dataDir: dir });
  try {
    const jobs = new JobQueue(store); // never started: nothing runs
    const app = createApp({ gpu: fakeGpu, store, jobs, engine: tokenSumEngine, log: () => {} });
    const doc = await (await app.request("/openapi.json")).json();
    const checked: string[] = [];
    for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
      if (!path.includes("{id}")) continue;
      // "/v1/{collection}/{id}/...": a well-formed id of that collection, and a malformed one.
      const collection = path.split("/")[2] as Collection;
      for (const [method, op] of Object.entries(item)) {
        // A valid body, so the request gets past validation to the id lookup.
        const example = op.requestBody?.content?.["application/json"]?.example;
        for (const id of [newId(collection), "nope"]) {
          const res = await app.request(path.replace("{id}", id), {
            method: method.toUpperCase(),
            headers: { "content-type": "application/json" },
            body: example === undefined ? undefined : JSON.stringify(example),
          });
          const where = `${method.toUpperCase()} ${path} with id ${id}`;
          const text = await res.text();
          assert.equal(res.status, 404, `${where}: ${text}`);
          const err = JSON.parse(text).error;
          assert.equal(err.code, "not_found", where);
          assert.match(err.message, new RegExp(`^params\\.id: no \\w[\\w ]* ${id}$`), where);
        }
        checked.push(`${method} ${path}`);
      }
    }
    // datasets, models, runs, capacity and membership routes: a floor against an empty loop.
    assert.ok(checked.length >= 20, `only ${checked.length} routes checked: ${checked}`);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
