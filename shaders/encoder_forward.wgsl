// Token + position embedding.
//   x[z, bt, c] = wte[z, tokens[z, bt], c] + wpe[z, bt % T, c]
// One thread per row bt: its token is read once, and the row moves in W-wide
// vectors (vec4 when C % 4 == 0; llvmpipe charges per access, not per float).
// Constants: BT, T, C, WTE_STRIDE, WPE_STRIDE, W, VF, GX, WG.
@group(0) @binding(0) var<storage, read> tokens: array<u32>; // [K, BT]
@group(0) @binding(1) var<storage, read> wte: array<VF>; // [K, WTE_STRIDE / W] of [V, C / W]
@group(0) @binding(2) var<storage, read> wpe: array<VF>; // [K, WPE_STRIDE / W] of [T, C / W]
@group(0) @binding(3) var<storage, read_write> x: array<VF>; // [K, BT, C / W]

const CW = C / W;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let bt = (wid.y * GX + wid.x) * WG + lid;
  if (bt >= BT) { return; }
  let z = wid.z;
  let e = z * (WTE_STRIDE / W) + tokens[z * BT + bt] * CW;
  let p = z * (WPE_STRIDE / W) + (bt % T) * CW;
  let o = (z * BT + bt) * CW;
  for (var c = 0u; c < CW; c++) { x[o + c] = wte[e + c] + wpe[p + c]; }
}
