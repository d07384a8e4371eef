// Causal attention backward, part 1 (one thread per query row (b, h, t)):
//   datt[t'] = dy_t · v_t'
//   dpre[t'] = att[t'] * (datt[t'] - Σ_j att[j] datt[j])   (softmax backward)
//   dq_t     = SCALE * Σ_t' dpre[t'] k_t'
// dpre is stored for part 2. Constants: B, T, C, NH, HS, SCALE, GX, WG.
@group(0) @binding(0) var<storage, read> qkv: array<f32>; // [K, B*T, 3C]
@group(0) @binding(1) var<storage, read> att: array<f32>; // [K, B, NH, T, T]
@group(0) @binding(2) var<storage, read> dy: array<f32>; // [K, B*T, C]
@group(0) @binding(3) var<storage, read_write> dpre: array<f32>; // [K, B, NH, T, T]
@group(0) @binding(4) var<storage, read_write> dqkv: array<f32>; // [K, B*T, 3C]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.y * GX + wid.x) * WG + lid;
  if (idx >= B * NH * T) { return; }
  let z = wid.z;
  let t = idx % T;
  let h = (idx / T) % NH;
  let b = idx / (T * NH);
  let seq = z * B * T * 3u * C + b * T * 3u * C + h * HS; // q of (b, t=0, h)
  let a = z * B * NH * T * T + idx * T;
  let dyRow = z * B * T * C + (b * T + t) * C + h * HS;
  var g: array<f32, HS>;
  for (var i = 0u; i < HS; i++) { g[i] = dy[dyRow + i]; }
  var dot = 0.0;
  for (var t2 = 0u; t2 <= t; t2++) {
    let v = seq + t2 * 3u * C + 2u * C;
    var s = 0.0;
    for (var i = 0u; i < HS; i++) { s = fma(g[i], qkv[v + i], s); }
    dpre[a + t2] = s;
    dot = fma(att[a + t2], s, dot);
  }
  var dq: array<f32, HS>;
  for (var t2 = 0u; t2 <= t; t2++) {
    let d = att[a + t2] * (dpre[a + t2] - dot);
    dpre[a + t2] = d;
    let k = seq + t2 * 3u * C + C;
    for (var i = 0u; i < HS; i++) { dq[i] = fma(d, qkv[k + i], dq[i]); }
  }
  for (var t2 = t + 1u; t2 < T; t2++) { dpre[a + t2] = 0.0; }
  let out = seq + t * 3u * C;
  for (var i = 0u; i < HS; i++) { dqkv[out + i] = dq[i] * SCALE; }
}
