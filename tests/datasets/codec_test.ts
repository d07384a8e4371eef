import assert from "node:assert/strict";
import {
  allocateEncoded,
  CodecError,
  decodeDataset,
  encodeDataset,
  encodedSize,
  HEADER_BYTES,
  readHeader,
  sequencesSlice,
  tokenBytesFor,
} from "../../lib/datasets/codec.ts";
import { Rng } from "../../lib/prng.ts";

function randomDataset(vocabSize: number, seqLen: number, count: number, seed: number) {
  const rng = new Rng(seed);
  const tokens = new Uint32Array(seqLen * count);
  for (let i = 0; i < tokens.length; i++) tokens[i] = rng.int(vocabSize);
  return { vocabSize, seqLen, count, tokens };
}

Deno.test("codec: round trip with Uint16 tokens (V ≤ 65536)", () => {
  for (const v of [2, 2048, 65536]) {
    const ds = randomDataset(v, 17, 9, v);
    ds.tokens[0] = v - 1; // the largest id must survive
    const bytes = encodeDataset(ds);
    assert.equal(tokenBytesFor(v), 2);
    assert.equal(bytes.length, HEADER_BYTES + 17 * 9 * 2);
    assert.equal(bytes.length, encodedSize(ds));
    assert.deepEqual(readHeader(bytes), { vocabSize: v, seqLen: 17, count: 9, tokenBytes: 2 });
    assert.deepEqual(decodeDataset(bytes), ds);
  }
});

Deno.test("codec: round trip with Uint32 tokens (V > 65536)", () => {
  for (const v of [65537, 1 << 20, 0xffffffff]) {
    const ds = randomDataset(v, 5, 4, 3);
    ds.tokens[3] = v - 1;
    const bytes = encodeDataset(ds);
    assert.equal(tokenBytesFor(v), 4);
    assert.equal(bytes.length, HEADER_BYTES + 5 * 4 * 4);
    assert.deepEqual(decodeDataset(bytes), ds);
  }
});

Deno.test("codec: misaligned buffers decode; slices read in place", () => {
  const ds = randomDataset(100_000, 4, 6, 11);
  const bytes = encodeDataset(ds);
  const padded = new Uint8Array(bytes.length + 1);
  padded.set(bytes, 1);
  assert.deepEqual(decodeDataset(padded.subarray(1)), ds);

  const seqs = sequencesSlice(bytes, 1, 2);
  assert.deepEqual(seqs, [Array.from(ds.tokens.slice(4, 8)), Array.from(ds.tokens.slice(8, 12))]);
  assert.deepEqual(sequencesSlice(ds, 1, 2), seqs);
  assert.deepEqual(sequencesSlice(bytes, 5, 100).length, 1);
  assert.deepEqual(sequencesSlice(bytes, 6, 10), []);
  assert.deepEqual(sequencesSlice(bytes, 60, 10), []);
  assert.deepEqual(sequencesSlice(bytes, 0, 0), []);
  assert.throws(() => sequencesSlice(bytes, -1, 2), RangeError);
  assert.throws(() => sequencesSlice(bytes, 0, 1.5), RangeError);
});

Deno.test("codec: corrupt or truncated input is refused", () => {
  const ds = randomDataset(300, 3, 3, 5);
  const bytes = encodeDataset(ds);
  assert.throws(() => decodeDataset(bytes.subarray(0, bytes.length - 1)), CodecError);
  assert.throws(() => decodeDataset(bytes.subarray(0, 10)), CodecError);
  const bad = bytes.slice();
  bad[0] = 0;
  assert.throws(() => decodeDataset(bad), /magic/);
  const v2 = bytes.slice();
  v2[4] = 2;
  assert.throws(() => decodeDataset(v2), /version/);
  const wide = bytes.slice();
  wide[5] = 4;
  assert.throws(() => decodeDataset(wide), CodecError);
  // token out of range is caught by verify (default on)
  const { bytes: b2, tokens } = allocateEncoded({ vocabSize: 10, seqLen: 2, count: 1 });
  tokens[1] = 10;
  assert.throws(() => decodeDataset(b2), /token 10 at index 1/);
  assert.equal(decodeDataset(b2, { verify: false }).tokens[1], 10);
  assert.throws(
    () => encodeDataset({ vocabSize: 10, seqLen: 2, count: 2, tokens: new Uint32Array(3) }),
    CodecError,
  );
});
