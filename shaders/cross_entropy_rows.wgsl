// Softmax cross-entropy over the vocabulary, fused with its backward, for
// GPUs: the same function as cross_entropy.wgsl (see there), but one
// workgroup per row instead of one thread per row. A thread per row makes
// the lanes of a warp read 32 rows V floats apart, so every load touches 32
// cache lines: 5.1 ms for the 1 GiB of logits at the paper's batch on an
// H100 (docs/results/gpu-h100). Here the WG lanes stride along one row
// together (neighbouring lanes, neighbouring addresses), keep a running max
// and rescaled sum each, combine them in workgroup memory in a fixed order
// (reproducible), and write the gradient the same way.
// Constants: BT, T, TARGETS, V, TRAIN, INV_COUNT, W, VF, VU, LANES, GX, WG.
@group(0) @binding(0) var<storage, read> targets: array<u32>; // [K, BT], the token row bt predicts
@group(0) @binding(1) var<storage, read_write> logits: array<VF>; // [K, BT, V / W]
@group(0) @binding(2) var<storage, read_write> losses: array<f32>; // [K, BT]

const VW = V / W;

var<workgroup> maxes: array<f32, WG>;
var<workgroup> sums: array<f32, WG>;

fn hmax(v: VF) -> f32 {
  let u = vec4<f32>(v);
  return max(max(u.x, u.y), max(u.z, u.w));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let bt = wid.y * GX + wid.x;
  if (bt >= BT) { return; } // uniform per workgroup, so the barriers stay legal
  let z = wid.z;
  let base = (z * BT + bt) * VW;
  if (bt % T >= TARGETS) {
    if (lid == 0u) { losses[z * BT + bt] = 0.0; }
    if (TRAIN) {
      for (var v = lid; v < VW; v += WG) { logits[base + v] = VF(0.0); }
    }
    return;
  }
  // Pass 1: this lane's max m and Σ exp(logit - m) over its columns.
  var m = -3.4e38;
  var s = 0.0;
  for (var v = lid; v < VW; v += WG) {
    let l = logits[base + v];
    let mNew = max(m, hmax(l));
    let e = vec4<f32>(exp(l - mNew));
    s = s * exp(m - mNew) + select(e.x + e.y + e.z + e.w, e.x, W == 1u);
    m = mNew;
  }
  maxes[lid] = m;
  sums[lid] = s;
  workgroupBarrier();
  // Tree combination of the lanes' (max, sum) pairs, always in the same order.
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (lid < half) {
      let m1 = maxes[lid];
      let m2 = maxes[lid + half];
      let mNew = max(m1, m2);
      sums[lid] = sums[lid] * exp(m1 - mNew) + sums[lid + half] * exp(m2 - mNew);
      maxes[lid] = mNew;
    }
    workgroupBarrier();
  }
  let rowMax = maxes[0];
  let rowSum = sums[0];
  let tgt = targets[z * BT + bt];
  if (lid == 0u) {
    let targetLogit = vec4<f32>(logits[base + tgt / W])[tgt % W];
    losses[z * BT + bt] = log(rowSum) - (targetLogit - rowMax);
  }
  if (TRAIN) {
    // Every lane has read the target logit's value above (lane 0, before this
    // barrier) before any lane overwrites it.
    workgroupBarrier();
    let scale = INV_COUNT / rowSum;
    for (var v = lid; v < VW; v += WG) {
      let onehot = select(VF(0.0), VF(INV_COUNT), VU(v * W) + LANES == VU(tgt));
      logits[base + v] = exp(logits[base + v] - rowMax) * scale - onehot;
    }
  }
}
