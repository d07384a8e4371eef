// LayerNorm backward, input gradient. With n = (x - mean) * rstd and
// g = dout * w:  dx = rstd * (g - mean(g) - n * mean(g * n)).
// ACCUMULATE adds into dx (the residual stream gradient), else overwrites.
// One thread per row. Constants: BT, C, P_STRIDE, ACCUMULATE, GX, WG.
@group(0) @binding(0) var<storage, read> dout: array<f32>; // [K, BT, C]
@group(0) @binding(1) var<storage, read> x: array<f32>; // [K, BT, C]
@group(0) @binding(2) var<storage, read> w: array<f32>; // [K, P_STRIDE]
@group(0) @binding(3) var<storage, read> mean: array<f32>; // [K, BT]
@group(0) @binding(4) var<storage, read> rstd: array<f32>; // [K, BT]
@group(0) @binding(5) var<storage, read_write> dx: array<f32>; // [K, BT, C]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * GX + wid.x) * WG + lid;
  if (row >= BT) { return; }
  let z = wid.z;
  let base = z * BT * C + row * C;
  let p = z * P_STRIDE;
  let mu = mean[z * BT + row];
  let rs = rstd[z * BT + row];
  var gMean = 0.0;
  var gnMean = 0.0;
  for (var c = 0u; c < C; c++) {
    let g = dout[base + c] * w[p + c];
    gMean += g;
    gnMean += g * (x[base + c] - mu) * rs;
  }
  gMean /= f32(C);
  gnMean /= f32(C);
  for (var c = 0u; c < C; c++) {
    let g = dout[base + c] * w[p + c];
    let n = (x[base + c] - mu) * rs;
    let d = rs * (g - gMean - n * gnMean);
    if (ACCUMULATE) {
      dx[base + c] = dx[base + c] + d;
    } else {
      dx[base + c] = d;
    }
  }
}
