// LayerNorm over the channel dimension, eps 1e-5, biased variance.
//   out = (x - mean) * rstd * w + b; mean and rstd are kept for backward.
// One thread per row. Constants: BT, C, P_STRIDE, GX, WG.
@group(0) @binding(0) var<storage, read> x: array<f32>; // [K, BT, C]
@group(0) @binding(1) var<storage, read> w: array<f32>; // [K, P_STRIDE] of [C]
@group(0) @binding(2) var<storage, read> b: array<f32>; // [K, P_STRIDE] of [C]
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [K, BT, C]
@group(0) @binding(4) var<storage, read_write> meanOut: array<f32>; // [K, BT]
@group(0) @binding(5) var<storage, read_write> rstdOut: array<f32>; // [K, BT]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * GX + wid.x) * WG + lid;
  if (row >= BT) { return; }
  let z = wid.z;
  let base = z * BT * C + row * C;
  var sum = 0.0;
  for (var c = 0u; c < C; c++) { sum += x[base + c]; }
  let mean = sum / f32(C);
  var sq = 0.0;
  for (var c = 0u; c < C; c++) {
    let d = x[base + c] - mean;
    sq += d * d;
  }
  let rstd = inverseSqrt(sq / f32(C) + 1e-5);
  let p = z * P_STRIDE;
  for (var c = 0u; c < C; c++) {
    out[base + c] = (x[base + c] - mean) * rstd * w[p + c] + b[p + c];
  }
  meanOut[z * BT + row] = mean;
  rstdOut[z * BT + row] = rstd;
}
