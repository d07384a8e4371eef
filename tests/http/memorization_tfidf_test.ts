// POST /v1/memorization with `tfidf: true`, on a fake engine whose NLL of a sequence is the
// sum of its tokens, so every number below is worked by hand.
import assert from "node:assert/strict";
import { call, withService } from "./_service.ts";
import { tokenSumEngine } from "./_probe.ts";

const config = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 2 };
const fill = (...runs: [number, number][]) => runs.flatMap(([v, k]) => Array(k).fill(v));

// Five samples of S = 8 (|D| = 40 tokens); uniform code U = 7·log2 16 = 28 bits; the fake
// NLL is the token sum, so unintended = max(0, 28 - sum):
//   s0 = eight 0s            sum 0   unintended 28
//   s1 = four 0s, four 1s    sum 4   unintended 24
//   s2 = eight 1s            sum 8   unintended 20
//   s3 = eight 3s            sum 24  unintended 4
//   s4 = eight 5s            sum 40  unintended 0
// tf: 0 -> 12, 1 -> 12, 3 -> 8, 5 -> 8. TF-IDF: s0, s1, s2 = ln(40/12) = ln(10/3);
// s3, s4 = ln(40/8) = ln 5.
// Spearman: TF-IDF ranks 2, 2, 2, 4.5, 4.5 (ties averaged); unintended ranks 5, 4, 3, 2, 1;
// mean rank 3. Deviations -1,-1,-1,1.5,1.5 and 2,1,0,-1,-2: Σdxdy = -7.5, Σdx² = 7.5,
// Σdy² = 10, ρ = -7.5/√75 = -√0.75.
const SAMPLES = [fill([0, 8]), fill([0, 4], [1, 4]), fill([1, 8]), fill([3, 8]), fill([5, 8])];

Deno.test("memorization with tfidf: per-sample TF-IDF, Spearman and the most memorized", () =>
  withService(async ({ app }) => {
    const ds = await call(app, "POST", "/v1/datasets", {
      kind: "tokens",
      vocabSize: 16,
      sequences: SAMPLES,
    });
    assert.equal(ds.status, 201, JSON.stringify(ds.json));
    const model = (await call(app, "POST", "/v1/models", { config, seed: 0 })).json.id;
    const body = { modelId: model, datasetId: ds.json.id, perSample: true };

    // Per-sample arrays only when asked: a response stays small by default.
    const brief = await call(app, "POST", "/v1/memorization", { ...body, perSample: false });
    assert.equal(brief.status, 200, JSON.stringify(brief.json));
    assert.equal(brief.json.perSample, undefined);
    const plain = await call(app, "POST", "/v1/memorization", body);
    assert.equal(plain.status, 200, JSON.stringify(plain.json));
    assert.deepEqual(plain.json.perSample.unintended, [28, 24, 20, 4, 0]);
    assert.equal(plain.json.perSample.tfidf, undefined);
    assert.equal(plain.json.spearmanTfidfUnintended, undefined);
    assert.equal(plain.json.topMemorized, undefined);
    // Uploaded tokens are not uniform random data: the uniform reference is flagged.
    assert.match(plain.json.warnings[0], /tokens dataset, not uniform random tokens/);
    const uniform = await call(app, "POST", "/v1/datasets", {
      kind: "uniform",
      vocabSize: 16,
      seqLen: 8,
      count: 4,
      seed: 0,
    });
    const onUniform = await call(app, "POST", "/v1/memorization", {
      modelId: model,
      datasetId: uniform.json.id,
    });
    assert.equal(onUniform.status, 200, JSON.stringify(onUniform.json));
    assert.equal(onUniform.json.warnings, undefined);

    const res = await call(app, "POST", "/v1/memorization", { ...body, tfidf: true });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const r = res.json;
    const low = Math.log(10 / 3), high = Math.log(5);
    const want = [low, low, low, high, high];
    r.perSample.tfidf.forEach((x: number, i: number) =>
      assert.ok(Math.abs(x - want[i]) < 1e-12, `tfidf[${i}] ${x}`)
    );
    assert.ok(Math.abs(r.spearmanTfidfUnintended + Math.sqrt(0.75)) < 1e-12);
    assert.deepEqual(r.topMemorized.map((s: { index: number }) => s.index), [0, 1, 2, 3, 4]);
    assert.deepEqual(r.topMemorized[1].tokens, SAMPLES[1]);
    assert.equal(r.topMemorized[1].bits, 24);
    assert.ok(Math.abs(r.topMemorized[3].tfidf - high) < 1e-12);
    // The memorization numbers themselves are unchanged by the flag.
    assert.deepEqual(r.perSample.unintended, plain.json.perSample.unintended);
    assert.equal(r.unintendedBits, plain.json.unintendedBits);

    const bad = await call(app, "POST", "/v1/memorization", { ...body, tfidf: "yes" });
    assert.equal(bad.status, 422);
    assert.match(bad.json.error.message, /body\.tfidf/);
  }, () => tokenSumEngine));

Deno.test("memorization with tfidf: nothing memorized leaves Spearman null", () =>
  withService(async ({ app }) => {
    // Sums ≥ 28 everywhere: unintended 0 for every sample, no ranking to correlate.
    const ds = await call(app, "POST", "/v1/datasets", {
      kind: "tokens",
      vocabSize: 16,
      sequences: [fill([4, 8]), fill([5, 8]), fill([6, 4], [9, 4])],
    });
    const model = (await call(app, "POST", "/v1/models", { config, seed: 0 })).json.id;
    const r = await call(app, "POST", "/v1/memorization", {
      modelId: model,
      datasetId: ds.json.id,
      tfidf: true,
      perSample: true,
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.spearmanTfidfUnintended, null);
    assert.equal(r.json.topMemorized.length, 3);
    assert.equal(r.json.perSample.tfidf.length, 3);
  }, () => tokenSumEngine));
