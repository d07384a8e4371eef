import assert from "node:assert/strict";
import {
  generateUniform,
  generateUniformEncoded,
  uniformEntropyBits,
  uniformPredictableBits,
} from "../../lib/datasets/uniform.ts";
import { decodeDataset } from "../../lib/datasets/codec.ts";
import { Rng } from "../../lib/prng.ts";

Deno.test("uniform: deterministic given the seed, different across seeds", () => {
  const spec = { vocabSize: 2048, seqLen: 64, count: 100, seed: 7 };
  const a = generateUniform(spec);
  const b = generateUniform(spec);
  assert.deepEqual(a.tokens, b.tokens);
  assert.equal(a.tokens.length, 6400);
  assert.equal(a.count, 100);
  assert.equal(a.seqLen, 64);
  assert.equal(a.vocabSize, 2048);
  const c = generateUniform({ ...spec, seed: 8 });
  let same = 0;
  for (let i = 0; i < c.tokens.length; i++) if (c.tokens[i] === a.tokens[i]) same++;
  assert.ok(same < 20, `${same} equal tokens across seeds`);

  // Exactly one Rng.int(V) per token, in row-major order.
  const rng = new Rng(7);
  for (let i = 0; i < 10; i++) assert.equal(a.tokens[i], rng.int(2048));

  // The encoded form holds the same tokens.
  assert.deepEqual(decodeDataset(generateUniformEncoded(spec)).tokens, a.tokens);
  // Seeds above 2^31 are distinct and valid.
  const hi = generateUniform({ ...spec, seed: 0xffffffff });
  assert.notDeepEqual(hi.tokens, generateUniform({ ...spec, seed: 0x7fffffff }).tokens);
});

Deno.test("uniform: tokens are in range and roughly uniform", () => {
  const v = 16;
  const ds = generateUniform({ vocabSize: v, seqLen: 32, count: 2000, seed: 1 });
  const hist = new Array(v).fill(0);
  for (const t of ds.tokens) {
    assert.ok(t < v);
    hist[t]++;
  }
  const expected = ds.tokens.length / v; // 4000
  for (const h of hist) assert.ok(Math.abs(h - expected) < 5 * Math.sqrt(expected), `${h}`);
});

Deno.test("uniform: entropy N·S·log2 V and predicted-token figure N·(S-1)·log2 V", () => {
  const shape = { vocabSize: 2048, seqLen: 64, count: 4096 };
  assert.equal(uniformEntropyBits(shape), 4096 * 64 * 11);
  assert.equal(uniformEntropyBits(shape), 2_883_584);
  assert.equal(uniformPredictableBits(shape), 4096 * 63 * 11);
  assert.equal(uniformPredictableBits(shape), 2_838_528);
  const odd = { vocabSize: 1000, seqLen: 8, count: 3 };
  assert.ok(Math.abs(uniformEntropyBits(odd) - 24 * Math.log2(1000)) < 1e-9);
  assert.ok(Math.abs(uniformPredictableBits(odd) - 21 * Math.log2(1000)) < 1e-9);
});
