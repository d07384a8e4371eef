// LayerNorm backward, input gradient. With n = (x - mean) * rstd and
// g = dout * w:  dx = rstd * (g - mean(g) - n * mean(g * n)).
// ACCUMULATE adds into dx (the residual stream gradient), else overwrites.
// One thread per row. On llvmpipe every storage access is a loop over the 8
// lanes and costs far more than arithmetic, so accesses are W-wide (vec4 when
// C % 4 == 0), and with CACHE g and n are kept in private arrays for the
// second pass instead of reloading dout, w and x. llvmpipe keeps those in
// registers only when their loops unroll (2 CW <= 16); longer ones are slower
// than reloading. Constants: BT, C, P_STRIDE, ACCUMULATE, CACHE, W, VF, GX, WG.
@group(0) @binding(0) var<storage, read> dout: array<VF>; // [K, BT, C / W]
@group(0) @binding(1) var<storage, read> x: array<VF>; // [K, BT, C / W]
@group(0) @binding(2) var<storage, read> w: array<VF>; // [K, P_STRIDE / W]
@group(0) @binding(3) var<storage, read> mean: array<f32>; // [K, BT]
@group(0) @binding(4) var<storage, read> rstd: array<f32>; // [K, BT]
@group(0) @binding(5) var<storage, read_write> dx: array<VF>; // [K, BT, C / W]

const CW = C / W;
const CACHE_LEN = select(1u, CW, CACHE);

// Sum of a VF's components (vec4<f32>(v) splats a scalar: take one copy).
fn hsum(v: VF) -> f32 {
  let u = vec4<f32>(v);
  return select(u.x + u.y + u.z + u.w, u.x, W == 1u);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * GX + wid.x) * WG + lid;
  if (row >= BT) { return; }
  let z = wid.z;
  let base = (z * BT + row) * CW;
  let p = z * (P_STRIDE / W);
  let mu = mean[z * BT + row];
  let rs = rstd[z * BT + row];
  var gr: array<VF, CACHE_LEN>;
  var nr: array<VF, CACHE_LEN>;
  var gSum = VF(0.0);
  var gnSum = VF(0.0);
  for (var c = 0u; c < CW; c++) {
    let g = dout[base + c] * w[p + c];
    let n = (x[base + c] - mu) * rs;
    if (CACHE) {
      gr[c] = g;
      nr[c] = n;
    }
    gSum += g;
    gnSum += g * n;
  }
  let gMean = hsum(gSum) / f32(C);
  let gnMean = hsum(gnSum) / f32(C);
  for (var c = 0u; c < CW; c++) {
    var g: VF;
    var n: VF;
    if (CACHE) {
      g = gr[c];
      n = nr[c];
    } else {
      g = dout[base + c] * w[p + c];
      n = (x[base + c] - mu) * rs;
    }
    let d = rs * (g - gMean - n * gnMean);
    if (ACCUMULATE) {
      dx[base + c] = dx[base + c] + d;
    } else {
      dx[base + c] = d;
    }
  }
}
