// Embedding gradients from the residual-stream gradient dx, without atomics.
// wte: the host groups positions by token (a CSR list per model: order[] holds
// positions sorted by token id, offsets[v]..offsets[v+1] those of token v), so
// each thread sums the rows of one (token, channel) and adds them to dwte,
// which the tied lm-head matmul has already written.
// wpe: each thread sums one (position, channel) over the batch.
// One thread per (row, c) where rows = V + T. Constants: BT, T, C, V,
// WTE_STRIDE, WPE_STRIDE, GX, WG.
@group(0) @binding(0) var<storage, read> dx: array<f32>; // [K, BT, C]
@group(0) @binding(1) var<storage, read> order: array<u32>; // [K, BT]
@group(0) @binding(2) var<storage, read> offsets: array<u32>; // [K, V + 1]
@group(0) @binding(3) var<storage, read_write> dwte: array<f32>; // [K, WTE_STRIDE]
@group(0) @binding(4) var<storage, read_write> dwpe: array<f32>; // [K, WPE_STRIDE]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * GX + wid.x) * WG + lid;
  if (i >= (V + T) * C) { return; }
  let z = wid.z;
  let row = i / C;
  let c = i % C;
  let dxBase = z * BT * C;
  if (row < V) {
    let start = offsets[z * (V + 1u) + row];
    let end = offsets[z * (V + 1u) + row + 1u];
    var acc = 0.0;
    for (var j = start; j < end; j++) {
      acc += dx[dxBase + order[z * BT + j] * C + c];
    }
    let w = z * WTE_STRIDE + row * C + c;
    dwte[w] = dwte[w] + acc;
  } else {
    let t = row - V;
    var acc = 0.0;
    for (var bt = t; bt < BT; bt += T) {
      acc += dx[dxBase + bt * C + c];
    }
    dwpe[z * WPE_STRIDE + t * C + c] = acc;
  }
}
