// Bias gradient of a linear layer: db[n] = Σ_m dout[m, n].
// A reduction over rows, split across the WG lanes of a workgroup: one
// workgroup per vector column (W floats; vec4 when N % 4 == 0, as a vec4
// load costs ~2.7x a scalar one on llvmpipe), each lane summing every WG-th
// row, then a sum of the lanes' partials in workgroup memory. One
// thread per column looping over all rows left most CPU lanes idle.
// Constants: M, N, P_STRIDE, W, VF, GX, WG.
@group(0) @binding(0) var<storage, read> dout: array<VF>; // [K, M, N / W]
@group(0) @binding(1) var<storage, read_write> db: array<VF>; // [K, P_STRIDE / W]

const NW = N / W;

var<workgroup> partial: array<VF, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let col = wid.y * GX + wid.x;
  if (col >= NW) { return; } // uniform per workgroup, so the barriers stay legal
  let z = wid.z;
  var s = VF(0.0);
  for (var m = lid; m < M; m += WG) { s += dout[(z * M + m) * NW + col]; }
  partial[lid] = s;
  workgroupBarrier();
  // Two steps, two barriers (each one switches all of llvmpipe's 8-lane
  // vectors of the workgroup): 8 lanes sum WG / 8 partials each, then one
  // lane sums those 8.
  if (lid < 8u) {
    var t = partial[lid];
    for (var k = 1u; k < WG / 8u; k++) { t += partial[lid + 8u * k]; }
    partial[lid] = t;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var t = partial[0];
    for (var k = 1u; k < 8u; k++) { t += partial[k]; }
    db[z * (P_STRIDE / W) + col] = t;
  }
}
