// Causal attention backward, part 2 (one thread per key row (b, h, t')):
//   dk_t' = SCALE * Σ_{t >= t'} dpre[t, t'] q_t
//   dv_t' = Σ_{t >= t'} att[t, t'] dy_t
// The t loop starts at t' rounded down to a multiple of 8, so neighbouring
// threads (SIMD lanes on a CPU adapter) read the same q_t and dy_t rows; the
// extra terms are zero because att and dpre are zero above the diagonal.
// Constants: B, T, C, NH, HS, SCALE, GX, WG.
@group(0) @binding(0) var<storage, read> qkv: array<f32>; // [K, B*T, 3C]
@group(0) @binding(1) var<storage, read> att: array<f32>; // [K, B, NH, T, T]
@group(0) @binding(2) var<storage, read> dy: array<f32>; // [K, B*T, C]
@group(0) @binding(3) var<storage, read> dpre: array<f32>; // [K, B, NH, T, T]
@group(0) @binding(4) var<storage, read_write> dqkv: array<f32>; // [K, B*T, 3C]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.y * GX + wid.x) * WG + lid;
  if (idx >= B * NH * T) { return; }
  let z = wid.z;
  let t2 = idx % T;
  let h = (idx / T) % NH;
  let b = idx / (T * NH);
  let seq = z * B * T * 3u * C + b * T * 3u * C + h * HS; // q of (b, t=0, h)
  let dySeq = z * B * T * C + b * T * C + h * HS;
  let head = z * B * NH * T * T + (b * NH + h) * T * T; // att[b, h, 0, 0]
  var dk: array<f32, HS>;
  var dv: array<f32, HS>;
  for (var t = t2 & ~7u; t < T; t++) {
    let pre = dpre[head + t * T + t2];
    let p = att[head + t * T + t2];
    let q = seq + t * 3u * C;
    let g = dySeq + t * C;
    for (var i = 0u; i < HS; i++) {
      dk[i] = fma(pre, qkv[q + i], dk[i]);
      dv[i] = fma(p, dy[g + i], dv[i]);
    }
  }
  let out = seq + t2 * 3u * C;
  for (var i = 0u; i < HS; i++) {
    dqkv[out + C + i] = dk[i] * SCALE;
    dqkv[out + 2u * C + i] = dv[i];
  }
}
