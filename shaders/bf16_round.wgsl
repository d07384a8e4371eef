// roundBf16: the nearest bfloat16 value of each lane, ties to even (lib/bf16.ts
// rounds the same way on the host). A snippet, not a kernel: Kernels.source
// prepends it to the shaders that name it (optimizer, round_bf16).
fn roundBf16(x: vec4<f32>) -> vec4<f32> {
  let b = bitcast<vec4<u32>>(x);
  let lsb = (b >> vec4<u32>(16u)) & vec4<u32>(1u);
  let rounded = bitcast<vec4<f32>>((b + vec4<u32>(0x7fffu) + lsb) & vec4<u32>(0xffff0000u));
  // Infinities and NaNs stay as they are.
  let special = (b & vec4<u32>(0x7f800000u)) == vec4<u32>(0x7f800000u);
  return select(rounded, x, special);
}
