import assert from "node:assert/strict";
import {
  memorizationFromBits,
  paperConventionFactor,
  toMemorizationResult,
  uniformSequenceBits,
} from "../../lib/memorization/memorization.ts";
import { MemorizationResult } from "../../lib/memorization/schemas.ts";

const close = (a: number, b: number, eps = 1e-9) =>
  assert.ok(Math.abs(a - b) <= eps * Math.max(1, Math.abs(b)), `${a} != ${b}`);

Deno.test("uniformSequenceBits: (S-1)·log2 V", () => {
  assert.equal(uniformSequenceBits(16, 64), 90);
  assert.equal(uniformSequenceBits(64, 2048), 693);
  assert.equal(uniformSequenceBits(2, 2), 1);
  assert.throws(() => uniformSequenceBits(1, 64), /seqLen/);
  assert.throws(() => uniformSequenceBits(16, 1), /vocabSize/);
  assert.equal(paperConventionFactor(16), 16 / 15);
});

Deno.test("memorization: uniform reference, total = unintended, generalization 0", () => {
  const U = uniformSequenceBits(16, 64); // 90 bits
  const m = memorizationFromBits({
    modelBits: [2, 27.5, 95], // the last one coded worse than uniform: clamps to 0
    referenceBits: [U, U, U],
    uniformBits: U,
    seqLen: 16,
  });
  assert.deepEqual(Array.from(m.perSample.unintended), [88, 62.5, 0]);
  assert.deepEqual(Array.from(m.perSample.total), [88, 62.5, 0]);
  assert.deepEqual(Array.from(m.perSample.generalization), [0, 0, 0]);
  assert.equal(m.totalBits, 150.5);
  assert.equal(m.unintendedBits, 150.5);
  assert.equal(m.generalizationBits, 0);
  assert.equal(m.datasetBits, 270);
  assert.equal(m.count, 3);
  // paper convention: H(X) over all S tokens; memorized bits are not scaled
  close(m.paperConvention.datasetBits, 3 * 16 * 6); // N·S·log2 V
  assert.deepEqual(Object.keys(m.paperConvention), ["datasetBits"]);
});

Deno.test("memorization: model reference splits total into unintended + generalization", () => {
  const U = 100;
  const m = memorizationFromBits({
    //           ref better   model better   both worse than U   equal
    modelBits: new Float64Array([60, 30, 120, 50]),
    referenceBits: new Float64Array([40, 70, 130, 50]),
    uniformBits: U,
    seqLen: 11,
  });
  // sample 0: ref 40 < model 60 -> unintended 0, total 100-40 = 60, generalization 60
  // sample 1: model 30 < ref 70 -> unintended 40, total 100-30 = 70, generalization 30
  // sample 2: min(120,130) > U -> total 0; unintended 10; generalization -10 (ref worse than U)
  // sample 3: equal -> unintended 0, total 50, generalization 50
  assert.deepEqual(Array.from(m.perSample.unintended), [0, 40, 10, 0]);
  assert.deepEqual(Array.from(m.perSample.total), [60, 70, 0, 50]);
  assert.deepEqual(Array.from(m.perSample.generalization), [60, 30, -10, 50]);
  assert.equal(m.totalBits, 180);
  assert.equal(m.unintendedBits, 50);
  assert.equal(m.generalizationBits, 130);
  assert.equal(m.datasetBits, 400);
  close(m.paperConvention.datasetBits, 400 * 1.1);
});

Deno.test("memorization: a perfect reference leaves nothing unintended", () => {
  // A model that codes every sample worse than the reference memorized nothing unintended.
  const m = memorizationFromBits({
    modelBits: [10, 20],
    referenceBits: [5, 5],
    uniformBits: 30,
    seqLen: 4,
  });
  assert.equal(m.unintendedBits, 0);
  assert.equal(m.totalBits, 50);
  assert.equal(m.generalizationBits, 50);
});

Deno.test("memorization: errors name the field", () => {
  assert.throws(
    () => memorizationFromBits({ modelBits: [1], referenceBits: [], uniformBits: 1, seqLen: 4 }),
    /referenceBits/,
  );
  assert.throws(
    () => memorizationFromBits({ modelBits: [NaN], referenceBits: [1], uniformBits: 1, seqLen: 4 }),
    /modelBits\[0\]/,
  );
  assert.throws(
    () => memorizationFromBits({ modelBits: [1], referenceBits: [1], uniformBits: 1, seqLen: 1 }),
    /seqLen/,
  );
});

Deno.test("memorization: empty dataset sums to zero", () => {
  const m = memorizationFromBits({ modelBits: [], referenceBits: [], uniformBits: 9, seqLen: 4 });
  assert.equal(m.totalBits, 0);
  assert.equal(m.datasetBits, 0);
});

Deno.test("memorization: many samples sum accurately", () => {
  const n = 1_000_000;
  const model = new Float64Array(n).fill(89.9);
  const ref = new Float64Array(n).fill(90);
  const m = memorizationFromBits({
    modelBits: model,
    referenceBits: ref,
    uniformBits: 90,
    seqLen: 16,
  });
  close(m.unintendedBits, n * (90 - 89.9), 1e-12);
});

Deno.test("MemorizationResult: body validates, example validates", () => {
  const m = memorizationFromBits({
    modelBits: [2, 27.5],
    referenceBits: [90, 90],
    uniformBits: 90,
    seqLen: 16,
  });
  const body = toMemorizationResult(m, {
    reference: { kind: "uniform" },
    modelId: "mdl_x",
    datasetId: "ds_x",
  });
  assert.deepEqual(MemorizationResult.parse(body), body);
  assert.deepEqual(body.perSample!.total, [88, 62.5]);
  assert.equal(body.tokensCounted, "2..S");
  const example = MemorizationResult.meta()?.example;
  const parsed = MemorizationResult.parse(example);
  // The example is a real computation.
  assert.equal(parsed.totalBits, body.totalBits);
  assert.equal(parsed.paperConvention.datasetBits, body.paperConvention.datasetBits);
  assert.ok(!MemorizationResult.safeParse({ ...body, reference: { kind: "model" } }).success);
});
