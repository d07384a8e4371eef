// Softmax cross-entropy over the vocabulary, fused with its backward.
// Row bt (position t = bt % T) predicts token bt + 1; the last position of
// each sequence has no target: its loss and gradient are 0.
//   loss[bt] = logsumexp(logits[bt]) - logits[bt, target]     (nats)
// TRAIN: logits are overwritten in place with d(mean loss)/d(logits)
//   = (softmax - onehot(target)) * INV_COUNT, INV_COUNT = 1 / (B (T - 1)).
// One exp per logit: the exponentials are kept in place between passes.
// One thread per row. Constants: BT, T, V, TRAIN, INV_COUNT, GX, WG.
@group(0) @binding(0) var<storage, read> tokens: array<u32>; // [K, BT]
@group(0) @binding(1) var<storage, read_write> logits: array<f32>; // [K, BT, V]
@group(0) @binding(2) var<storage, read_write> losses: array<f32>; // [K, BT]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let bt = (wid.y * GX + wid.x) * WG + lid;
  if (bt >= BT) { return; }
  let z = wid.z;
  let base = z * BT * V + bt * V;
  if (bt % T == T - 1u) {
    losses[z * BT + bt] = 0.0;
    if (TRAIN) {
      for (var v = 0u; v < V; v++) { logits[base + v] = 0.0; }
    }
    return;
  }
  let tgt = tokens[z * BT + bt + 1u];
  let targetLogit = logits[base + tgt];
  var maxv = -3.4e38;
  for (var v = 0u; v < V; v++) { maxv = max(maxv, logits[base + v]); }
  var sum = 0.0;
  for (var v = 0u; v < V; v++) {
    let e = exp(logits[base + v] - maxv);
    if (TRAIN) { logits[base + v] = e; }
    sum += e;
  }
  losses[z * BT + bt] = log(sum) - (targetLogit - maxv);
  if (TRAIN) {
    let scale = INV_COUNT / sum;
    for (var v = 0u; v < V; v++) { logits[base + v] = logits[base + v] * scale; }
    logits[base + tgt] = logits[base + tgt] - INV_COUNT;
  }
}
