// LayerNorm weight and bias gradients: column sums over all rows,
//   dw[c] = Σ_rows dout * n,  db[c] = Σ_rows dout,  n = (x - mean) * rstd.
// One thread per channel (no atomics; the row loop stays in one thread).
// Constants: BT, C, P_STRIDE, GX, WG.
@group(0) @binding(0) var<storage, read> dout: array<f32>; // [K, BT, C]
@group(0) @binding(1) var<storage, read> x: array<f32>; // [K, BT, C]
@group(0) @binding(2) var<storage, read> mean: array<f32>; // [K, BT]
@group(0) @binding(3) var<storage, read> rstd: array<f32>; // [K, BT]
@group(0) @binding(4) var<storage, read_write> dw: array<f32>; // [K, P_STRIDE]
@group(0) @binding(5) var<storage, read_write> db: array<f32>; // [K, P_STRIDE]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = (wid.y * GX + wid.x) * WG + lid;
  if (c >= C) { return; }
  let z = wid.z;
  var sw = 0.0;
  var sb = 0.0;
  for (var row = 0u; row < BT; row++) {
    let i = z * BT * C + row * C + c;
    let n = (x[i] - mean[z * BT + row]) * rstd[z * BT + row];
    sw += dout[i] * n;
    sb += dout[i];
  }
  dw[z * P_STRIDE + c] = sw;
  db[z * P_STRIDE + c] = sb;
}
