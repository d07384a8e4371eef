// Causal attention backward, part 2 (one thread per key row (b, h, t')):
//   dk_t' = SCALE * Σ_{t >= t'} dpre[t, t'] q_t
//   dv_t' = Σ_{t >= t'} att[t, t'] dy_t
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
  let qkvBase = z * B * T * 3u * C;
  let head = z * B * NH * T * T + (b * NH + h) * T * T; // att[b, h, 0, 0]
  let row = qkvBase + (b * T + t2) * 3u * C + h * HS;
  for (var i = 0u; i < HS; i++) {
    var dk = 0.0;
    var dv = 0.0;
    for (var t = t2; t < T; t++) {
      dk += dpre[head + t * T + t2] * qkv[qkvBase + (b * T + t) * 3u * C + h * HS + i];
      dv += att[head + t * T + t2] * dy[z * B * T * C + (b * T + t) * C + h * HS + i];
    }
    dqkv[row + C + i] = dk * SCALE;
    dqkv[row + 2u * C + i] = dv;
  }
}
