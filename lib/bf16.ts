// bfloat16 rounding: keep the top 16 bits of a float32, rounding to nearest,
// ties to even. memcap's "bf16" and "bf16-pure" precisions store bf16 values
// in f32 slots (shaders/optimizer.wgsl and round_bf16.wgsl round the same way).

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function bf16Round(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  if ((bits & 0x7f800000) === 0x7f800000) return x; // inf / nan unchanged
  const rounded = (bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000;
  u32[0] = rounded >>> 0;
  return f32[0];
}

export function roundToBf16(a: Float32Array): void {
  const bits = new Uint32Array(a.buffer, a.byteOffset, a.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    if ((b & 0x7f800000) === 0x7f800000) continue;
    bits[i] = ((b + 0x7fff + ((b >>> 16) & 1)) & 0xffff0000) >>> 0;
  }
}
