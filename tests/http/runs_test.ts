// Training runs, likelihood and memorization through the HTTP API, in
// process, on the real engine: numbers must equal the engine's own.
import assert from "node:assert/strict";
import { type App, call, datasetAndModel, type Service, withService } from "./_service.ts";
import { storeTest } from "./_stores.ts";
import { loadModelWeights } from "../../lib/model_store/models.ts";
import { loadDatasetTokens } from "../../lib/datasets/dataset.ts";
import type { CurvePoint } from "../../lib/runs/schemas.ts";
import { saturationStep } from "../../lib/training/saturation.ts";

const config = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 16, heads: 2 };

storeTest(
  "a run trains a model over HTTP; likelihood and memorization match the engine",
  async (backend) => {
    await withService(
      async ({ app, store, jobs, engine }) => {
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
        assert.ok(
          Math.abs(mem.json.paperConvention.datasetBits - mem.json.datasetBits * 8 / 7) < 1e-9,
        );

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
      },
      undefined,
      backend,
    );
  },
);

storeTest("run requests are validated before they are queued", async (backend) => {
  await withService(
    async ({ app }) => {
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
    },
    undefined,
    backend,
  );
});

/** The runs' 6-sequence dataset and an untrained model of `config`, over HTTP; their ids. */
const runFixture = (app: App, modelSeed = 1) =>
  datasetAndModel(app, { config, count: 6, seed: 3, modelSeed });

/** Trains `modelId` on `datasetId` over HTTP and returns the finished run. */
async function train(service: Service, body: Record<string, unknown>) {
  const run = await call(service.app, "POST", "/v1/runs", {
    optimizer: { type: "adamw", lr: 0.01 },
    batchSize: 6,
    ...body,
  });
  assert.equal(run.status, 202, JSON.stringify(run.json));
  const done = await service.jobs.wait("runs", run.json.id, 120_000);
  assert.equal(done.status, "succeeded", JSON.stringify(done.error));
  return (await call(service.app, "GET", `/v1/runs/${run.json.id}`)).json;
}

storeTest("a run stops on saturation after minSteps, before its step budget", async (backend) => {
  await withService(
    async (service) => {
      const ids = await runFixture(service.app);
      // Six sequences are memorized within a few hundred steps; then a doubling of steps adds
      // less than 1%. minSteps 200 lets the rule speak long before the default 1,000.
      const stop = { fraction: 0.01, minSteps: 200 };
      const run = await train(service, {
        ...ids,
        steps: 4000,
        evalEvery: 50,
        stopOnSaturation: stop,
      });
      assert.deepEqual(run.input.stopOnSaturation, stop);
      const r = run.result;
      assert.equal(r.stoppedBy, "saturation");
      assert.equal(r.saturated, true);
      assert.ok(r.steps >= stop.minSteps && r.steps < 1000, `stopped at step ${r.steps}`);
      // It stopped at the first evaluation where the rule says saturated, and nowhere else.
      const curve = r.curve.map((p: CurvePoint) => ({ step: p.step, bits: p.memorizedBits }));
      assert.equal(curve.at(-1).step, r.steps);
      assert.equal(saturationStep(curve, stop), r.steps);
      assert.equal(run.progress.saturated, true);
      const model = await call(service.app, "GET", `/v1/models/${ids.modelId}`);
      assert.equal(model.json.trainedSteps, r.steps);
    },
    undefined,
    backend,
  );
});

storeTest(
  "memorization against another model: generalization > 0, mismatches refused",
  async (backend) => {
    await withService(
      async (service) => {
        const { app } = service;
        const { datasetId, modelId: trained } = await runFixture(app);
        await train(service, { datasetId, modelId: trained, steps: 300, evalEvery: 100 });
        const untrained = (await call(app, "POST", "/v1/models", { config, seed: 2 })).json.id;
        // The untrained target against a reference trained on these very samples: the reference
        // codes every sample shorter than the target does, so nothing is unintended (NLL_ref <
        // NLL_θ) and all of the target's total, max(0, U - NLL_ref), counts as generalization.
        const mem = await call(app, "POST", "/v1/memorization", {
          modelId: untrained,
          datasetId,
          reference: { kind: "model", modelId: trained },
        });
        assert.equal(mem.status, 200, JSON.stringify(mem.json));
        assert.equal(mem.json.unintendedBits, 0);
        assert.ok(mem.json.generalizationBits > 0.5 * 168, `${mem.json.generalizationBits} bits`);
        assert.equal(mem.json.generalizationBits, mem.json.totalBits);
        // ...and that total is exactly what the reference memorized against the uniform code.
        const refVsUniform = await call(app, "POST", "/v1/memorization", {
          modelId: trained,
          datasetId,
          reference: { kind: "uniform" },
        });
        assert.ok(Math.abs(mem.json.totalBits - refVsUniform.json.totalBits) < 1e-9);

        // A reference of another vocabulary cannot score these samples.
        const other = await call(app, "POST", "/v1/models", {
          config: { ...config, vocabSize: 32 },
          seed: 1,
        });
        const mismatch = await call(app, "POST", "/v1/memorization", {
          modelId: trained,
          datasetId,
          reference: { kind: "model", modelId: other.json.id },
        });
        assert.equal(mismatch.status, 422, JSON.stringify(mismatch.json));
        assert.equal(mismatch.json.error.code, "model_mismatch");
        assert.match(mismatch.json.error.message, /^body\.reference\.modelId: .*vocabSize 32/);
      },
      undefined,
      backend,
    );
  },
);

storeTest("a run given epochs trains epochs × ceil(count / batchSize) steps", async (backend) => {
  await withService(
    async (service) => {
      const { datasetId, modelId } = await runFixture(service.app); // 6 sequences
      const run = await train(service, { modelId, datasetId, batchSize: 4, epochs: 3 });
      assert.equal(run.result.steps, 3 * Math.ceil(6 / 4));
      assert.equal(run.result.stoppedBy, "steps");
      assert.equal(run.result.curve.at(-1).step, 6);
      // The contract's figures at the top level, equal to the result's.
      assert.equal(run.step, 6);
      assert.equal(run.loss, run.result.finalLoss);
      assert.equal(run.memorizedBits, run.result.memorizedBits);
    },
    undefined,
    backend,
  );
});

storeTest(
  "a run needs only its model and dataset: AdamW at lr 1e-2, batch 128, 2,000 steps",
  async (backend) => {
    await withService(
      async (service) => {
        const { datasetId, modelId } = await runFixture(service.app);
        const run = await call(service.app, "POST", "/v1/runs", { modelId, datasetId });
        assert.equal(run.status, 202, JSON.stringify(run.json));
        const id = run.json.id;
        // The defaults, as the run records its input; the progress plans 2,000 steps.
        let seen = (await call(service.app, "GET", `/v1/runs/${id}`)).json;
        for (const until = Date.now() + 120_000; !(seen.progress?.step > 0);) {
          assert.ok(Date.now() < until, `no training progress: ${JSON.stringify(seen)}`);
          await new Promise((r) => setTimeout(r, 100));
          seen = (await call(service.app, "GET", `/v1/runs/${id}`)).json;
        }
        const input = seen.input;
        assert.deepEqual(input.optimizer, {
          type: "adamw",
          lr: 0.01,
          betas: [0.9, 0.999],
          eps: 1e-8,
          weightDecay: 0,
        });
        assert.equal(input.batchSize, 128);
        assert.equal(input.steps, undefined);
        assert.equal(seen.progress.totalSteps, 2000);
        await call(service.app, "POST", `/v1/runs/${id}/cancel`);
      },
      undefined,
      backend,
    );
  },
);
