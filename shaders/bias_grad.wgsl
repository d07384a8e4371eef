// Bias gradient of a linear layer: db[n] = Σ_m dout[m, n].
// One thread per output column. Constants: M, N, P_STRIDE, GX, WG.
@group(0) @binding(0) var<storage, read> dout: array<f32>; // [K, M, N]
@group(0) @binding(1) var<storage, read_write> db: array<f32>; // [K, P_STRIDE]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = (wid.y * GX + wid.x) * WG + lid;
  if (n >= N) { return; }
  let z = wid.z;
  var s = 0.0;
  for (var m = 0u; m < M; m++) { s += dout[z * M * N + m * N + n]; }
  db[z * P_STRIDE + n] = s;
}
