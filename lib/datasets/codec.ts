// Compact binary form of a token dataset (the `tokens.bin` artifact).
//
// Layout, little-endian:
//   offset 0  4 bytes  magic "MCDS"
//          4  u8       format version (1)
//          5  u8       bytes per token: 2 (vocabSize <= 65536) or 4
//          6  u16      reserved (0)
//          8  u32      vocabSize V
//         12  u32      seqLen S
//         16  u32      count N
//         20  u32      reserved (0)
//         24  N*S tokens, row-major (sequence i, position j at i*S + j)
// The 24-byte header keeps the token array 4-byte aligned.

export const HEADER_BYTES = 24;
const MAGIC = [0x4d, 0x43, 0x44, 0x53]; // "MCDS"
const VERSION = 1;

// Token arrays are read and written through typed-array views, which use the
// platform's byte order. Every platform Deno ships for is little-endian.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface DatasetShape {
  vocabSize: number;
  seqLen: number;
  count: number;
}

/** A decoded dataset: N*S token ids, row-major. */
export interface Dataset extends DatasetShape {
  tokens: Uint32Array;
}

export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CodecError";
  }
}

export function tokenBytesFor(vocabSize: number): 2 | 4 {
  return vocabSize <= 65536 ? 2 : 4;
}

function checkShape(s: DatasetShape): void {
  const u32 = (x: number) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
  if (!u32(s.vocabSize) || s.vocabSize < 1) throw new CodecError(`bad vocabSize ${s.vocabSize}`);
  if (!u32(s.seqLen) || s.seqLen < 1) throw new CodecError(`bad seqLen ${s.seqLen}`);
  if (!u32(s.count)) throw new CodecError(`bad count ${s.count}`);
}

/** Total size in bytes of the encoded dataset. */
export function encodedSize(s: DatasetShape): number {
  return HEADER_BYTES + s.count * s.seqLen * tokenBytesFor(s.vocabSize);
}

/**
 * A zeroed encoded buffer with its header written, and a view of its token
 * area to fill in place (avoids a second copy for large generated datasets).
 */
export function allocateEncoded(s: DatasetShape): {
  bytes: Uint8Array;
  tokens: Uint16Array | Uint32Array;
} {
  checkShape(s);
  if (!LITTLE_ENDIAN) throw new CodecError("big-endian platforms are not supported");
  const bytes = new Uint8Array(encodedSize(s));
  writeHeader(s, bytes);
  const tb = tokenBytesFor(s.vocabSize);
  const n = s.count * s.seqLen;
  const tokens = tb === 2
    ? new Uint16Array(bytes.buffer, HEADER_BYTES, n)
    : new Uint32Array(bytes.buffer, HEADER_BYTES, n);
  return { bytes, tokens };
}

/**
 * The HEADER_BYTES header of a dataset of this shape (into `out` when given), for writing the
 * tokens after it in pieces (lib/datasets/uniform_stream.ts).
 */
export function writeHeader(s: DatasetShape, out = new Uint8Array(HEADER_BYTES)): Uint8Array {
  checkShape(s);
  const dv = new DataView(out.buffer, out.byteOffset, HEADER_BYTES);
  out.set(MAGIC, 0);
  dv.setUint8(4, VERSION);
  dv.setUint8(5, tokenBytesFor(s.vocabSize));
  dv.setUint32(8, s.vocabSize, true);
  dv.setUint32(12, s.seqLen, true);
  dv.setUint32(16, s.count, true);
  return out;
}

/** Encodes a dataset; tokens must already be valid ids in [0, V). */
export function encodeDataset(ds: Dataset): Uint8Array {
  if (ds.tokens.length !== ds.count * ds.seqLen) {
    throw new CodecError(
      `tokens has ${ds.tokens.length} entries, expected count*seqLen = ${ds.count * ds.seqLen}`,
    );
  }
  const { bytes, tokens } = allocateEncoded(ds);
  tokens.set(ds.tokens);
  return bytes;
}

/** Reads and checks the header (and that the length matches it). */
export function readHeader(bytes: Uint8Array): DatasetShape & { tokenBytes: 2 | 4 } {
  return parseHeader(bytes, bytes.length);
}

/**
 * Checks a header given its first HEADER_BYTES bytes and the total size of
 * the encoded dataset (for reading a page without loading the whole file).
 */
export function parseHeader(
  bytes: Uint8Array,
  totalBytes: number,
): DatasetShape & { tokenBytes: 2 | 4 } {
  if (bytes.length < HEADER_BYTES) throw new CodecError("dataset file is shorter than its header");
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== MAGIC[i]) throw new CodecError("not a memcap dataset (bad magic)");
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint8(4);
  if (version !== VERSION) throw new CodecError(`unsupported dataset format version ${version}`);
  const tokenBytes = dv.getUint8(5);
  const shape = {
    vocabSize: dv.getUint32(8, true),
    seqLen: dv.getUint32(12, true),
    count: dv.getUint32(16, true),
  };
  checkShape(shape);
  if (tokenBytes !== tokenBytesFor(shape.vocabSize)) {
    throw new CodecError(`token width ${tokenBytes} does not match vocabSize ${shape.vocabSize}`);
  }
  const want = encodedSize(shape);
  if (totalBytes !== want) {
    throw new CodecError(`dataset file is ${totalBytes} bytes, header says ${want}`);
  }
  return { ...shape, tokenBytes };
}

/** Zero-copy view of the token area (copies only if `bytes` is misaligned). */
export function tokenView(bytes: Uint8Array): Uint16Array | Uint32Array {
  const h = readHeader(bytes);
  if (!LITTLE_ENDIAN) throw new CodecError("big-endian platforms are not supported");
  const n = h.count * h.seqLen;
  let src = bytes;
  if ((bytes.byteOffset + HEADER_BYTES) % h.tokenBytes !== 0) src = bytes.slice();
  const off = src.byteOffset + HEADER_BYTES;
  return h.tokenBytes === 2
    ? new Uint16Array(src.buffer, off, n)
    : new Uint32Array(src.buffer, off, n);
}

/**
 * Decodes to a Uint32Array of N*S token ids. With `verify` (default true)
 * every id is checked to be < vocabSize.
 */
export function decodeDataset(bytes: Uint8Array, opts: { verify?: boolean } = {}): Dataset {
  const h = readHeader(bytes);
  const view = tokenView(bytes);
  const tokens = new Uint32Array(view.length);
  tokens.set(view);
  if (opts.verify ?? true) {
    for (let i = 0; i < tokens.length; i++) {
      if (tokens[i] >= h.vocabSize) {
        throw new CodecError(
          `token ${tokens[i]} at index ${i} is not below vocabSize ${h.vocabSize}`,
        );
      }
    }
  }
  return { vocabSize: h.vocabSize, seqLen: h.seqLen, count: h.count, tokens };
}

/**
 * Byte range [start, start+length) of the encoded dataset that holds
 * sequences [offset, offset+limit), clamped to the dataset.
 */
export function sequenceByteRange(
  h: DatasetShape,
  offset: number,
  limit: number,
): { start: number; length: number; first: number; n: number } {
  const first = Math.min(offset, h.count);
  const n = Math.max(0, Math.min(h.count, offset + limit) - first);
  const rowBytes = h.seqLen * tokenBytesFor(h.vocabSize);
  return { start: HEADER_BYTES + first * rowBytes, length: n * rowBytes, first, n };
}

/** Rows of tokens from raw little-endian token bytes (`n` rows of `seqLen`). */
export function rowsFromBytes(
  bytes: Uint8Array,
  tokenBytes: 2 | 4,
  seqLen: number,
  n: number,
): number[][] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < n * seqLen * tokenBytes) throw new CodecError("token bytes are truncated");
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    const row = new Array<number>(seqLen);
    const base = i * seqLen * tokenBytes;
    for (let j = 0; j < seqLen; j++) {
      row[j] = tokenBytes === 2
        ? dv.getUint16(base + j * 2, true)
        : dv.getUint32(base + j * 4, true);
    }
    out.push(row);
  }
  return out;
}

/**
 * Sequences [offset, offset+limit) as arrays of numbers, from an encoded
 * buffer (read in place, no full decode) or a decoded dataset. An offset at
 * or past the end gives [].
 */
export function sequencesSlice(
  src: Uint8Array | Dataset,
  offset: number,
  limit: number,
): number[][] {
  if (!Number.isInteger(offset) || offset < 0) {
    throw new RangeError(`offset: ${offset} is not a non-negative integer`);
  }
  if (!Number.isInteger(limit) || limit < 0) {
    throw new RangeError(`limit: ${limit} is not a non-negative integer`);
  }
  const { count, seqLen, tokens } = src instanceof Uint8Array
    ? { ...readHeader(src), tokens: tokenView(src) }
    : src;
  const end = Math.min(count, offset + limit);
  const out: number[][] = [];
  for (let i = offset; i < end; i++) {
    out.push(Array.from(tokens.subarray(i * seqLen, (i + 1) * seqLen)));
  }
  return out;
}
