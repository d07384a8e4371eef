import assert from "node:assert/strict";
import { validate } from "@readme/openapi-parser";
import { createApp } from "../../routes/app.ts";
import {
  Dataset,
  DatasetSequences,
  DatasetVocabulary,
  MAX_TEXT_BYTES,
} from "../../lib/datasets/schemas.ts";
import { MAX_DATASET_TOKENS } from "../../lib/datasets/tokens.ts";
import type { Engine } from "../../lib/engine_interface.ts";
import { toOpenApiPath } from "../../lib/http/route.ts";
import { JobQueue } from "../../lib/jobs/queue.ts";
import { parameterCount } from "../../lib/model/config.ts";
import type { Store } from "../../lib/store/store.ts";
import { fakeGpu } from "./_probe.ts";
import { call, withService } from "./_service.ts";
import { openTestStore, type StoreBackend, storeTest } from "./_stores.ts";

type App = ReturnType<typeof createApp>;

/** Refuses models over a million parameters, like a small GPU would. */
const fakeEngine: Engine = {
  gpu: fakeGpu,
  checkFits({ config }) {
    const n = parameterCount(config);
    if (n > 1_000_000) {
      return Promise.reject(
        new RangeError(`the model needs ${n * 16} bytes of buffers; the adapter allows 16000000`),
      );
    }
    return Promise.resolve();
  },
  likelihood: () => Promise.reject(new Error("not in these tests")),
  greedyDecode: () => Promise.reject(new Error("not in these tests")),
  runJob: () => Promise.reject(new Error("not in these tests")),
};

/** The real app over a real store (Deno KV or PostgreSQL), a JobQueue that is never started. */
async function withApp(
  backend: StoreBackend,
  fn: (t: { app: App; store: Store; jobs: JobQueue }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "memcap_datasets_http_" });
  const store = await openTestStore(backend, dir);
  try {
    const jobs = new JobQueue(store);
    const app = createApp({ gpu: fakeGpu, store, jobs, engine: fakeEngine, log: () => {} });
    await fn({ app, store, jobs });
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function post(app: App, path: string, body: unknown): Promise<Response> {
  return Promise.resolve(app.request(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  }));
}

async function expectError(res: Response, status: number, pattern?: RegExp) {
  const body = await res.json();
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(typeof body.error?.code, "string");
  if (pattern) assert.match(body.error.message, pattern);
  return body.error;
}

const uniform = { kind: "uniform", vocabSize: 50, seqLen: 8, count: 10, seed: 7 };

storeTest(
  "POST /v1/datasets (uniform) creates a seeded dataset; GET reads it and its sequences",
  async (backend) => {
    await withApp(backend, async ({ app }) => {
      const res = await post(app, "/v1/datasets", uniform);
      assert.equal(res.status, 201);
      const ds = Dataset.parse(await res.json());
      assert.match(ds.id, /^ds_[0-9a-z]{20}$/);
      assert.equal(ds.kind, "uniform");
      assert.deepEqual([ds.count, ds.seqLen, ds.vocabSize, ds.seed], [10, 8, 50, 7]);
      assert.ok(Math.abs(ds.entropyBits! - 10 * 8 * Math.log2(50)) < 1e-6);
      assert.ok(Math.abs(ds.entropyBitsPredicted! - 10 * 7 * Math.log2(50)) < 1e-6);

      const got = await app.request(`/v1/datasets/${ds.id}`);
      assert.equal(got.status, 200);
      assert.deepEqual(await got.json(), ds);

      const seqRes = await app.request(`/v1/datasets/${ds.id}/sequences?offset=2&limit=5`);
      assert.equal(seqRes.status, 200);
      const page = DatasetSequences.parse(await seqRes.json());
      assert.deepEqual([page.offset, page.limit, page.total], [2, 5, 10]);
      assert.equal(page.sequences.length, 5);
      for (const s of page.sequences) {
        assert.equal(s.length, 8);
        for (const t of s) assert.ok(Number.isInteger(t) && t >= 0 && t < 50);
      }
      // Past the end: no sequences. Defaults: offset 0, limit 100.
      const tail = await (await app.request(`/v1/datasets/${ds.id}/sequences?offset=9`)).json();
      assert.equal(tail.sequences.length, 1);
      const all = await (await app.request(`/v1/datasets/${ds.id}/sequences`)).json();
      assert.equal(all.sequences.length, 10);
      assert.deepEqual(all.sequences.slice(2, 7), page.sequences);
      const none = await (await app.request(`/v1/datasets/${ds.id}/sequences?offset=10`)).json();
      assert.deepEqual(none.sequences, []);

      // The same request gives the same tokens; another seed gives others.
      const again = Dataset.parse(await (await post(app, "/v1/datasets", uniform)).json());
      assert.notEqual(again.id, ds.id);
      const allAgain = await (await app.request(`/v1/datasets/${again.id}/sequences`)).json();
      assert.deepEqual(allAgain.sequences, all.sequences);
      const other = Dataset.parse(
        await (await post(app, "/v1/datasets", { ...uniform, seed: 8 })).json(),
      );
      const allOther = await (await app.request(`/v1/datasets/${other.id}/sequences`)).json();
      assert.notDeepEqual(allOther.sequences, all.sequences);
    });
  },
);

storeTest("POST /v1/datasets (tokens) stores the uploaded sequences as given", async (backend) => {
  await withApp(backend, async ({ app }) => {
    const sequences = [[0, 1, 2, 3], [15, 14, 13, 12], [7, 7, 7, 7]];
    const res = await post(app, "/v1/datasets", { kind: "tokens", vocabSize: 16, sequences });
    assert.equal(res.status, 201);
    const ds = Dataset.parse(await res.json());
    assert.equal(ds.kind, "tokens");
    assert.deepEqual([ds.count, ds.seqLen, ds.vocabSize], [3, 4, 16]);
    assert.equal(ds.entropyBits, undefined);
    const page = await (await app.request(`/v1/datasets/${ds.id}/sequences`)).json();
    assert.deepEqual(page.sequences, sequences);
    assert.equal(page.total, 3);
  });
});

storeTest("POST /v1/datasets answers 422 naming the field, and stores nothing", async (backend) => {
  await withApp(backend, async ({ app, store }) => {
    const tokens = (sequences: unknown, vocabSize = 16) =>
      post(app, "/v1/datasets", { kind: "tokens", vocabSize, sequences });

    let err = await expectError(
      await tokens([[1, 2, 3], [4, 5, 16]]),
      422,
      /body\.sequences\[1\]\[2\].*16/,
    );
    assert.equal(err.code, "validation_error");
    await expectError(await tokens([[1, 2, 3], [4, 5]]), 422, /body\.sequences\[1\]/);
    await expectError(await tokens([[1, 2], [3, -1]]), 422, /body\.sequences\[1\]\[1\]/);
    await expectError(await tokens([[1, 2], [3, 1.5]]), 422, /body\.sequences\[1\]\[1\]/);
    await expectError(await tokens([[1]]), 422, /body\.sequences\[0\]/);
    await expectError(await tokens([]), 422, /body\.sequences/);
    await expectError(await tokens([[1, 2]], 1), 422, /body\.vocabSize/);

    err = await expectError(
      await post(app, "/v1/datasets", { ...uniform, count: MAX_DATASET_TOKENS / 8, seqLen: 16 }),
      422,
      /body\.count/,
    );
    assert.match(err.message, new RegExp(String(MAX_DATASET_TOKENS)));
    await expectError(
      await post(app, "/v1/datasets", { ...uniform, vocabSize: 1 }),
      422,
      /body\.vocabSize/,
    );
    await expectError(await post(app, "/v1/datasets", { ...uniform, seqLen: 1 }), 422, /seqLen/);
    await expectError(await post(app, "/v1/datasets", { ...uniform, kind: "nope" }), 422, /kind/);
    await expectError(
      await app.request("/v1/datasets", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{not json",
      }),
      400,
    );
    await expectError(await app.request("/v1/datasets", { method: "POST" }), 400);

    assert.equal(await store.count("datasets"), 0);
  });
});

storeTest("GET /v1/datasets lists newest first with a cursor", async (backend) => {
  await withApp(backend, async ({ app }) => {
    const empty = await (await app.request("/v1/datasets")).json();
    assert.deepEqual(empty, { items: [], nextCursor: null });

    const ids: string[] = [];
    for (let seed = 0; seed < 5; seed++) {
      ids.push((await (await post(app, "/v1/datasets", { ...uniform, seed })).json()).id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const res = await app.request(`/v1/datasets?limit=2${q}`);
      assert.equal(res.status, 200);
      const page = await res.json();
      assert.ok(page.items.length <= 2);
      for (const item of page.items) Dataset.parse(item);
      seen.push(...page.items.map((d: Dataset) => d.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    assert.equal(pages, 3);
    assert.deepEqual(seen, [...ids].reverse());

    const first = await (await app.request("/v1/datasets")).json();
    assert.equal(first.items.length, 5);
    assert.equal(first.items[0].id, ids[4]);

    await expectError(await app.request("/v1/datasets?cursor=garbage!"), 422, /query\.cursor/);
    await expectError(await app.request("/v1/datasets?limit=0"), 422, /query\.limit/);
    await expectError(await app.request("/v1/datasets?limit=101"), 422, /query\.limit/);
  });
});

storeTest("unknown and malformed dataset ids are 404 JSON errors", async (backend) => {
  await withApp(backend, async ({ app, store }) => {
    const unknown = store.newId("datasets");
    for (
      const path of [
        `/v1/datasets/${unknown}`,
        `/v1/datasets/${unknown}/sequences`,
        "/v1/datasets/not-an-id",
        "/v1/datasets/..%2F..%2Fetc/sequences",
        `/v1/datasets/${store.newId("models")}`,
      ]
    ) {
      const err = await expectError(await app.request(path), 404);
      assert.equal(err.code, "not_found");
    }
    await expectError(await app.request(`/v1/datasets/${unknown}`, { method: "DELETE" }), 404);
    await expectError(await app.request("/v1/datasets/nope", { method: "DELETE" }), 404);
    await expectError(
      await app.request(`/v1/datasets/${unknown}/sequences?limit=0`),
      422,
      /query\.limit/,
    );
  });
});

storeTest(
  "DELETE /v1/datasets/:id answers 409 while an active job uses it, then 204",
  async (backend) => {
    await withApp(backend, async ({ app, store, jobs }) => {
      const ds = (await (await post(app, "/v1/datasets", uniform)).json()) as Dataset;
      const other = (await (await post(app, "/v1/datasets", uniform)).json()) as Dataset;
      const job = await jobs.enqueue("runs", "train", { datasetId: ds.id }, { refs: [ds.id] });

      const err = await expectError(
        await app.request(`/v1/datasets/${ds.id}`, { method: "DELETE" }),
        409,
        new RegExp(job.id),
      );
      assert.equal(err.code, "conflict");
      assert.deepEqual(err.details.jobs, [{ id: job.id, collection: "runs", status: "queued" }]);
      assert.equal((await app.request(`/v1/datasets/${ds.id}`)).status, 200);

      // A dataset no job uses goes at once.
      const del = await app.request(`/v1/datasets/${other.id}`, { method: "DELETE" });
      assert.equal(del.status, 204);
      assert.equal(await del.text(), "");

      // Once the job is no longer active, the delete goes through, tokens and all.
      await jobs.cancel("runs", job.id);
      const res = await app.request(`/v1/datasets/${ds.id}`, { method: "DELETE" });
      assert.equal(res.status, 204);
      await res.body?.cancel();
      await expectError(await app.request(`/v1/datasets/${ds.id}`), 404);
      await expectError(await app.request(`/v1/datasets/${ds.id}/sequences`), 404);
      assert.deepEqual(await store.listArtifacts("datasets", ds.id), []);
      await expectError(await app.request(`/v1/datasets/${ds.id}`, { method: "DELETE" }), 404);
    });
  },
);

storeTest(
  "/openapi.json with the store documents every dataset and model route, and validates",
  async (backend) => {
    await withApp(backend, async ({ app }) => {
      const doc = await (await app.request("/openapi.json")).json();
      const result = await validate(structuredClone(doc));
      assert.ok(result.valid, JSON.stringify(result, null, 2));

      const served = [
        ...new Set(
          app.routes
            .filter((r) => r.method !== "ALL")
            .map((r) => `${r.method.toLowerCase()} ${toOpenApiPath(r.path)}`),
        ),
      ];
      const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
        Object.keys(item as object).map((m) => `${m} ${path}`)
      );
      assert.deepEqual(documented.sort(), served.sort());
      for (
        const route of [
          "post /v1/datasets",
          "get /v1/datasets",
          "get /v1/datasets/{id}",
          "get /v1/datasets/{id}/sequences",
          "delete /v1/datasets/{id}",
          "post /v1/models",
          "get /v1/models",
          "get /v1/models/{id}",
          "delete /v1/models/{id}",
          "get /v1/models/{id}/weights",
          "put /v1/models/{id}/weights",
        ]
      ) {
        assert.ok(served.includes(route), `${route} is served`);
      }
      const schemas = doc.components.schemas;
      for (const id of ["Dataset", "DatasetPage", "DatasetSequences", "Model", "ModelPage"]) {
        assert.ok(schemas[id], `components.schemas.${id}`);
      }
      const weights = doc.paths["/v1/models/{id}/weights"];
      assert.ok(weights.get.responses["200"].content["application/octet-stream"]);
      assert.ok(weights.put.requestBody.content["application/octet-stream"]);
      assert.equal(
        doc.paths["/v1/datasets/{id}"].delete.responses["409"].content["application/json"].schema
          .$ref,
        "#/components/schemas/Error",
      );
    });
  },
);

// ---- text datasets (the whole service in-process: tests/http/_service.ts) ----

const brown = { kind: "text", corpus: "brown", tokenizer: "gpt2", seqLen: 16, count: 8, seed: 3 };

storeTest(
  "POST /v1/datasets (text, brown) → 201; GET it; sequences?decode=true is English",
  async (backend) => {
    await withService(
      async ({ app }) => {
        const res = await call(app, "POST", "/v1/datasets", brown);
        assert.equal(res.status, 201, JSON.stringify(res.json));
        const ds = Dataset.parse(res.json);
        assert.equal(ds.kind, "text");
        assert.deepEqual([ds.count, ds.seqLen, ds.seed, ds.corpus, ds.split], [
          8,
          16,
          3,
          "brown",
          "train",
        ]);
        assert.equal(ds.entropyBits, undefined);
        assert.ok(ds.poolSize! > 70_000);
        assert.equal(ds.heldOut, 1024);
        assert.equal(typeof ds.duplicatesDropped, "number");
        assert.equal(ds.documents, 500);
        assert.deepEqual(
          { ...ds.vocabulary, hash: undefined },
          {
            tokenizer: "gpt2",
            size: ds.vocabSize,
            compacted: true,
            tokenizerVocabSize: 50257,
            hash: undefined,
          },
        );
        assert.ok(ds.vocabSize > 20_000 && ds.vocabSize < 50257);

        const got = await call(app, "GET", `/v1/datasets/${ds.id}`);
        assert.equal(got.status, 200);
        assert.deepEqual(got.json, res.json);

        const plain = await call(app, "GET", `/v1/datasets/${ds.id}/sequences`);
        assert.equal(plain.status, 200);
        assert.equal(plain.json.texts, undefined);
        const dec = await call(app, "GET", `/v1/datasets/${ds.id}/sequences?decode=true&limit=8`);
        assert.equal(dec.status, 200);
        const page = DatasetSequences.parse(dec.json);
        assert.deepEqual(page.sequences, plain.json.sequences);
        assert.equal(page.texts!.length, 8);
        for (const s of page.sequences) for (const t of s) assert.ok(t >= 0 && t < ds.vocabSize);
        const all = page.texts!.join(" ");
        // Readable English: words, common function words, no tags, no replacement characters.
        assert.match(all, /\b(the|of|and|to|a|in)\b/i, all);
        assert.doesNotMatch(all, /\/(at|nn|in|vbd)\b|\uFFFD|``/, all);
        const letters = all.replace(/[^A-Za-z]/g, "").length;
        assert.ok(letters > 0.6 * all.length, all);
        const words = all.split(/\s+/).filter((w) => /^[A-Za-z]+$/.test(w));
        assert.ok(words.length >= 8 * 5, all);
        const falseDecode = await call(app, "GET", `/v1/datasets/${ds.id}/sequences?decode=false`);
        assert.equal(falseDecode.json.texts, undefined);

        // The compact vocabulary, and a held-out dataset of the same pool that shares it.
        const vocab = await call(app, "GET", `/v1/datasets/${ds.id}/vocabulary`);
        assert.equal(vocab.status, 200);
        const v = DatasetVocabulary.parse(vocab.json);
        assert.equal(v.ids.length, ds.vocabSize);
        assert.equal(v.hash, ds.vocabulary!.hash);
        for (let i = 1; i < v.ids.length; i++) assert.ok(v.ids[i - 1] < v.ids[i]);
        const held = await call(app, "POST", "/v1/datasets", { ...brown, split: "heldout" });
        assert.equal(held.status, 201);
        assert.equal(held.json.split, "heldout");
        assert.equal(held.json.vocabulary.hash, ds.vocabulary!.hash);
        assert.equal(held.json.vocabSize, ds.vocabSize);
        const heldSeqs = (await call(app, "GET", `/v1/datasets/${held.json.id}/sequences`)).json;
        const train = new Set(page.sequences.map((s) => s.join(",")));
        for (const s of heldSeqs.sequences) assert.ok(!train.has(s.join(",")));

        // Nested train sets: 8 sequences are the first 8 of 16.
        const more = await call(app, "POST", "/v1/datasets", { ...brown, count: 16 });
        const moreSeqs = (await call(app, "GET", `/v1/datasets/${more.json.id}/sequences`)).json;
        assert.deepEqual(moreSeqs.sequences.slice(0, 8), page.sequences);

        // Deleting removes the vocabulary artifact with the tokens.
        const del = await app.request(`/v1/datasets/${ds.id}`, { method: "DELETE" });
        assert.equal(del.status, 204);
        assert.equal((await call(app, "GET", `/v1/datasets/${ds.id}/vocabulary`)).status, 404);
      },
      undefined,
      backend,
    );
  },
);

storeTest(
  "POST /v1/datasets (text, uploaded) cuts, deduplicates and decodes your text",
  async (backend) => {
    await withService(
      async ({ app, store }) => {
        const text = "Alpha beta gamma delta. ".repeat(3) +
          "\n\nEpsilon zeta eta theta iota kappa.";
        const req = { kind: "text", text, tokenizer: "byte", seqLen: 8, heldOut: 0 };
        const res = await call(app, "POST", "/v1/datasets", req);
        assert.equal(res.status, 201, JSON.stringify(res.json));
        const ds = Dataset.parse(res.json);
        assert.equal(ds.corpus, "upload");
        assert.equal(ds.vocabulary!.tokenizer, "byte");
        assert.equal(ds.vocabSize, new Set(new TextEncoder().encode(text)).size);
        // 24-byte period: rows repeat every 3 windows; 3 distinct pieces kept, 6 duplicates dropped.
        assert.equal(ds.duplicatesDropped, 6);
        assert.equal(ds.count, ds.poolSize);
        const page = (await call(app, "GET", `/v1/datasets/${ds.id}/sequences?decode=1`)).json;
        assert.equal(page.texts.length, ds.count);
        for (const t of page.texts) assert.ok(text.includes(t), JSON.stringify(t));
        assert.ok(page.texts.includes("Alpha be"));

        // Blank lines as document boundaries.
        const split = await call(app, "POST", "/v1/datasets", {
          ...req,
          documentSeparator: "blankLine",
        });
        assert.equal(split.status, 201);
        assert.equal(split.json.documents, 2);

        // GPT-2 tokens of uploaded text decode back to pieces of it.
        const g = await call(app, "POST", "/v1/datasets", { ...req, tokenizer: "gpt2", seqLen: 4 });
        assert.equal(g.status, 201);
        const gp = (await call(app, "GET", `/v1/datasets/${g.json.id}/sequences?decode=true`)).json;
        for (const t of gp.texts) assert.ok(text.includes(t), JSON.stringify(t));

        // Uniform datasets have nothing to decode.
        const u = await call(app, "POST", "/v1/datasets", uniform);
        const err = await call(app, "GET", `/v1/datasets/${u.json.id}/sequences?decode=true`);
        assert.equal(err.status, 422);
        assert.match(err.json.error.message, /^query\.decode: .*uniform/);
        assert.equal((await call(app, "GET", `/v1/datasets/${u.json.id}/vocabulary`)).status, 404);
        const bad = await call(app, "GET", `/v1/datasets/${u.json.id}/sequences?decode=maybe`);
        assert.equal(bad.status, 422);
        assert.match(bad.json.error.message, /query\.decode/);
        assert.equal(await store.count("datasets"), 4);
      },
      undefined,
      backend,
    );
  },
);

storeTest(
  "POST /v1/datasets (text) refuses bad requests with the field named, storing nothing",
  async (backend) => {
    await withService(
      async ({ app, store }) => {
        const expect = async (body: unknown, status: number, pattern: RegExp) => {
          const res = await call(app, "POST", "/v1/datasets", body);
          assert.equal(res.status, status, JSON.stringify(res.json));
          assert.match(res.json.error.message, pattern);
          return res.json.error;
        };
        const err = await expect({ ...brown, tokenizer: "cl100k" }, 422, /body\.tokenizer/);
        assert.deepEqual(err.details.issues.map((i: { path: string }) => i.path), [
          "body.tokenizer",
        ]);
        await expect({ ...brown, corpus: "fineweb" }, 422, /body\.corpus/);
        await expect({ ...brown, corpus: undefined }, 422, /body\.corpus/);
        await expect({ ...brown, text: "some text" }, 422, /body\.text.*not both/);
        await expect({ ...brown, split: "test" }, 422, /body\.split/);
        await expect({ ...brown, count: 10_000_000 }, 422, /body\.count: 10000000 exceeds the \d+/);
        await expect({ ...brown, heldOut: 10_000_000 }, 422, /body\.heldOut/);
        const upload = { kind: "text", tokenizer: "gpt2", seqLen: 16 };
        await expect({ ...upload, text: "Too short." }, 422, /body\.text: no document has 16/);
        const tooBig = await expect(
          { ...upload, text: "x".repeat(MAX_TEXT_BYTES + 1) },
          422,
          /body\.text: .*8 MiB/,
        );
        assert.equal(tooBig.code, "validation_error");
        assert.equal(await store.count("datasets"), 0);
      },
      undefined,
      backend,
    );
  },
);
