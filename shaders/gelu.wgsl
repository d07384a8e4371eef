// GELU, tanh approximation (GPT-2's):
//   gelu(x) = 0.5 x (1 + tanh(s (x + 0.044715 x^3))), s = sqrt(2/pi)
// FORWARD: out = gelu(x). Backward: out = dout * gelu'(x).
// One thread per element. Constants: TOTAL (per model), FORWARD, GX, WG.
@group(0) @binding(0) var<storage, read> x: array<f32>; // [K, TOTAL]
@group(0) @binding(1) var<storage, read> dout: array<f32>; // [K, TOTAL] (unused forward)
@group(0) @binding(2) var<storage, read_write> out: array<f32>; // [K, TOTAL]

const S = 0.7978845608028654;

// tanh through exp overflows for large |u|; tanh(±10) is ±1 in f32 anyway.
fn safeTanh(u: f32) -> f32 {
  return tanh(clamp(u, -10.0, 10.0));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * GX + wid.x) * WG + lid;
  if (i >= TOTAL) { return; }
  let j = wid.z * TOTAL + i;
  let v = x[j];
  let th = safeTanh(S * (v + 0.044715 * v * v * v));
  if (FORWARD) {
    out[j] = 0.5 * v * (1.0 + th);
  } else {
    let dth = S * (1.0 + 3.0 * 0.044715 * v * v);
    out[j] = dout[j] * (0.5 * (1.0 + th) + 0.5 * v * (1.0 - th * th) * dth);
  }
}
