// LayerNorm weight and bias gradients: column sums over all rows,
//   dw[c] = Σ_rows dout * n,  db[c] = Σ_rows dout,  n = (x - mean) * rstd.
// A reduction over rows, without atomics: each workgroup owns CB vector
// columns (W floats each, vec4 when C % 4 == 0), its WG lanes each sum every
// WG-th row, then a sum of the lanes' partials in workgroup memory.
// (One thread per channel looping over all rows left llvmpipe's threads
// idle.) A lane takes CB columns so that mean and rstd, a storage load each
// (the costly thing on llvmpipe), are read once per row for all of them.
// On a GPU those few workgroups are too few (2 for C = 32), so the rows are
// split into ROW_SPLITS slices: slice s writes its partial sums to a scratch
// (dw and db then both bind it; DB_SHIFT keeps them apart) and split_sum.ts
// adds the slices. Without a split, OUT_STRIDE = P_STRIDE / W and
// SLICE_STRIDE = DB_SHIFT = 0: dw and db are written directly.
// Constants: BT, C, CB, W, VF, GX, WG, ROW_SPLITS, ROWS (per slice),
// OUT_STRIDE, SLICE_STRIDE, DB_SHIFT (in VF units).
@group(0) @binding(0) var<storage, read> dout: array<VF>; // [K, BT, C / W]
@group(0) @binding(1) var<storage, read> x: array<VF>; // [K, BT, C / W]
@group(0) @binding(2) var<storage, read> mean: array<f32>; // [K, BT]
@group(0) @binding(3) var<storage, read> rstd: array<f32>; // [K, BT]
@group(0) @binding(4) var<storage, read_write> dw: array<VF>; // [K, OUT_STRIDE]
@group(0) @binding(5) var<storage, read_write> db: array<VF>; // [K, OUT_STRIDE]

const CW = C / W;
const COL_GROUPS = (CW + CB - 1u) / CB;

var<workgroup> partW: array<VF, CB * WG>; // [CB, WG]
var<workgroup> partB: array<VF, CB * WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let group = wid.y * GX + wid.x;
  let split = group / COL_GROUPS;
  if (split >= ROW_SPLITS) { return; } // uniform per workgroup, so the barriers stay legal
  let col0 = (group % COL_GROUPS) * CB;
  let rowEnd = min(BT, (split + 1u) * ROWS);
  let z = wid.z;
  var sw: array<VF, CB>;
  var sb: array<VF, CB>;
  for (var k = 0u; k < CB; k++) {
    sw[k] = VF(0.0);
    sb[k] = VF(0.0);
  }
  for (var row = split * ROWS + lid; row < rowEnd; row += WG) {
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
    let out = z * OUT_STRIDE + split * SLICE_STRIDE + col0 + lid;
    dw[out] = tw;
    db[out + DB_SHIFT] = tb;
  }
}
