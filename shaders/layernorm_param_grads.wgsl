// LayerNorm weight and bias gradients: column sums over all rows,
//   dw[c] = Σ_rows dout * n,  db[c] = Σ_rows dout,  n = (x - mean) * rstd.
// A reduction over rows, without atomics: each workgroup owns CB vector
// columns (W floats each, vec4 when C % 4 == 0), its WG lanes each sum every
// WG-th row, then a sum of the lanes' partials in workgroup memory.
// (One thread per channel looping over all rows left llvmpipe's threads
// idle.) A lane takes CB columns so that mean and rstd, a storage load each
// (the costly thing on llvmpipe), are read once per row for all of them.
// Constants: BT, C, P_STRIDE, CB, W, VF, GX, WG.
@group(0) @binding(0) var<storage, read> dout: array<VF>; // [K, BT, C / W]
@group(0) @binding(1) var<storage, read> x: array<VF>; // [K, BT, C / W]
@group(0) @binding(2) var<storage, read> mean: array<f32>; // [K, BT]
@group(0) @binding(3) var<storage, read> rstd: array<f32>; // [K, BT]
@group(0) @binding(4) var<storage, read_write> dw: array<VF>; // [K, P_STRIDE / W]
@group(0) @binding(5) var<storage, read_write> db: array<VF>; // [K, P_STRIDE / W]

const CW = C / W;

var<workgroup> partW: array<VF, CB * WG>; // [CB, WG]
var<workgroup> partB: array<VF, CB * WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let col0 = (wid.y * GX + wid.x) * CB;
  if (col0 >= CW) { return; } // uniform per workgroup, so the barriers stay legal
  let z = wid.z;
  var sw: array<VF, CB>;
  var sb: array<VF, CB>;
  for (var k = 0u; k < CB; k++) {
    sw[k] = VF(0.0);
    sb[k] = VF(0.0);
  }
  for (var row = lid; row < BT; row += WG) {
    let mu = mean[z * BT + row];
    let rs = rstd[z * BT + row];
    let i = (z * BT + row) * CW + col0;
    for (var k = 0u; k < CB; k++) {
      if (col0 + k < CW) {
        let d = dout[i + k];
        sw[k] += d * ((x[i + k] - mu) * rs);
        sb[k] += d;
      }
    }
  }
  for (var k = 0u; k < CB; k++) {
    partW[k * WG + lid] = sw[k];
    partB[k * WG + lid] = sb[k];
  }
  workgroupBarrier();
  // Two steps, two barriers (each one switches all of llvmpipe's 8-lane
  // vectors of the workgroup): 8 lanes sum WG / 8 partials each per column,
  // then one lane per column sums those 8.
  if (lid < 8u) {
    for (var k = 0u; k < CB; k++) {
      var tw = partW[k * WG + lid];
      var tb = partB[k * WG + lid];
      for (var j = 1u; j < WG / 8u; j++) {
        tw += partW[k * WG + lid + 8u * j];
        tb += partB[k * WG + lid + 8u * j];
      }
      partW[k * WG + lid] = tw;
      partB[k * WG + lid] = tb;
    }
  }
  workgroupBarrier();
  if (lid < CB && col0 + lid < CW) {
    var tw = partW[lid * WG];
    var tb = partB[lid * WG];
    for (var j = 1u; j < 8u; j++) {
      tw += partW[lid * WG + j];
      tb += partB[lid * WG + j];
    }
    dw[z * (P_STRIDE / W) + col0 + lid] = tw;
    db[z * (P_STRIDE / W) + col0 + lid] = tb;
  }
}
