// POST /v1/extraction. A model trained to memorize 16 random sequences gives them back from
// 4-token prefixes, and fresh sequences not (real engine, in its child process as main.ts
// runs it, so the decode crosses the RPC boundary); then the checks, the arithmetic and the
// sampling with a fake engine whose "decoding" is known.
import assert from "node:assert/strict";
import { call, withService } from "./_service.ts";
import { fakeGpu } from "./_probe.ts";
import { EngineProcess } from "../../gpu/engine_process.ts";
import { GpuEngine } from "../../gpu/engine.ts";
import { getGpu } from "../../gpu/device.ts";
import { createApp } from "../../routes/app.ts";
import { openStore } from "../../lib/store/mod.ts";
import type { Engine, GreedyDecodeRequest } from "../../lib/engine_interface.ts";
import { loadModelWeights } from "../../lib/model_store/models.ts";
import { loadDatasetTokens } from "../../lib/datasets/dataset.ts";
import { matchSuffixes } from "../../lib/privacy/extraction.ts";

const config = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 2 };

Deno.test("a model that memorized its training set: extracted from prefix 4, held-out not", async () => {
  await withService(async ({ app, jobs, store }) => {
    const uniform = async (seed: number) => {
      const r = await call(app, "POST", "/v1/datasets", {
        kind: "uniform",
        vocabSize: 16,
        seqLen: 8,
        count: 16,
        seed,
      });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      return r.json.id as string;
    };
    const train = await uniform(1), heldOut = await uniform(2);
    const model = await call(app, "POST", "/v1/models", { config, seed: 3 });
    assert.equal(model.status, 201, JSON.stringify(model.json));
    const run = await call(app, "POST", "/v1/runs", {
      modelId: model.json.id,
      datasetId: train,
      optimizer: { type: "adamw", lr: 0.02 },
      batchSize: 16,
      steps: 1000,
    });
    assert.equal(run.status, 202, JSON.stringify(run.json));
    const done = await jobs.wait("runs", run.json.id, 600_000);
    assert.equal(done.status, "succeeded", JSON.stringify(done.error));

    const res = await call(app, "POST", "/v1/extraction", {
      modelId: model.json.id,
      trainDatasetId: train,
      heldOutDatasetId: heldOut,
      prefixLengths: [4, 1],
    });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const r = res.json;
    assert.equal(r.seqLen, 8);
    assert.deepEqual(r.results.map((x: { prefixLength: number }) => x.prefixLength), [4, 1]);
    const [p4] = r.results;
    assert.equal(p4.train.sequences, 16);
    assert.equal(p4.heldOut.sequences, 16);
    assert.ok(p4.train.exactMatchRate >= 0.9, `train exact ${p4.train.exactMatchRate}`);
    assert.ok(p4.heldOut.exactMatchRate < 0.2, `held-out exact ${p4.heldOut.exactMatchRate}`);
    assert.ok(p4.train.tokenMatchRate >= p4.train.exactMatchRate);
    assert.ok(p4.heldOut.tokenMatchRate < 0.5, `held-out tokens ${p4.heldOut.tokenMatchRate}`);
    // Examples are real training sequences, whole.
    const ds = (await loadDatasetTokens(store, train))!;
    assert.ok(r.examples.length >= 1 && r.examples.length <= 5);
    for (const e of r.examples) {
      assert.deepEqual(e.tokens, Array.from(ds.tokens.subarray(e.index * 8, (e.index + 1) * 8)));
    }
    // The child process decoded exactly what the in-process engine decodes.
    const w = (await loadModelWeights(store, model.json.id))!;
    const direct = await new GpuEngine(getGpu).greedyDecode({
      config: w.model.config,
      precision: w.model.precision,
      params: w.params,
      tokens: ds.tokens,
      prefixLengths: [4],
    });
    const m = matchSuffixes(ds.tokens, direct.sequences[0], 8, 4);
    assert.equal(m.exactMatchRate, p4.train.exactMatchRate);
    assert.equal(m.tokenMatchRate, p4.train.tokenMatchRate);
  }, () => new EngineProcess({ log: () => {} }));
});

/**
 * "Decodes" by copying the true suffix of sequences whose first token is even and writing
 * 0s after the prefix otherwise: known rates without a GPU. Records what it was sent.
 */
function copyEngine(seen: GreedyDecodeRequest[]): Engine {
  return {
    gpu: fakeGpu,
    checkFits: () => Promise.resolve(),
    likelihood: () => Promise.reject(new Error("unused")),
    greedyDecode: (req) => {
      seen.push(req);
      const S = req.config.seqLen;
      const sequences = req.prefixLengths.map((p) => {
        const out = req.tokens.slice();
        for (let i = 0; i < out.length / S; i++) {
          if (out[i * S] % 2 === 1) out.fill(0, i * S + p, (i + 1) * S);
        }
        return out;
      });
      return Promise.resolve({ sequences });
    },
    runJob: () => Promise.reject(new Error("no jobs here")),
  };
}

Deno.test("extraction: rates, sampling, defaults, 404s and 422s naming the field", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memcap_extraction_" });
  const store = await openStore({ dataDir: dir });
  try {
    const seen: GreedyDecodeRequest[] = [];
    const app = createApp({ gpu: fakeGpu, store, engine: copyEngine(seen), log: () => {} });
    const post = (path: string, body: unknown) => call(app, "POST", path, body);
    const tokens = async (vocabSize: number, sequences: number[][]) => {
      const r = await post("/v1/datasets", { kind: "tokens", vocabSize, sequences });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      return r.json.id as string;
    };
    const seq = (first: number, rest: number) => [first, ...Array(7).fill(rest)];
    const model = (await post("/v1/models", { config, seed: 0 })).json.id as string;
    // Train: first tokens 2, 4, 1, 6 -> three of four extracted. Their suffixes are 3s, so
    // the odd one gets all 0s: no suffix token right.
    const train = await tokens(16, [seq(2, 3), seq(4, 3), seq(1, 3), seq(6, 3)]);
    // Held-out: 1 (odd: 0s decoded, its suffix of 5s missed), 3 (odd, but its true suffix
    // is 0s: matched anyway), 8 (even: copied) -> two of three.
    const heldOut = await tokens(16, [seq(1, 5), seq(3, 0), seq(8, 9)]);

    const ok = await post("/v1/extraction", {
      modelId: model,
      trainDatasetId: train,
      heldOutDatasetId: heldOut,
      prefixLengths: [4, 6],
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.deepEqual(
      ok.json.results,
      [4, 6].map((prefixLength) => ({
        prefixLength,
        train: { sequences: 4, exactMatchRate: 0.75, tokenMatchRate: 0.75 },
        heldOut: { sequences: 3, exactMatchRate: 2 / 3, tokenMatchRate: 2 / 3 },
      })),
    );
    assert.equal(ok.json.heldOutDatasetId, heldOut);
    assert.equal(ok.json.decoding, "greedy");
    assert.deepEqual(ok.json.examples, [
      { index: 0, prefixLength: 4, tokens: seq(2, 3) },
      { index: 1, prefixLength: 4, tokens: seq(4, 3) },
      { index: 3, prefixLength: 4, tokens: seq(6, 3) },
    ]);
    // One engine call per dataset, all prefix lengths at once.
    assert.equal(seen.length, 2);
    assert.deepEqual(seen[0].prefixLengths, [4, 6]);

    // Defaults: prefix S/2 = 4, no held-out side. maxSequences takes the first N.
    seen.length = 0;
    const first2 = await post("/v1/extraction", {
      modelId: model,
      trainDatasetId: train,
      maxSequences: 3,
    });
    assert.equal(first2.status, 200, JSON.stringify(first2.json));
    assert.deepEqual(first2.json.results, [{
      prefixLength: 4,
      train: { sequences: 3, exactMatchRate: 2 / 3, tokenMatchRate: 2 / 3 },
      heldOut: null,
    }]);
    assert.equal(first2.json.heldOutDatasetId, null);
    assert.equal(seen.length, 1);
    assert.deepEqual(Array.from(seen[0].tokens), [...seq(2, 3), ...seq(4, 3), ...seq(1, 3)]);

    const short = await tokens(16, [[0, 1, 2, 3]]);
    const wide = await tokens(32, [seq(0, 1)]);
    const expect = async (patch: Record<string, unknown>, status: number, re: RegExp) => {
      const r = await post("/v1/extraction", {
        modelId: model,
        trainDatasetId: train,
        heldOutDatasetId: heldOut,
        ...patch,
      });
      assert.equal(r.status, status, JSON.stringify(r.json));
      assert.match(r.json.error.message, re);
    };
    await expect({ modelId: "mdl_00000000000000000000" }, 404, /body\.modelId/);
    await expect({ modelId: "nope" }, 404, /body\.modelId/);
    await expect({ trainDatasetId: "ds_00000000000000000000" }, 404, /body\.trainDatasetId/);
    await expect({ heldOutDatasetId: "x" }, 404, /body\.heldOutDatasetId/);
    await expect({ trainDatasetId: short }, 422, /body\.trainDatasetId: .*seqLen 4/);
    await expect({ heldOutDatasetId: wide }, 422, /body\.heldOutDatasetId: .*vocabSize 32/);
    await expect({ heldOutDatasetId: train }, 422, /body\.heldOutDatasetId: the same dataset/);
    await expect({ prefixLengths: [4, 8] }, 422, /body\.prefixLengths\[1\]: 8 is outside 1\.\.7/);
    await expect({ prefixLengths: [0] }, 422, /body\.prefixLengths\[0\]/);
    await expect({ prefixLengths: [3, 3] }, 422, /body\.prefixLengths\[1\]: 3 is listed twice/);
    await expect({ prefixLengths: [] }, 422, /body\.prefixLengths/);
    await expect({ prefixLengths: [2.5] }, 422, /body\.prefixLengths\[0\]/);
    await expect({ maxSequences: 0 }, 422, /body\.maxSequences/);
    const missing = await post("/v1/extraction", { modelId: model });
    assert.equal(missing.status, 422);
    assert.match(missing.json.error.message, /body\.trainDatasetId/);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
