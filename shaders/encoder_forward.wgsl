// Token + position embedding.
//   x[z, bt, c] = wte[z, tokens[z, bt], c] + wpe[z, bt % T, c]
// One thread per (bt, c). Constants: BT, T, C, WTE_STRIDE, WPE_STRIDE, GX, WG.
@group(0) @binding(0) var<storage, read> tokens: array<u32>; // [K, BT]
@group(0) @binding(1) var<storage, read> wte: array<f32>; // [K, WTE_STRIDE] of [V, C]
@group(0) @binding(2) var<storage, read> wpe: array<f32>; // [K, WPE_STRIDE] of [T, C]
@group(0) @binding(3) var<storage, read_write> x: array<f32>; // [K, BT, C]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * GX + wid.x) * WG + lid;
  if (i >= BT * C) { return; }
  let z = wid.z;
  let bt = i / C;
  let c = i % C;
  let tok = tokens[z * BT + bt];
  x[z * BT * C + i] = wte[z * WTE_STRIDE + tok * C + c] + wpe[z * WPE_STRIDE + (bt % T) * C + c];
}
