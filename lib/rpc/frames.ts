// Length-prefixed frames for messages between the service and its engine
// process. A message is JSON in which typed arrays are replaced by
// {"$bin": i, "type": ...} and their bytes follow the JSON, so weights and
// token arrays cross the pipe without a base64 detour.
//   frame = u32 total length | u32 JSON length | JSON | binary parts, each
//           8-byte aligned

type Binary = Float32Array | Float64Array | Uint32Array | Uint8Array | Int32Array;
const CTORS = { Float32Array, Float64Array, Uint32Array, Uint8Array, Int32Array } as const;
type BinaryType = keyof typeof CTORS;

const align8 = (n: number) => (n + 7) & ~7;

export function encodeFrame(message: unknown): Uint8Array {
  const parts: Binary[] = [];
  const json = JSON.stringify(message, (_key, value) => {
    if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
      const type = value.constructor.name as BinaryType;
      if (!(type in CTORS)) throw new TypeError(`cannot send a ${type}`);
      parts.push(value as Binary);
      return { $bin: parts.length - 1, type, byteLength: (value as Binary).byteLength };
    }
    return value;
  });
  const head = new TextEncoder().encode(json);
  let size = 8 + align8(head.length);
  for (const p of parts) size += align8(p.byteLength);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, size, true);
  dv.setUint32(4, head.length, true);
  out.set(head, 8);
  let at = 8 + align8(head.length);
  for (const p of parts) {
    out.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), at);
    at += align8(p.byteLength);
  }
  return out;
}

export function decodeFrame(frame: Uint8Array): unknown {
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const headLen = dv.getUint32(4, true);
  const message = JSON.parse(new TextDecoder().decode(frame.subarray(8, 8 + headLen)));
  return resolveBinaries(message, frame, 8 + align8(headLen));
}

/** Replaces the placeholders (in $bin order) by typed arrays over copies of their bytes. */
function resolveBinaries(message: unknown, frame: Uint8Array, start: number): unknown {
  const found: { holder: any; key: string | number; ph: any }[] = [];
  const walk = (v: unknown, holder: any, key: string | number) => {
    if (v && typeof v === "object") {
      if (typeof (v as any).$bin === "number") {
        found.push({ holder, key, ph: v });
        return;
      }
      for (const [k, x] of Object.entries(v)) walk(x, v, Array.isArray(v) ? Number(k) : k);
    }
  };
  const root = { value: message };
  walk(message, root, "value");
  found.sort((a, b) => a.ph.$bin - b.ph.$bin);
  let at = start;
  for (const f of found) {
    const Ctor = CTORS[f.ph.type as BinaryType];
    if (!Ctor) throw new TypeError(`unknown binary type ${f.ph.type}`);
    const bytes = frame.slice(at, at + f.ph.byteLength);
    (f.holder as any)[f.key] = new Ctor(bytes.buffer, 0, f.ph.byteLength / Ctor.BYTES_PER_ELEMENT);
    at += align8(f.ph.byteLength);
  }
  return root.value;
}

/** Splits a byte stream into frames. */
export class FrameReader {
  private buf = new Uint8Array(0);

  push(chunk: Uint8Array): Uint8Array[] {
    const merged = new Uint8Array(this.buf.length + chunk.length);
    merged.set(this.buf);
    merged.set(chunk, this.buf.length);
    this.buf = merged;
    const frames: Uint8Array[] = [];
    while (this.buf.length >= 4) {
      const size = new DataView(this.buf.buffer, this.buf.byteOffset).getUint32(0, true);
      if (size < 8) throw new Error(`corrupt frame of ${size} bytes`);
      if (this.buf.length < size) break;
      frames.push(this.buf.slice(0, size));
      this.buf = this.buf.slice(size);
    }
    return frames;
  }
}
