// LayerNorm over the channel dimension, eps 1e-5, biased variance.
//   out = (x - mean) * rstd * w + b; mean and rstd are kept for backward.
// One thread per row. On llvmpipe every storage access is a loop over the 8
// lanes and costs far more than arithmetic, so accesses are W-wide (vec4 when
// C % 4 == 0), and with CACHE the row is loaded once into a private array
// that the three passes read. llvmpipe keeps such an array in registers only
// when its loops unroll (CW <= 16); a longer one is slower than reloading.
// Constants: BT, C, P_STRIDE, CACHE, W, VF, GX, WG.
@group(0) @binding(0) var<storage, read> x: array<VF>; // [K, BT, C / W]
@group(0) @binding(1) var<storage, read> w: array<VF>; // [K, P_STRIDE / W] of [C / W]
@group(0) @binding(2) var<storage, read> b: array<VF>; // [K, P_STRIDE / W] of [C / W]
@group(0) @binding(3) var<storage, read_write> out: array<VF>; // [K, BT, C / W]
@group(0) @binding(4) var<storage, read_write> meanOut: array<f32>; // [K, BT]
@group(0) @binding(5) var<storage, read_write> rstdOut: array<f32>; // [K, BT]

const CW = C / W;

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
  var xr: array<VF, select(1u, CW, CACHE)>;
  var sum = VF(0.0);
  for (var c = 0u; c < CW; c++) {
    let v = x[base + c];
    if (CACHE) { xr[c] = v; }
    sum += v;
  }
  let mean = hsum(sum) / f32(C);
  var sq = VF(0.0);
  for (var c = 0u; c < CW; c++) {
    var v: VF;
    if (CACHE) { v = xr[c]; } else { v = x[base + c]; }
    let d = v - mean;
    sq += d * d;
  }
  let rstd = inverseSqrt(hsum(sq) / f32(C) + 1e-5);
  let p = z * (P_STRIDE / W);
  for (var c = 0u; c < CW; c++) {
    var v: VF;
    if (CACHE) { v = xr[c]; } else { v = x[base + c]; }
    out[base + c] = (v - mean) * rstd * w[p + c] + b[p + c];
  }
  meanOut[z * BT + row] = mean;
  rstdOut[z * BT + row] = rstd;
}
