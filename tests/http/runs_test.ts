// Training runs, likelihood and memorization through the HTTP API, in
// process, on the real engine: numbers must equal the engine's own.
import assert from "node:assert/strict";
import { call, withService } from "./_service.ts";
import { loadModelWeights } from "../../lib/models/models.ts";
import { loadDatasetTokens } from "../../lib/datasets/dataset.ts";

const config = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 16, heads: 2 };

Deno.test("a run trains a model over HTTP; likelihood and memorization match the engine", async () => {
  await withService(async ({ app, store, jobs, engine }) => {
    const ds = await call(app, "POST", "/v1/datasets", {
      kind: "uniform",
      vocabSize: 16,
      seqLen: 8,
      count: 6,
      seed: 3,
    });
    assert.equal(ds.status, 201, JSON.stringify(ds.json));
    const model = await call(app, "POST", "/v1/models", { config, precision: "fp32", seed: 1 });
    assert.equal(model.status, 201, JSON.stringify(model.json));
    const run = await call(app, "POST", "/v1/runs", {
      modelId: model.json.id,
      datasetId: ds.json.id,
      optimizer: { type: "adamw", lr: 0.01 },
      batchSize: 6,
      steps: 300,
      evalEvery: 100,
    });
    assert.equal(run.status, 202, JSON.stringify(run.json));
    const done = await jobs.wait("runs", run.json.id, 120_000);
    assert.equal(done.status, "succeeded", JSON.stringify(done.error));
    const got = await call(app, "GET", `/v1/runs/${run.json.id}`);
    assert.equal(got.status, 200);
    const result = got.json.result;
    assert.equal(result.steps, 300);
    assert.deepEqual(result.curve.map((p: { step: number }) => p.step), [100, 200, 300]);
    // 6 random sequences of 8 tokens from 16 symbols: 6·7·4 = 168 bits; nearly all memorized.
    assert.equal(result.datasetBits, 168);
    assert.ok(result.memorizedBits > 0.8 * 168, `memorized ${result.memorizedBits}`);
    const trainedModel = await call(app, "GET", `/v1/models/${model.json.id}`);
    assert.equal(trainedModel.json.trainedSteps, 300);

    // Likelihood over HTTP equals the engine's on the stored weights.
    const lik = await call(app, "POST", `/v1/models/${model.json.id}/likelihood`, {
      datasetId: ds.json.id,
      perToken: true,
    });
    assert.equal(lik.status, 200, JSON.stringify(lik.json));
    const w = (await loadModelWeights(store, model.json.id))!;
    const data = (await loadDatasetTokens(store, ds.json.id))!;
    const direct = await engine.likelihood({
      config,
      precision: "fp32",
      params: w.params,
      tokens: data.tokens,
      perToken: true,
    });
    assert.deepEqual(lik.json.bits, Array.from(direct.bits));
    assert.equal(lik.json.perToken.length, 6);
    assert.equal(lik.json.perToken[0].length, 7);

    // Memorization against the uniform reference: Σ max(0, 28 - NLL).
    const mem = await call(app, "POST", "/v1/memorization", {
      modelId: model.json.id,
      datasetId: ds.json.id,
      reference: { kind: "uniform" },
    });
    assert.equal(mem.status, 200, JSON.stringify(mem.json));
    const expected = Array.from(direct.bits).reduce((a, b) => a + Math.max(0, 28 - b), 0);
    assert.ok(Math.abs(mem.json.totalBits - expected) < 1e-9);
    assert.equal(mem.json.unintendedBits, mem.json.totalBits);
    assert.equal(mem.json.generalizationBits, 0);
    assert.ok(Math.abs(mem.json.paperConvention.totalBits - expected * 8 / 7) < 1e-9);

    // Export -> import -> export is byte-identical and the likelihoods do not move.
    const exported = new Uint8Array(
      await (await app.request(`/v1/models/${model.json.id}/weights`)).arrayBuffer(),
    );
    const put = await app.request(`/v1/models/${model.json.id}/weights`, {
      method: "PUT",
      headers: { "content-type": "application/octet-stream" },
      body: exported,
    });
    assert.equal(put.status, 200, await put.text());
    const again = new Uint8Array(
      await (await app.request(`/v1/models/${model.json.id}/weights`)).arrayBuffer(),
    );
    assert.deepEqual(again, exported);
    const lik2 = await call(app, "POST", `/v1/models/${model.json.id}/likelihood`, {
      datasetId: ds.json.id,
    });
    assert.deepEqual(lik2.json.bits, lik.json.bits);

    // Against itself as reference nothing is unintended.
    const self = await call(app, "POST", "/v1/memorization", {
      modelId: model.json.id,
      datasetId: ds.json.id,
      reference: { kind: "model", modelId: model.json.id },
    });
    assert.equal(self.status, 200);
    assert.equal(self.json.unintendedBits, 0);
  });
});

Deno.test("run requests are validated before they are queued", async () => {
  await withService(async ({ app }) => {
    const ds = await call(app, "POST", "/v1/datasets", {
      kind: "uniform",
      vocabSize: 32,
      seqLen: 8,
      count: 4,
      seed: 1,
    });
    const model = await call(app, "POST", "/v1/models", { config, seed: 1 });
    const base = {
      modelId: model.json.id,
      datasetId: ds.json.id,
      optimizer: { type: "sgd", lr: 0.1 },
      batchSize: 4,
      steps: 10,
    };
    const mismatch = await call(app, "POST", "/v1/runs", base);
    assert.equal(mismatch.status, 422);
    assert.match(mismatch.json.error.message, /body\.datasetId: dataset has vocabSize 32/);
    const missing = await call(app, "POST", "/v1/runs", {
      ...base,
      modelId: "mdl_0000000000000000000000",
    });
    assert.equal(missing.status, 404);
    const both = await call(app, "POST", "/v1/runs", { ...base, epochs: 2 });
    assert.equal(both.status, 422);
    assert.match(both.json.error.message, /steps/);
    const unknown = await call(app, "GET", "/v1/runs/run_nope");
    assert.equal(unknown.status, 404);
    const badTokens = await call(app, "POST", `/v1/models/${model.json.id}/likelihood`, {
      sequences: [[1, 2, 3, 4, 5, 6, 7, 99]],
    });
    assert.equal(badTokens.status, 422);
    assert.match(badTokens.json.error.message, /body\.sequences\[0\]\[7\]/);
  });
});
