// safetensors: an 8-byte little-endian u64 header length N, N bytes of JSON
// header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
// {string: string}}, padded with spaces, then the raw little-endian tensor bytes
// (offsets are relative to the first byte after the header).
//
// encodeSafetensors is deterministic: "__metadata__" first with sorted keys,
// then tensors sorted by name, each header entry written as dtype, shape,
// data_offsets, data laid out in name order with no gaps, header padded to a
// multiple of 8. Decoding a file we wrote and encoding it again gives the same
// bytes. decodeSafetensors validates everything (uploads come through here) and
// throws SafetensorsError with a message saying what is wrong and where.

export const DTYPE_SIZES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  U16: 2,
  I16: 2,
  F16: 2,
  BF16: 2,
  U32: 4,
  I32: 4,
  F32: 4,
  U64: 8,
  I64: 8,
  F64: 8,
} as const;

export type Dtype = keyof typeof DTYPE_SIZES;

export interface SafeTensor {
  dtype: Dtype;
  shape: number[];
  /** Raw little-endian bytes, product(shape) * dtypeSize(dtype) long. */
  data: Uint8Array;
}

export interface NamedTensor extends SafeTensor {
  name: string;
}

export interface DecodedSafetensors {
  /** Tensors by name; data are views into the decoded buffer (no copy). */
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SafetensorsError";
  }
}

/** Largest header we accept (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = "__metadata__";

export function isDtype(s: unknown): s is Dtype {
  return typeof s === "string" && Object.hasOwn(DTYPE_SIZES, s);
}

export function dtypeSize(dtype: Dtype): number {
  return DTYPE_SIZES[dtype];
}

function fail(message: string): never {
  throw new SafetensorsError(message);
}

function checkShape(shape: unknown, where: string): number {
  if (!Array.isArray(shape)) fail(`${where}: shape must be an array of integers`);
  let n = 1;
  for (const dim of shape) {
    if (typeof dim !== "number" || !Number.isSafeInteger(dim) || dim < 0) {
      fail(`${where}: shape ${JSON.stringify(shape)} has a bad dimension ${JSON.stringify(dim)}`);
    }
    n *= dim;
    if (!Number.isSafeInteger(n)) fail(`${where}: shape ${JSON.stringify(shape)} is too large`);
  }
  return n;
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Writes tensors (sorted by name) and optional string metadata as safetensors bytes. */
export function encodeSafetensors(
  tensors: NamedTensor[],
  metadata?: Record<string, string>,
): Uint8Array {
  const sorted = [...tensors].sort((a, b) => byName(a.name, b.name));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    const meta: Record<string, string> = {};
    for (const key of Object.keys(metadata).sort(byName)) {
      const value = metadata[key];
      if (typeof value !== "string") fail(`metadata "${key}" must be a string`);
      meta[key] = value;
    }
    header[METADATA_KEY] = meta;
  }
  let offset = 0;
  for (let i = 0; i < sorted.length; i++) {
    const t = sorted[i];
    if (typeof t.name !== "string" || t.name.length === 0) fail("tensor name must be non-empty");
    if (t.name === METADATA_KEY) fail(`"${METADATA_KEY}" cannot name a tensor`);
    if (i > 0 && sorted[i - 1].name === t.name) fail(`tensor "${t.name}" appears twice`);
    if (!isDtype(t.dtype)) fail(`tensor "${t.name}": unknown dtype ${JSON.stringify(t.dtype)}`);
    const count = checkShape(t.shape, `tensor "${t.name}"`);
    const bytes = count * DTYPE_SIZES[t.dtype];
    if (t.data.byteLength !== bytes) {
      fail(
        `tensor "${t.name}": ${t.dtype} ${JSON.stringify(t.shape)} needs ${bytes} bytes, ` +
          `got ${t.data.byteLength}`,
      );
    }
    header[t.name] = {
      dtype: t.dtype,
      shape: [...t.shape],
      data_offsets: [offset, offset + bytes],
    };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  const raw = new TextEncoder().encode(json);
  const padded = Math.ceil(raw.length / 8) * 8;
  json += " ".repeat(padded - raw.length);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of sorted) {
    out.set(t.data, at);
    at += t.data.byteLength;
  }
  return out;
}

/** Parses and validates safetensors bytes; throws SafetensorsError on anything malformed. */
export function decodeSafetensors(bytes: Uint8Array): DecodedSafetensors {
  if (!(bytes instanceof Uint8Array)) fail("input must be bytes");
  if (bytes.byteLength < 8) {
    fail(
      `file is ${bytes.byteLength} bytes; a safetensors file starts with an 8-byte header length`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen64 = view.getBigUint64(0, true);
  if (headerLen64 > BigInt(MAX_HEADER_BYTES)) {
    fail(`header length ${headerLen64} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const headerLen = Number(headerLen64);
  if (headerLen < 2) fail(`header length ${headerLen} is too small for a JSON object`);
  if (8 + headerLen > bytes.byteLength) {
    fail(
      `header length ${headerLen} runs past the end of the ${bytes.byteLength}-byte file ` +
        `(truncated upload or not a safetensors file?)`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    fail("header is not valid UTF-8");
  }
  if (!text.startsWith("{")) fail("header must be a JSON object starting with '{'");
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`header is not well-formed JSON: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    fail("header must be a JSON object");
  }

  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; begin: number; end: number; tensor: SafeTensor }[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        fail(`"${METADATA_KEY}" must be an object of strings`);
      }
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== "string") fail(`"${METADATA_KEY}"."${k}" must be a string`);
        metadata[k] = v;
      }
      continue;
    }
    const where = `tensor "${name}"`;
    if (name.length === 0) fail("a tensor has an empty name");
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      fail(`${where}: entry must be an object {dtype, shape, data_offsets}`);
    }
    const info = value as Record<string, unknown>;
    if (!isDtype(info.dtype)) {
      fail(
        `${where}: unknown dtype ${JSON.stringify(info.dtype)} ` +
          `(expected one of ${Object.keys(DTYPE_SIZES).join(", ")})`,
      );
    }
    const count = checkShape(info.shape, where);
    const offs = info.data_offsets;
    if (
      !Array.isArray(offs) || offs.length !== 2 ||
      !offs.every((o) => typeof o === "number" && Number.isSafeInteger(o) && o >= 0)
    ) {
      fail(`${where}: data_offsets must be [begin, end] with non-negative integers`);
    }
    const [begin, end] = offs as number[];
    if (end < begin) fail(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLen) {
      fail(`${where}: data_offsets [${begin}, ${end}] run past the ${dataLen} data bytes`);
    }
    const expected = count * DTYPE_SIZES[info.dtype];
    if (end - begin !== expected) {
      fail(
        `${where}: ${info.dtype} ${JSON.stringify(info.shape)} needs ${expected} bytes ` +
          `but data_offsets [${begin}, ${end}] span ${end - begin}`,
      );
    }
    const data = bytes.subarray(dataStart + begin, dataStart + end);
    entries.push({
      name,
      begin,
      end,
      tensor: { dtype: info.dtype, shape: [...(info.shape as number[])], data },
    });
  }

  // Tensors must tile the data section exactly: no overlap, no gap, nothing after.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let prev = "";
  for (const e of byOffset) {
    if (e.begin < at) fail(`tensor "${e.name}" overlaps tensor "${prev}" in the data section`);
    if (e.begin > at) {
      fail(`gap of ${e.begin - at} bytes before tensor "${e.name}" in the data section`);
    }
    at = e.end;
    prev = e.name;
  }
  if (at !== dataLen) {
    fail(`data section is ${dataLen} bytes but the tensors cover ${at} (trailing bytes)`);
  }

  const tensors = new Map<string, SafeTensor>();
  for (const e of [...entries].sort((a, b) => byName(a.name, b.name))) {
    tensors.set(e.name, e.tensor);
  }
  return { tensors, metadata };
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Converts a floating-point tensor (F32, BF16, F16, F64) to a new Float32Array. */
export function tensorToFloat32(t: SafeTensor): Float32Array {
  const n = t.data.byteLength / DTYPE_SIZES[t.dtype];
  const out = new Float32Array(n);
  const v = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  switch (t.dtype) {
    case "F32":
      if (littleEndian) new Uint8Array(out.buffer).set(t.data);
      else for (let i = 0; i < n; i++) out[i] = v.getFloat32(4 * i, true);
      break;
    case "BF16": {
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = v.getUint16(2 * i, true) << 16;
      break;
    }
    case "F16":
      for (let i = 0; i < n; i++) out[i] = f16ToF32(v.getUint16(2 * i, true));
      break;
    case "F64":
      for (let i = 0; i < n; i++) out[i] = v.getFloat64(8 * i, true);
      break;
    default:
      fail(`dtype ${t.dtype} is not a floating-point type`);
  }
  return out;
}

/** Little-endian F32 bytes of a Float32Array (a copy). */
export function float32Bytes(a: Float32Array): Uint8Array {
  const out = new Uint8Array(a.length * 4);
  if (littleEndian) out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  else {
    const v = new DataView(out.buffer);
    for (let i = 0; i < a.length; i++) v.setFloat32(4 * i, a[i], true);
  }
  return out;
}

/** BF16 bytes of a Float32Array, rounding to nearest, ties to even (NaN stays NaN). */
export function bfloat16Bytes(a: Float32Array): Uint8Array {
  const out = new Uint8Array(a.length * 2);
  const v = new DataView(out.buffer);
  const bits = new Uint32Array(1);
  const f = new Float32Array(bits.buffer);
  for (let i = 0; i < a.length; i++) {
    f[0] = a[i];
    const b = bits[0];
    let h: number;
    if ((b & 0x7f800000) === 0x7f800000) h = (b >>> 16) | ((b & 0xffff) !== 0 ? 0x40 : 0);
    else h = ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
    v.setUint16(2 * i, h, true);
  }
  return out;
}
