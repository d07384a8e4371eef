// Parameter update over the whole fleet in one dispatch. The host cuts every
// (tensor, model) slice of the flat parameter buffer into chunks of at most
// CHUNK elements; workgroup w updates chunk descs[w], so each model has its
// own learning rate (a finished model gets lr 0) and only matrices and
// embeddings get weight decay (GPT-2 convention: not biases or LayerNorm).
//   ADAMW (PyTorch's AdamW): p *= 1 - lr*wd; m = b1 m + (1-b1) g;
//     v = b2 v + (1-b2) g²; p -= lr * (m / bc1) / (sqrt(v / bc2) + eps)
//   SGD (no momentum): p -= lr * (g + wd * p)
// BF16: p is rounded to the nearest bfloat16 value, ties to even.
// Each lane updates four floats at a time (on llvmpipe a vec4 load costs
// about what a float load does, README "Why these numbers"). Every slice
// starts at a multiple of 4 floats (gpu/memory_plan.ts aligns each tensor's
// block and pads its stride to 4) and so does every chunk (CHUNK is a
// multiple of 4); a slice's last vec4 may reach into its padding (up to 3
// floats), which keeps its values.
// Constants: ADAMW, BF16, CHUNK, GX, WG. roundBf16: shaders/bf16_round.wgsl.
struct Chunk {
  start: u32,
  count: u32,
  model: u32,
  decay: u32,
}

struct Hyper {
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  weightDecay: f32,
  bc1: f32, // 1 - beta1^step
  bc2: f32, // 1 - beta2^step
  pad: f32,
}

@group(0) @binding(0) var<storage, read_write> params: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> m1: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> m2: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> descs: array<Chunk>;
@group(0) @binding(5) var<storage, read> hyper: array<Hyper>; // [K]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let d = descs[wid.y * GX + wid.x];
  let hp = hyper[d.model];
  let wd = select(0.0, hp.weightDecay, d.decay != 0u);
  let first = d.start / 4u;
  for (var i = lid; i * 4u < d.count; i += WG) {
    let e = first + i;
    // The components inside the slice; the rest is padding.
    let live = vec4<u32>(i * 4u) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(d.count);
    let g = grads[e];
    let p0 = params[e];
    var p = p0;
    if (ADAMW) {
      p = p * (1.0 - hp.lr * wd);
      let a0 = m1[e];
      let b0 = m2[e];
      let a = hp.beta1 * a0 + (1.0 - hp.beta1) * g;
      let b = hp.beta2 * b0 + (1.0 - hp.beta2) * g * g;
      m1[e] = select(a0, a, live);
      m2[e] = select(b0, b, live);
      p = p - hp.lr * (a / hp.bc1) / (sqrt(b / hp.bc2) + hp.eps);
    } else {
      p = p - hp.lr * (g + wd * p);
    }
    if (BF16) { p = roundBf16(p); }
    params[e] = select(p0, p, live);
  }
}
