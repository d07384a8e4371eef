// Causal multi-head self-attention, forward.
// qkv rows hold [q | k | v], each C wide; head h uses columns h*HS..(h+1)*HS.
//   att[b,h,t,t'] = softmax_{t' <= t}(q_t · k_t' * SCALE), 0 for t' > t
//   y[b,t,h*HS + i] = Σ_t' att[b,h,t,t'] v_t'[i]
// One thread per (b, h, t); q_t and the output row stay in registers.
// Constants: B, T, C, NH, HS, SCALE, GX, WG.
@group(0) @binding(0) var<storage, read> qkv: array<f32>; // [K, B*T, 3C]
@group(0) @binding(1) var<storage, read_write> att: array<f32>; // [K, B, NH, T, T]
@group(0) @binding(2) var<storage, read_write> y: array<f32>; // [K, B*T, C]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.y * GX + wid.x) * WG + lid;
  if (idx >= B * NH * T) { return; }
  let z = wid.z;
  let t = idx % T;
  let h = (idx / T) % NH;
  let b = idx / (T * NH);
  let seq = z * B * T * 3u * C + b * T * 3u * C + h * HS; // q of (b, t=0, h)
  let a = z * B * NH * T * T + idx * T; // row (b, h, t) of att
  var q: array<f32, HS>;
  for (var i = 0u; i < HS; i++) { q[i] = qkv[seq + t * 3u * C + i]; }
  var maxv = -3.4e38;
  for (var t2 = 0u; t2 <= t; t2++) {
    let k = seq + t2 * 3u * C + C;
    var s = 0.0;
    for (var i = 0u; i < HS; i++) { s = fma(q[i], qkv[k + i], s); }
    s *= SCALE;
    att[a + t2] = s;
    maxv = max(maxv, s);
  }
  var sum = 0.0;
  for (var t2 = 0u; t2 <= t; t2++) {
    let e = exp(att[a + t2] - maxv);
    att[a + t2] = e;
    sum += e;
  }
  let inv = 1.0 / sum;
  var acc: array<f32, HS>;
  for (var t2 = 0u; t2 <= t; t2++) {
    let p = att[a + t2] * inv;
    att[a + t2] = p;
    let v = seq + t2 * 3u * C + 2u * C;
    for (var i = 0u; i < HS; i++) { acc[i] = fma(p, qkv[v + i], acc[i]); }
  }
  for (var t2 = t + 1u; t2 < T; t2++) { att[a + t2] = 0.0; }
  let yRow = z * B * T * C + (b * T + t) * C + h * HS;
  for (var i = 0u; i < HS; i++) { y[yRow + i] = acc[i]; }
}
