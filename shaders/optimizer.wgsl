// Parameter update over the whole fleet in one dispatch. The host cuts every
// (tensor, model) slice of the flat parameter buffer into chunks of at most
// CHUNK elements; workgroup w updates chunk descs[w], so each model has its
// own learning rate (a finished model gets lr 0) and only matrices and
// embeddings get weight decay (GPT-2 convention: not biases or LayerNorm).
//   ADAMW (PyTorch's AdamW): p *= 1 - lr*wd; m = b1 m + (1-b1) g;
//     v = b2 v + (1-b2) g²; p -= lr * (m / bc1) / (sqrt(v / bc2) + eps)
//   SGD (no momentum): p -= lr * (g + wd * p)
// BF16: p is rounded to the nearest bfloat16 value, ties to even.
// Constants: ADAMW, BF16, CHUNK, GX, WG.
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

@group(0) @binding(0) var<storage, read_write> params: array<f32>;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> m1: array<f32>;
@group(0) @binding(3) var<storage, read_write> m2: array<f32>;
@group(0) @binding(4) var<storage, read> descs: array<Chunk>;
@group(0) @binding(5) var<storage, read> hyper: array<Hyper>; // [K]

fn roundBf16(x: f32) -> f32 {
  let b = bitcast<u32>(x);
  if ((b & 0x7f800000u) == 0x7f800000u) { return x; }
  return bitcast<f32>((b + 0x7fffu + ((b >> 16u) & 1u)) & 0xffff0000u);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let d = descs[wid.y * GX + wid.x];
  let hp = hyper[d.model];
  let wd = select(0.0, hp.weightDecay, d.decay != 0u);
  for (var i = lid; i < d.count; i += WG) {
    let e = d.start + i;
    let g = grads[e];
    var p = params[e];
    if (ADAMW) {
      p = p * (1.0 - hp.lr * wd);
      let a = hp.beta1 * m1[e] + (1.0 - hp.beta1) * g;
      let b = hp.beta2 * m2[e] + (1.0 - hp.beta2) * g * g;
      m1[e] = a;
      m2[e] = b;
      p = p - hp.lr * (a / hp.bc1) / (sqrt(b / hp.bc2) + hp.eps);
    } else {
      p = p - hp.lr * (g + wd * p);
    }
    if (BF16) { p = roundBf16(p); }
    params[e] = p;
  }
}
