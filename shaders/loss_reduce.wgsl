// Mean token loss of each model: mean[z] = Σ_bt losses[z, bt] * INV_COUNT.
// One thread per model (a fixed-order sum, so results are reproducible).
// Constants: BT, INV_COUNT.
@group(0) @binding(0) var<storage, read> losses: array<f32>; // [K, BT]
@group(0) @binding(1) var<storage, read_write> mean: array<f32>; // [K]

@compute @workgroup_size(1)
fn main(@builtin(workgroup_id) wid: vec3<u32>) {
  let z = wid.z;
  var s = 0.0;
  for (var i = 0u; i < BT; i++) { s += losses[z * BT + i]; }
  mean[z] = s * INV_COUNT;
}
