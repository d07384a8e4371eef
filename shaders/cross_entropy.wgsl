// Softmax cross-entropy over the vocabulary, fused with its backward.
// Row bt (position t = bt % T of the T a fleet computes) predicts token
// targets[bt]; positions t >= TARGETS (an evaluation fleet's last, which no
// token follows) have no target: their loss and gradient are 0.
//   loss[bt] = logsumexp(logits[bt]) - logits[bt, target]     (nats)
// TRAIN: logits are overwritten in place with d(mean loss)/d(logits)
//   = (softmax - onehot(target)) * INV_COUNT, INV_COUNT = 1 / (B TARGETS).
// One thread per row. On llvmpipe a storage access (a loop over the 8 lanes)
// costs far more than an exp, so loads are W-wide (vec4 when V % 4 == 0)
// and each logit is read at most twice:
// - CACHE (V / W <= 16, short enough for llvmpipe to keep in registers): the
//   row is read once into a private array;
// - else pass 1 keeps a running max and the sum of exponentials rescaled to
//   it (online softmax, rescaled once per 4 loads), pass 2 rereads the row.
// Pass 2 writes the gradient, target term included.
// Constants: BT, T, TARGETS, V, TRAIN, INV_COUNT, CACHE, W, VF, VU, LANES, GX, WG.
@group(0) @binding(0) var<storage, read> targets: array<u32>; // [K, BT], the token row bt predicts
@group(0) @binding(1) var<storage, read_write> logits: array<VF>; // [K, BT, V / W]
@group(0) @binding(2) var<storage, read_write> losses: array<f32>; // [K, BT]

const VW = V / W;

// Largest and summed components of a VF (vec4<f32>(v) splats a scalar).
fn hmax(v: VF) -> f32 {
  let u = vec4<f32>(v);
  return max(max(u.x, u.y), max(u.z, u.w));
}
fn hsum(v: VF) -> f32 {
  let u = vec4<f32>(v);
  return select(u.x + u.y + u.z + u.w, u.x, W == 1u);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let bt = (wid.y * GX + wid.x) * WG + lid;
  if (bt >= BT) { return; }
  let z = wid.z;
  let base = (z * BT + bt) * VW;
  if (bt % T >= TARGETS) {
    losses[z * BT + bt] = 0.0;
    if (TRAIN) {
      for (var v = 0u; v < VW; v++) { logits[base + v] = VF(0.0); }
    }
    return;
  }
  let tgt = targets[z * BT + bt];
  let targetLogit = vec4<f32>(logits[base + tgt / W])[tgt % W];
  var row: array<VF, select(1u, VW, CACHE)>;
  var m = -3.4e38;
  var s = VF(0.0); // Σ exp(logit - m), per component
  if (CACHE) {
    var mv = VF(-3.4e38);
    for (var v = 0u; v < VW; v++) {
      row[v] = logits[base + v];
      mv = max(mv, row[v]);
    }
    m = hmax(mv);
    for (var v = 0u; v < VW; v++) { s += exp(row[v] - m); }
  } else {
    var v = 0u;
    for (; v + 4u <= VW; v += 4u) {
      let l0 = logits[base + v];
      let l1 = logits[base + v + 1u];
      let l2 = logits[base + v + 2u];
      let l3 = logits[base + v + 3u];
      let mNew = max(m, hmax(max(max(l0, l1), max(l2, l3))));
      s = s * exp(m - mNew) + ((exp(l0 - mNew) + exp(l1 - mNew)) + (exp(l2 - mNew) + exp(l3 - mNew)));
      m = mNew;
    }
    for (; v < VW; v++) {
      let l = logits[base + v];
      let mNew = max(m, hmax(l));
      s = s * exp(m - mNew) + exp(l - mNew);
      m = mNew;
    }
  }
  let sum = hsum(s);
  losses[z * BT + bt] = log(sum) - (targetLogit - m);
  if (TRAIN) {
    let scale = INV_COUNT / sum;
    for (var v = 0u; v < VW; v++) {
      var l: VF;
      if (CACHE) { l = row[v]; } else { l = logits[base + v]; }
      let onehot = select(VF(0.0), VF(INV_COUNT), VU(v * W) + LANES == VU(tgt));
      logits[base + v] = exp(l - m) * scale - onehot;
    }
  }
}
