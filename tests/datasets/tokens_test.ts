import assert from "node:assert/strict";
import { formatPath, TokenValidationError, validateSequences } from "../../lib/datasets/tokens.ts";

function message(seqs: unknown, v: number): string {
  try {
    validateSequences(seqs, v);
  } catch (e) {
    assert.ok(e instanceof TokenValidationError);
    return e.message;
  }
  throw new Error("expected a TokenValidationError");
}

Deno.test("tokens: valid sequences are packed row-major", () => {
  const r = validateSequences([[0, 1, 2], [3, 4, 5]], 6);
  assert.equal(r.count, 2);
  assert.equal(r.seqLen, 3);
  assert.deepEqual(r.tokens, new Uint32Array([0, 1, 2, 3, 4, 5]));
});

Deno.test("tokens: messages name the offending index", () => {
  const seqs = Array.from({ length: 5 }, () => Array.from({ length: 10 }, () => 1));
  seqs[3][7] = 5000;
  assert.equal(message(seqs, 2048), "sequences[3][7]: token 5000 ≥ vocabSize 2048");
  seqs[3][7] = 2048;
  assert.equal(message(seqs, 2048), "sequences[3][7]: token 2048 ≥ vocabSize 2048");
  seqs[3][7] = -1;
  assert.equal(message(seqs, 2048), "sequences[3][7]: token -1 < 0");
  seqs[3][7] = 1.5;
  assert.equal(message(seqs, 2048), "sequences[3][7]: token 1.5 is not an integer");
  // deno-lint-ignore no-explicit-any
  (seqs[3] as any)[7] = "7";
  assert.equal(message(seqs, 2048), 'sequences[3][7]: token "7" is not an integer');
  // deno-lint-ignore no-explicit-any
  (seqs[3] as any)[7] = null;
  assert.equal(message(seqs, 2048), "sequences[3][7]: token null is not an integer");
  seqs[3][7] = 1;
  seqs[2] = [1, 2];
  assert.match(message(seqs, 2048), /^sequences\[2\]: length 2 ≠ 10/);
  assert.equal(message([], 2048), "sequences: must hold at least 1 sequence");
  assert.match(message([[1]], 2048), /^sequences\[0\]: length 1 < 2/);
  assert.match(message([[1, 2], 3], 2048), /^sequences\[1\]: must be an array/);
  assert.match(message("nope", 2048), /^sequences: must be an array/);
  assert.match(message([[1, 2]], 1), /^vocabSize: /);
  assert.match(message([[1, 2]], 2.5), /^vocabSize: /);
});

Deno.test("tokens: error carries path, field and detail", () => {
  try {
    validateSequences([[0, 9]], 4);
    assert.fail("should throw");
  } catch (e) {
    assert.ok(e instanceof TokenValidationError);
    assert.ok(e instanceof RangeError);
    assert.deepEqual(e.path, ["sequences", 0, 1]);
    assert.equal(e.field, "sequences[0][1]");
    assert.equal(e.detail, "token 9 ≥ vocabSize 4");
  }
  assert.equal(formatPath(["config", "heads"]), "config.heads");
  assert.equal(formatPath(["a", 0, "b", 2]), "a[0].b[2]");
});
