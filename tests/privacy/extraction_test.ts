// The pure parts of extraction: argmax ties, prefix-length checks, the first-N sample,
// suffix matching (exact and per token, by hand) and the choice of examples.
import assert from "node:assert/strict";
import {
  argmax,
  checkPrefixLengths,
  defaultPrefixLength,
  firstSequences,
  matchSuffixes,
  pickExamples,
} from "../../lib/privacy/extraction.ts";
import { extractionResult } from "../../lib/privacy/schemas.ts";

Deno.test("argmax: the largest value, ties to the lowest id, within a row of a batch", () => {
  assert.equal(argmax([0.1, 0.7, 0.2]), 1);
  assert.equal(argmax([0.5, 0.9, 0.9, 0.1]), 1); // tie: lowest id
  assert.equal(argmax([3, 3, 3]), 0);
  assert.equal(argmax([-5, -2, -7]), 1); // all negative
  assert.equal(argmax([NaN, 1, 2]), 2); // NaN never wins
  // Rows of V = 3 in a flat [B, V] buffer.
  const flat = new Float32Array([9, 0, 0, 1, 4, 4, 0, 0, 2]);
  assert.deepEqual([0, 1, 2].map((b) => argmax(flat, b * 3, 3)), [0, 1, 2]);
});

Deno.test("prefix lengths: 1..S-1, no repeats, the error names the index", () => {
  assert.equal(defaultPrefixLength(64), 32);
  assert.equal(defaultPrefixLength(7), 3);
  assert.equal(defaultPrefixLength(2), 1);
  checkPrefixLengths([1, 4, 7], 8);
  assert.throws(() => checkPrefixLengths([4, 8], 8), /prefixLengths\[1\]: 8 is outside 1\.\.7/);
  assert.throws(() => checkPrefixLengths([0], 8), /prefixLengths\[0\]: 0 is outside/);
  assert.throws(() => checkPrefixLengths([2.5], 8), /prefixLengths\[0\]/);
  assert.throws(() => checkPrefixLengths([3, 5, 3], 8), /prefixLengths\[2\]: 3 is listed twice/);
});

Deno.test("firstSequences: the first N rows, or all when there are fewer", () => {
  const t = Uint32Array.from({ length: 12 }, (_, i) => i); // 3 sequences of 4
  assert.deepEqual(Array.from(firstSequences(t, 4, 2)), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(firstSequences(t, 4, 1024).length, 12);
  assert.equal(firstSequences(t, 4, 0).length, 0);
});

Deno.test("matchSuffixes: exact and per-token rates by hand", () => {
  // S = 4, prefix 2: suffix positions 2 and 3.
  const truth = new Uint32Array([1, 2, 3, 4, /**/ 5, 6, 7, 8, /**/ 9, 9, 9, 9, /**/ 0, 1, 2, 3]);
  const decoded = new Uint32Array([
    1,
    2,
    3,
    4, // both right: extracted
    5,
    6,
    0,
    8, // slipped once, recovered: 1/2
    9,
    9,
    0,
    0, // none right: 0
    0,
    1,
    2,
    3, // extracted
  ]);
  const m = matchSuffixes(truth, decoded, 4, 2);
  assert.equal(m.sequences, 4);
  assert.equal(m.exactMatches, 2);
  assert.equal(m.exactMatchRate, 0.5);
  assert.equal(m.tokenMatchRate, (1 + 0.5 + 0 + 1) / 4);
  assert.deepEqual(m.extracted, [0, 3]);
  // The prefix is not compared: only the suffix decides (prefix 3 leaves position 3).
  const p3 = matchSuffixes(truth, decoded, 4, 3);
  assert.deepEqual(p3.extracted, [0, 1, 3]);
  assert.equal(p3.tokenMatchRate, 3 / 4);
  assert.throws(() => matchSuffixes(truth, decoded.subarray(4), 4, 2), /decoded: 12 tokens/);
  assert.throws(() => matchSuffixes(truth, decoded, 4, 4), /prefixLengths\[0\]/);
  const none = matchSuffixes(new Uint32Array(0), new Uint32Array(0), 4, 2);
  assert.deepEqual([none.exactMatchRate, none.tokenMatchRate], [0, 0]);
});

Deno.test("pickExamples: distinct sequences, shortest prefix first, at most max", () => {
  const truth = Uint32Array.from({ length: 8 * 2 }, (_, i) => i); // 8 sequences of 2
  const ex = pickExamples(
    [{ prefixLength: 3, extracted: [5, 6] }, { prefixLength: 2, extracted: [6, 1, 2] }],
    truth,
    2,
    3,
  );
  assert.deepEqual(ex, [
    { index: 6, prefixLength: 2, tokens: [12, 13] },
    { index: 1, prefixLength: 2, tokens: [2, 3] },
    { index: 2, prefixLength: 2, tokens: [4, 5] },
  ]);
  const again = pickExamples(
    [{ prefixLength: 3, extracted: [1, 4] }, { prefixLength: 1, extracted: [4] }],
    truth,
    2,
  );
  assert.deepEqual(again.map((e) => [e.index, e.prefixLength]), [[4, 1], [1, 3]]);
});

Deno.test("extractionResult: rows in request order, held-out side by side or null", () => {
  const truth = new Uint32Array([1, 2, 3, 4, 5, 6, 7, 8]);
  const r = extractionResult(
    { modelId: "m", trainDatasetId: "t" },
    4,
    [3, 1],
    { truth, decoded: [truth, new Uint32Array([1, 0, 0, 0, 5, 6, 7, 8])] },
    null,
  );
  assert.equal(r.heldOutDatasetId, null);
  assert.deepEqual(r.results, [
    {
      prefixLength: 3,
      train: { sequences: 2, exactMatchRate: 1, tokenMatchRate: 1 },
      heldOut: null,
    },
    {
      prefixLength: 1,
      train: { sequences: 2, exactMatchRate: 0.5, tokenMatchRate: 0.5 },
      heldOut: null,
    },
  ]);
  // Sequence 1 came back from a 1-token prefix: that is the example's prefix.
  assert.deepEqual(r.examples, [
    { index: 1, prefixLength: 1, tokens: [5, 6, 7, 8] },
    { index: 0, prefixLength: 3, tokens: [1, 2, 3, 4] },
  ]);
});
