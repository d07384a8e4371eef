// Embedding gradients from the residual-stream gradient dx, without atomics.
// wte: the host groups positions by token (a CSR list per model: order[] holds
// positions sorted by token id, offsets[v]..offsets[v+1] those of token v), so
// each thread sums the rows of one (token, channel vector) and adds them to
// dwte, which the tied lm-head matmul has already written.
// wpe: each thread sums one (position, channel vector) over the batch.
// Channels move W at a time (vec4 when C % 4 == 0): llvmpipe charges per
// access, not per float. One thread per (row, c / W) where rows = V + T.
// Constants: BT, T, C, V, WTE_STRIDE, WPE_STRIDE, W, VF, GX, WG.
@group(0) @binding(0) var<storage, read> dx: array<VF>; // [K, BT, C / W]
@group(0) @binding(1) var<storage, read> order: array<u32>; // [K, BT]
@group(0) @binding(2) var<storage, read> offsets: array<u32>; // [K, V + 1]
@group(0) @binding(3) var<storage, read_write> dwte: array<VF>; // [K, WTE_STRIDE / W]
@group(0) @binding(4) var<storage, read_write> dwpe: array<VF>; // [K, WPE_STRIDE / W]

const CW = C / W;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * GX + wid.x) * WG + lid;
  if (i >= (V + T) * CW) { return; }
  let z = wid.z;
  let row = i / CW;
  let c = i % CW;
  let dxBase = z * BT * CW;
  if (row < V) {
    let start = offsets[z * (V + 1u) + row];
    let end = offsets[z * (V + 1u) + row + 1u];
    var acc = VF(0.0);
    for (var j = start; j < end; j++) {
      acc += dx[dxBase + order[z * BT + j] * CW + c];
    }
    let w = z * (WTE_STRIDE / W) + row * CW + c;
    dwte[w] = dwte[w] + acc;
  } else {
    let t = row - V;
    var acc = VF(0.0);
    for (var bt = t; bt < BT; bt += T) {
      acc += dx[dxBase + bt * CW + c];
    }
    dwpe[z * (WPE_STRIDE / W) + t * CW + c] = acc;
  }
}
