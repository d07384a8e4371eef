import assert from "node:assert/strict";
import { createApp } from "../../routes/app.ts";
import type { Engine } from "../../lib/engine_interface.ts";
import { JobQueue } from "../../lib/jobs/queue.ts";
import { parameterCount } from "../../lib/model/config.ts";
import type { ModelConfig } from "../../lib/model/schemas.ts";
import { initialParameters } from "../../lib/model/init.ts";
import { tensorLayout } from "../../lib/model/layout.ts";
import {
  exportWeights,
  importWeights,
  precisionFromMetadata,
  WeightsError,
} from "../../lib/model/weights.ts";
import {
  loadModelWeights,
  MAX_MODEL_PARAMETERS,
  Model,
  saveModelWeights,
  WEIGHTS_ARTIFACT,
} from "../../lib/model_store/mod.ts";
import { bfloat16Bytes, decodeSafetensors, encodeSafetensors } from "../../lib/safetensors.ts";
import { openStore } from "../../lib/store/mod.ts";
import type { Store } from "../../lib/store/store.ts";
import { fakeGpu } from "./_probe.ts";

type App = ReturnType<typeof createApp>;

/** Refuses models over a million parameters, like a small GPU would. */
const fakeEngine: Engine = {
  gpu: fakeGpu,
  checkFits({ config }) {
    const n = parameterCount(config);
    if (n > 1_000_000) {
      return Promise.reject(
        new RangeError(`parameters buffer needs ${n * 4} bytes; maxBufferSize is 4000000`),
      );
    }
    return Promise.resolve();
  },
  likelihood: () => Promise.reject(new Error("not in these tests")),
  greedyDecode: () => Promise.reject(new Error("not in these tests")),
  runJob: () => Promise.reject(new Error("not in these tests")),
};

/** The real app over a real store in a temporary folder, a JobQueue that is never started. */
async function withApp(
  fn: (t: { app: App; store: Store; jobs: JobQueue }) => Promise<void>,
  opts: { engine?: Engine | null } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "memcap_models_http_" });
  const store = await openStore({ dataDir: dir });
  try {
    const jobs = new JobQueue(store);
    const engine = opts.engine === null ? undefined : opts.engine ?? fakeEngine;
    const app = createApp({ gpu: fakeGpu, store, jobs, engine, log: () => {} });
    await fn({ app, store, jobs });
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const config: ModelConfig = { vocabSize: 32, seqLen: 8, layers: 1, dModel: 16, heads: 2 };

function post(app: App, path: string, body: unknown): Promise<Response> {
  return Promise.resolve(app.request(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  }));
}

function putWeights(app: App, id: string, bytes: Uint8Array): Promise<Response> {
  return Promise.resolve(app.request(`/v1/models/${id}/weights`, {
    method: "PUT",
    headers: { "content-type": "application/octet-stream" },
    body: bytes as Uint8Array<ArrayBuffer>,
  }));
}

async function createModel(app: App, body: unknown = { config }): Promise<Model> {
  const res = await post(app, "/v1/models", body);
  const json = await res.json();
  assert.equal(res.status, 201, JSON.stringify(json));
  return Model.parse(json);
}

async function download(app: App, id: string): Promise<Uint8Array> {
  const res = await app.request(`/v1/models/${id}/weights`);
  assert.equal(res.status, 200);
  return new Uint8Array(await res.arrayBuffer());
}

async function expectError(res: Response, status: number, pattern?: RegExp) {
  const body = await res.json();
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(typeof body.error?.code, "string");
  if (pattern) assert.match(body.error.message, pattern);
  return body.error;
}

Deno.test("POST /v1/models creates a seeded GPT-2 model; GET reads it", async () => {
  await withApp(async ({ app }) => {
    const m = await createModel(app);
    assert.match(m.id, /^mdl_[0-9a-z]{20}$/);
    assert.deepEqual(m.config, config);
    assert.equal(m.precision, "fp32");
    assert.equal(m.seed, 0);
    assert.equal(m.parameterCount, parameterCount(config));
    assert.equal(m.trainedSteps, 0);
    assert.equal(m.createdFrom, "init");
    assert.equal(m.runId, undefined);
    assert.equal(m.createdAt, m.updatedAt);

    const got = await app.request(`/v1/models/${m.id}`);
    assert.equal(got.status, 200);
    assert.deepEqual(await got.json(), m);

    // The paper's Table 1 count for 1 layer, d=32, V=2048, S=64.
    const paper = await createModel(app, {
      config: { vocabSize: 2048, seqLen: 64, layers: 1, dModel: 32, heads: 4 },
      precision: "bf16",
      seed: 3,
    });
    assert.equal(paper.parameterCount, 80_352);
    assert.equal(paper.precision, "bf16");
    assert.equal(paper.seed, 3);
  });
});

Deno.test("GET /v1/models/:id/weights is the seeded initialisation as safetensors", async () => {
  await withApp(async ({ app }) => {
    const m = await createModel(app, { config, seed: 5 });
    const res = await app.request(`/v1/models/${m.id}/weights`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/octet-stream");
    assert.equal(
      res.headers.get("content-disposition"),
      `attachment; filename="${m.id}.safetensors"`,
    );
    const bytes = new Uint8Array(await res.arrayBuffer());
    assert.equal(Number(res.headers.get("content-length")), bytes.length);
    assert.deepEqual(bytes, exportWeights(config, initialParameters(config, 5), "fp32"));

    const { tensors, metadata } = decodeSafetensors(bytes);
    assert.ok(tensors.has("transformer.wte.weight"));
    assert.deepEqual(tensors.get("transformer.h.0.attn.c_attn.weight")!.shape, [16, 48]);
    assert.ok(!tensors.has("lm_head.weight"));
    assert.equal(metadata["format"], "pt");

    // Same seed, same bytes; another seed, other bytes.
    const same = await createModel(app, { config, seed: 5 });
    assert.deepEqual(await download(app, same.id), bytes);
    const other = await createModel(app, { config, seed: 6 });
    assert.notDeepEqual(await download(app, other.id), bytes);
  });
});

Deno.test("POST /v1/models answers 422 naming the field, and stores nothing", async () => {
  await withApp(async ({ app, store }) => {
    let err = await expectError(
      await post(app, "/v1/models", { config: { ...config, heads: 3 } }),
      422,
      /body\.config\.heads/,
    );
    assert.equal(err.code, "validation_error");
    await expectError(
      await post(app, "/v1/models", { config: { ...config, layers: 0 } }),
      422,
      /body\.config\.layers/,
    );
    await expectError(
      await post(app, "/v1/models", { config: { ...config, vocabSize: undefined } }),
      422,
      /body\.config\.vocabSize/,
    );
    await expectError(
      await post(app, "/v1/models", { config, precision: "fp16" }),
      422,
      /body\.precision/,
    );
    await expectError(await post(app, "/v1/models", { config, seed: -1 }), 422, /body\.seed/);
    await expectError(await post(app, "/v1/models", { config, seed: 1.5 }), 422, /body\.seed/);
    await expectError(await post(app, "/v1/models", {}), 422, /body\.config/);

    // Valid shape, but the engine says it cannot fit: 422 with its message.
    err = await expectError(
      await post(app, "/v1/models", {
        config: { vocabSize: 50257, seqLen: 1024, layers: 12, dModel: 768, heads: 12 },
      }),
      422,
      /^body\.config: parameters buffer needs \d+ bytes; maxBufferSize is 4000000$/,
    );
    assert.equal(err.details.issues[0].path, "body.config");
    assert.equal(await store.count("models"), 0);
  });
});

Deno.test("POST /v1/models refuses absurd sizes even without an engine", async () => {
  await withApp(async ({ app, store }) => {
    const huge = { vocabSize: 1 << 20, seqLen: 4096, layers: 64, dModel: 8192, heads: 64 };
    await expectError(
      await post(app, "/v1/models", { config: huge }),
      422,
      new RegExp(`body\\.config: .*${MAX_MODEL_PARAMETERS}`),
    );
    assert.equal(await store.count("models"), 0);
    // Small models need no engine.
    await createModel(app);
  }, { engine: null });
});

Deno.test("POST /v1/models answers 503 when the engine cannot run its fit check", async () => {
  const noGpu: Engine = {
    ...fakeEngine,
    checkFits: () => Promise.reject(new Error("No WebGPU adapter")),
  };
  await withApp(async ({ app, store }) => {
    const err = await expectError(await post(app, "/v1/models", { config }), 503, /No WebGPU/);
    assert.equal(err.code, "gpu_unavailable");
    assert.equal(await store.count("models"), 0);
  }, { engine: noGpu });
});

Deno.test("GET /v1/models lists newest first with a cursor; unknown ids are 404", async () => {
  await withApp(async ({ app, store }) => {
    assert.deepEqual(await (await app.request("/v1/models")).json(), {
      items: [],
      nextCursor: null,
    });
    const ids: string[] = [];
    for (let seed = 0; seed < 3; seed++) ids.push((await createModel(app, { config, seed })).id);

    const p1 = await (await app.request("/v1/models?limit=2")).json();
    assert.deepEqual(p1.items.map((m: Model) => m.id), [ids[2], ids[1]]);
    for (const item of p1.items) Model.parse(item);
    assert.equal(typeof p1.nextCursor, "string");
    const p2 = await (await app.request(`/v1/models?limit=2&cursor=${p1.nextCursor}`)).json();
    assert.deepEqual(p2.items.map((m: Model) => m.id), [ids[0]]);
    assert.equal(p2.nextCursor, null);
    await expectError(await app.request("/v1/models?cursor=bogus"), 422, /query\.cursor/);

    const unknown = store.newId("models");
    for (
      const path of [
        `/v1/models/${unknown}`,
        `/v1/models/${unknown}/weights`,
        "/v1/models/bad-id",
        "/v1/models/bad-id/weights",
        `/v1/models/${store.newId("datasets")}`,
      ]
    ) {
      assert.equal((await expectError(await app.request(path), 404)).code, "not_found");
    }
    await expectError(await app.request(`/v1/models/${unknown}`, { method: "DELETE" }), 404);
    await expectError(
      await putWeights(app, unknown, exportWeights(config, initialParameters(config, 0), "fp32")),
      404,
    );
  });
});

Deno.test("weights download -> upload -> download is byte-identical; the model says upload", async () => {
  await withApp(async ({ app }) => {
    for (const precision of ["fp32", "bf16", "bf16-pure"] as const) {
      const m = await createModel(app, { config, precision, seed: 11 });
      assert.equal(m.precision, precision);
      const before = await download(app, m.id);
      assert.equal(
        precisionFromMetadata(decodeSafetensors(before).metadata),
        precision,
        "the file names the mode",
      );
      const res = await putWeights(app, m.id, before);
      const body = await res.json();
      assert.equal(res.status, 200, JSON.stringify(body));
      const updated = Model.parse(body);
      assert.equal(updated.createdFrom, "upload");
      assert.equal(updated.trainedSteps, 0);
      assert.equal(updated.id, m.id);
      assert.equal(updated.createdAt, m.createdAt);
      assert.deepEqual(await (await app.request(`/v1/models/${m.id}`)).json(), updated);
      assert.deepEqual(await download(app, m.id), before, precision);
    }
  });
});

Deno.test("PUT weights accepts a Hugging Face style file and stores it canonically", async () => {
  await withApp(async ({ app }) => {
    const m = await createModel(app, { config, seed: 1 });
    // Other weights, as BF16, without the "transformer." prefix, with a tied lm_head and
    // GPT-2's attention-mask buffers, plus foreign metadata.
    const params = initialParameters(config, 99, "bf16");
    const layout = tensorLayout(config);
    const tensors = layout.map((t) => ({
      name: t.name.slice("transformer.".length),
      dtype: "BF16" as const,
      shape: t.shape,
      data: bfloat16Bytes(params.subarray(t.offset, t.offset + t.size)),
    }));
    tensors.push({ ...tensors[0], name: "lm_head.weight" });
    tensors.push({
      name: "h.0.attn.bias",
      dtype: "BF16",
      shape: [1, 1, 8, 8],
      data: new Uint8Array(128),
    });
    const file = encodeSafetensors(tensors, { format: "pt", origin: "somewhere else" });

    const res = await putWeights(app, m.id, file);
    assert.equal(res.status, 200, await res.clone().text());
    const stored = await download(app, m.id);
    assert.deepEqual(stored, exportWeights(config, params, "fp32"));
    assert.deepEqual(importWeights(config, stored).params, params);
  });
});

Deno.test("PUT weights answers 422 naming the tensor and keeps the old weights", async () => {
  await withApp(async ({ app }) => {
    const m = await createModel(app, { config, seed: 2 });
    const before = await download(app, m.id);

    // Another vocabulary size: wte has the wrong shape.
    const wider = { ...config, vocabSize: 33 };
    let err = await expectError(
      await putWeights(app, m.id, exportWeights(wider, initialParameters(wider, 0), "fp32")),
      422,
      /transformer\.wte\.weight.*\[33,16\].*\[32,16\]/,
    );
    assert.equal(err.code, "invalid_weights");

    // A missing tensor.
    const { tensors } = decodeSafetensors(before);
    const partial = [...tensors]
      .filter(([name]) => name !== "transformer.h.0.mlp.c_fc.bias")
      .map(([name, t]) => ({ name, ...t }));
    await expectError(
      await putWeights(app, m.id, encodeSafetensors(partial)),
      422,
      /transformer\.h\.0\.mlp\.c_fc\.bias.*missing/,
    );

    // An unexpected tensor.
    const extra = [...tensors].map(([name, t]) => ({ name, ...t }));
    extra.push({
      name: "transformer.h.1.ln_1.weight",
      dtype: "F32",
      shape: [16],
      data: new Uint8Array(64),
    });
    await expectError(
      await putWeights(app, m.id, encodeSafetensors(extra)),
      422,
      /transformer\.h\.1\.ln_1\.weight/,
    );

    // Same shapes but the metadata says another head count.
    const otherHeads = { ...config, heads: 4 };
    await expectError(
      await putWeights(app, m.id, exportWeights(otherHeads, initialParameters(config, 0), "fp32")),
      422,
      /memcap\.config/,
    );

    // Not safetensors at all, and no body.
    await expectError(await putWeights(app, m.id, new TextEncoder().encode("hello")), 422, /body/);
    await expectError(await putWeights(app, m.id, new Uint8Array(0)), 422, /body/);

    // Larger than any weights file of this model can be.
    err = await expectError(await putWeights(app, m.id, new Uint8Array(4 * 1024 * 1024)), 413);
    assert.equal(err.code, "payload_too_large");

    assert.deepEqual(await download(app, m.id), before);
    const after = Model.parse(await (await app.request(`/v1/models/${m.id}`)).json());
    assert.equal(after.createdFrom, "init");
  });
});

Deno.test("an active job blocks DELETE and PUT weights of its model (409)", async () => {
  await withApp(async ({ app, store, jobs }) => {
    const m = await createModel(app);
    const free = await createModel(app);
    const weights = await download(app, m.id);
    const job = await jobs.enqueue("runs", "train", { modelId: m.id }, { refs: [m.id] });

    const err = await expectError(
      await app.request(`/v1/models/${m.id}`, { method: "DELETE" }),
      409,
      new RegExp(job.id),
    );
    assert.equal(err.code, "conflict");
    assert.deepEqual(err.details.jobs.map((j: { id: string }) => j.id), [job.id]);
    await expectError(await putWeights(app, m.id, weights), 409, new RegExp(job.id));

    const del = await app.request(`/v1/models/${free.id}`, { method: "DELETE" });
    assert.equal(del.status, 204);
    await del.body?.cancel();

    await jobs.cancel("runs", job.id);
    const ok = await app.request(`/v1/models/${m.id}`, { method: "DELETE" });
    assert.equal(ok.status, 204);
    await ok.body?.cancel();
    await expectError(await app.request(`/v1/models/${m.id}`), 404);
    await expectError(await app.request(`/v1/models/${m.id}/weights`), 404);
    assert.deepEqual(await store.listArtifacts("models", m.id), []);
  });
});

Deno.test("loadModelWeights / saveModelWeights: what training runs use", async () => {
  await withApp(async ({ app, store }) => {
    const m = await createModel(app, { config, precision: "bf16", seed: 4 });
    const loaded = await loadModelWeights(store, m.id);
    assert.ok(loaded);
    assert.deepEqual(loaded.model, m);
    assert.deepEqual(loaded.params, initialParameters(config, 4, "bf16"));

    const trained = loaded.params.map((x) => x * 1.5 + 0.001);
    const saved = await saveModelWeights(store, m.id, trained, {
      trainedSteps: 120,
      runId: "run_0000000000abcdefghjk",
      createdFrom: "run",
    });
    assert.ok(saved);
    assert.equal(saved.trainedSteps, 120);
    assert.equal(saved.runId, "run_0000000000abcdefghjk");
    assert.equal(saved.createdFrom, "run");
    assert.deepEqual(await (await app.request(`/v1/models/${m.id}`)).json(), saved);
    // Stored at the model's precision (bf16-rounded).
    assert.deepEqual(await download(app, m.id), exportWeights(config, trained, "bf16"));
    const reloaded = await loadModelWeights(store, m.id);
    assert.deepEqual(reloaded!.params, exportWeightsRoundTrip(trained));

    // An upload drops the run.
    const up = Model.parse(await (await putWeights(app, m.id, await download(app, m.id))).json());
    assert.equal(up.runId, undefined);
    assert.equal(up.trainedSteps, 0);

    await assert.rejects(
      () => saveModelWeights(store, m.id, new Float32Array(3), { trainedSteps: 1 }),
      WeightsError,
    );
    assert.equal(await saveModelWeights(store, store.newId("models"), trained), null);
    assert.equal(await loadModelWeights(store, store.newId("models")), null);
    assert.deepEqual(await store.listArtifacts("models", m.id), [WEIGHTS_ARTIFACT]);
  });
});

function exportWeightsRoundTrip(params: Float32Array): Float32Array {
  return importWeights(config, exportWeights(config, params, "bf16")).params;
}

Deno.test("POST /v1/models/{id}/copy branches a model: same weights, the original untouched", async () => {
  await withApp(async ({ app, store }) => {
    const created = await (await post(app, "/v1/models", { config, seed: 3 })).json();
    // Give the original a training history, as a run would.
    const { params } = (await loadModelWeights(store, created.id))!;
    const trained = params.map((x) => x + 0.25);
    await saveModelWeights(store, created.id, trained, {
      trainedSteps: 40,
      createdFrom: "run",
      runId: "run_01jz3k5q7r8s9t0v1w2x",
    });

    const res = await app.request(`/v1/models/${created.id}/copy`, { method: "POST" });
    assert.equal(res.status, 201);
    const copy = Model.parse(await res.json());
    assert.notEqual(copy.id, created.id);
    assert.equal(copy.createdFrom, "copy");
    assert.equal(copy.copiedFrom, created.id);
    assert.equal(copy.trainedSteps, 40);
    assert.equal(copy.runId, undefined);
    assert.deepEqual(copy.config, created.config);
    const bytes = async (id: string) =>
      new Uint8Array(await (await app.request(`/v1/models/${id}/weights`)).arrayBuffer());
    assert.deepEqual(await bytes(copy.id), await bytes(created.id));

    // Changing the copy leaves the original as it was.
    await saveModelWeights(store, copy.id, params, { trainedSteps: 0, createdFrom: "upload" });
    assert.deepEqual((await loadModelWeights(store, created.id))!.params, trained);
    assert.equal((await loadModelWeights(store, created.id))!.model.trainedSteps, 40);

    const missing = await app.request("/v1/models/mdl_00000000000000000000/copy", {
      method: "POST",
    });
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  });
});
