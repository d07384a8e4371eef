// The model's weights of a "bf16" (mixed precision) fleet: after every
// optimizer step, weights = the f32 master weights rounded to the nearest
// bfloat16 value, ties to even (lib/bf16.ts rounds the same way on the host).
// The forward and backward kernels read only `weights`. One lane per vec4 of
// the whole parameter buffer (every model, padding included: its zeros stay
// zeros).
// Constants: N4 (vec4s in each buffer), GX, WG. roundBf16: shaders/bf16_round.wgsl.
@group(0) @binding(0) var<storage, read> master: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> weights: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * GX + wid.x) * WG + lid;
  if (i < N4) {
    weights[i] = roundBf16(master[i]);
  }
}
