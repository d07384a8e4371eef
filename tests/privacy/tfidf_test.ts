// TF-IDF against a dataset worked by hand, and the memorization view built on it.
import assert from "node:assert/strict";
import { tfidf, tokenCounts } from "../../lib/privacy/tfidf.ts";
import { tfidfView } from "../../lib/privacy/memorized_samples.ts";

// D = three samples of S = 2 tokens: [0,0], [0,1], [2,1]. |D| = 6 tokens.
// tf(0, D) = 3, tf(1, D) = 2, tf(2, D) = 1, so the per-token terms ln(|D|/tf) are
//   token 0: ln(6/3) = ln 2,  token 1: ln(6/2) = ln 3,  token 2: ln(6/1) = ln 6.
// tfidf([0,0]) = (ln 2 + ln 2)/2 = ln 2          ≈ 0.6931
// tfidf([0,1]) = (ln 2 + ln 3)/2 = ln 6 / 2      ≈ 0.8959
// tfidf([2,1]) = (ln 6 + ln 3)/2 = ln 18 / 2     ≈ 1.4452
const D = new Uint32Array([0, 0, 0, 1, 2, 1]);
const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);

Deno.test("tfidf: the worked example, repeats in a sample counted each time", () => {
  assert.deepEqual(Array.from(tokenCounts(D)), [3, 2, 1]);
  const got = tfidf(D, 2);
  assert.equal(got.length, 3);
  close(got[0], Math.log(2));
  close(got[1], Math.log(6) / 2);
  close(got[2], Math.log(18) / 2);
});

Deno.test("tfidf: a token that fills the dataset scores 0; token ids may skip values", () => {
  assert.deepEqual(Array.from(tfidf(new Uint32Array([7, 7, 7, 7]), 2)), [0, 0]);
  // Ids 5 and 1000: each half of the tokens, ln 2 everywhere.
  const sparse = tfidf(new Uint32Array([5, 1000, 1000, 5]), 2);
  close(sparse[0], Math.log(2));
  close(sparse[1], Math.log(2));
  assert.throws(() => tfidf(new Uint32Array(5), 2), /not a multiple of seqLen 2/);
  assert.throws(() => tfidf(new Uint32Array(4), 0), /seqLen/);
  assert.equal(tfidf(new Uint32Array(0), 4).length, 0);
});

Deno.test("tfidfView: Spearman against unintended bits and the most memorized first", () => {
  // Unintended bits that rise with TF-IDF: ρ = 1, the rarest sample on top.
  const v = tfidfView(D, 2, [1, 2, 30]);
  assert.equal(v.spearmanTfidfUnintended, 1);
  assert.deepEqual(v.topMemorized.map((s) => s.index), [2, 1, 0]);
  assert.deepEqual(v.topMemorized[0].tokens, [2, 1]);
  assert.equal(v.topMemorized[0].bits, 30);
  close(v.topMemorized[0].tfidf, Math.log(18) / 2);
  // Falling: ρ = -1. Ties in bits list the lower index first; top cuts the list.
  assert.equal(tfidfView(D, 2, [5, 4, 3]).spearmanTfidfUnintended, -1);
  assert.deepEqual(tfidfView(D, 2, [0, 7, 7], 2).topMemorized.map((s) => s.index), [1, 2]);
  // Nothing memorized: no ranking, ρ undefined (null).
  assert.equal(tfidfView(D, 2, [0, 0, 0]).spearmanTfidfUnintended, null);
  assert.throws(() => tfidfView(D, 2, [1, 2]), /unintended: 2 values for 3 samples/);
});
