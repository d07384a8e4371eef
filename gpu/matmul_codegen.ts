// Generates a WGSL matmul kernel for one shape:
//   C[M,N] = op(A)[M,K] · op(B)[K,N] (+ bias[N]) (+ addend[M,N])
// op(A) = A stored [M,K], or Aᵀ with A stored [K,M] (transA);
// op(B) = B stored [K,N], or Bᵀ with B stored [N,K] (transB).
// Every tensor is a binding holding a fleet of models; model z (workgroup
// id z) starts at z * stride. Each thread owns an RM x RN block of C held in
// scalar registers, loads operands with vec4 where the contiguous dimension
// allows it, and runs the K loop fully inside the thread: on Mesa llvmpipe
// this beats shared-memory tiling by far (DESIGN.md, performance facts), and
// the same code is correct on any adapter.

export interface MatmulShape {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  bias: boolean;
  addend: boolean;
  /** Per-model strides in elements (defaults: the dense sizes). */
  strideA?: number;
  strideB?: number;
  strideBias?: number;
  strideC?: number;
}

export interface MatmulPlan {
  code: string;
  workgroupSize: number;
  /** Workgroups in x and y for one model; z = fleet size. */
  grid: [number, number];
  rm: number;
  rn: number;
  vec: number;
}

export interface MatmulTuning {
  /** Largest register block edge (rows, cols) to try. */
  maxRm: number;
  maxRn: number;
  workgroupSize: number;
  maxWorkgroupsPerDim: number;
}

export const SOFTWARE_TUNING: MatmulTuning = {
  maxRm: 8,
  maxRn: 16,
  workgroupSize: 8,
  maxWorkgroupsPerDim: 65535,
};
export const HARDWARE_TUNING: MatmulTuning = {
  maxRm: 4,
  maxRn: 4,
  workgroupSize: 64,
  maxWorkgroupsPerDim: 65535,
};

function largestDivisor(n: number, max: number, multipleOf = 1): number {
  for (let r = max; r >= 1; r--) {
    if (n % r === 0 && r % multipleOf === 0) return r;
  }
  return 1;
}

export function planMatmul(s: MatmulShape, tuning: MatmulTuning): MatmulPlan {
  const { M, N, K, transA, transB } = s;
  const strideA = s.strideA ?? M * K;
  const strideB = s.strideB ?? K * N;
  const strideBias = s.strideBias ?? N;
  const strideC = s.strideC ?? M * N;
  // vec4 loads run along each operand's contiguous dimension:
  // A: k (normal) or m (transposed); B: n (normal) or k (transposed).
  const aContig = transA ? M : K;
  const bContig = transB ? K : N;
  const vecA = aContig % 4 === 0 && strideA % 4 === 0;
  const vecB = bContig % 4 === 0 && strideB % 4 === 0;
  // The vec4 path steps k by 4, so K must be a multiple of 4 too.
  const vec = vecA && vecB && K % 4 === 0 ? 4 : 1;
  // Register block: rows along m, cols along n. With transA the rows are
  // loaded as vec4, so rm must be a multiple of 4; likewise rn without transB.
  const rm = largestDivisor(M, tuning.maxRm, vec === 4 && transA ? 4 : 1);
  const rn = largestDivisor(N, tuning.maxRn, vec === 4 && !transB ? 4 : 1);
  const blocksN = N / rn;
  const threads = (M / rm) * blocksN;
  const wg = tuning.workgroupSize;
  const groups = Math.ceil(threads / wg);
  const gx = Math.min(groups, tuning.maxWorkgroupsPerDim);
  const gy = Math.ceil(groups / gx);

  const L: string[] = [];
  const A = vec === 4 ? "array<vec4<f32>>" : "array<f32>";
  L.push(`// matmul M=${M} N=${N} K=${K} transA=${transA} transB=${transB} block ${rm}x${rn}`);
  L.push(`@group(0) @binding(0) var<storage, read> A: ${A};`);
  L.push(`@group(0) @binding(1) var<storage, read> B: ${A};`);
  L.push(`@group(0) @binding(2) var<storage, read_write> C: array<f32>;`);
  let nextBinding = 3;
  if (s.bias) L.push(`@group(0) @binding(${nextBinding++}) var<storage, read> bias: array<f32>;`);
  if (s.addend) {
    L.push(`@group(0) @binding(${nextBinding++}) var<storage, read> addend: array<f32>;`);
  }
  L.push(`@compute @workgroup_size(${wg})`);
  L.push(
    `fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {`,
  );
  L.push(`  let t = (wid.y * ${gx}u + wid.x) * ${wg}u + lid;`);
  L.push(`  if (t >= ${threads}u) { return; }`);
  L.push(`  let z = wid.z;`);
  L.push(`  let m0 = (t / ${blocksN}u) * ${rm}u;`);
  L.push(`  let n0 = (t % ${blocksN}u) * ${rn}u;`);
  // Element offsets (in elements, before dividing by vec) of each model.
  L.push(`  let aBase = z * ${strideA}u;`);
  L.push(`  let bBase = z * ${strideB}u;`);
  for (let i = 0; i < rm; i++) {
    for (let j = 0; j < rn; j++) L.push(`  var c${i}_${j} = 0.0;`);
  }
  const v = vec;
  const comps = ["x", "y", "z", "w"];
  L.push(`  for (var k = 0u; k < ${K}u; k += ${v}u) {`);
  // Load op(A) values: a{i}_{kk} is op(A)[m0+i, k+kk].
  if (v === 1) {
    for (let i = 0; i < rm; i++) {
      const idx = transA ? `aBase + k * ${M}u + m0 + ${i}u` : `aBase + (m0 + ${i}u) * ${K}u + k`;
      L.push(`    let a${i}_0 = A[${idx}];`);
    }
    for (let j = 0; j < rn; j++) {
      const idx = transB ? `bBase + (n0 + ${j}u) * ${K}u + k` : `bBase + k * ${N}u + n0 + ${j}u`;
      L.push(`    let b0_${j} = B[${idx}];`);
    }
    for (let i = 0; i < rm; i++) {
      for (let j = 0; j < rn; j++) L.push(`    c${i}_${j} = fma(a${i}_0, b0_${j}, c${i}_${j});`);
    }
  } else {
    const aVal: string[][] = []; // aVal[i][kk]
    if (!transA) {
      for (let i = 0; i < rm; i++) {
        L.push(`    let av${i} = A[(aBase + (m0 + ${i}u) * ${K}u + k) / 4u];`);
        aVal.push(comps.map((c) => `av${i}.${c}`));
      }
    } else {
      for (let i = 0; i < rm; i++) aVal.push([]);
      for (let kk = 0; kk < 4; kk++) {
        for (let i4 = 0; i4 < rm / 4; i4++) {
          L.push(`    let av${kk}_${i4} = A[(aBase + (k + ${kk}u) * ${M}u + m0) / 4u + ${i4}u];`);
          for (let c = 0; c < 4; c++) aVal[i4 * 4 + c][kk] = `av${kk}_${i4}.${comps[c]}`;
        }
      }
    }
    const bVal: string[][] = []; // bVal[kk][j]
    if (!transB) {
      for (let kk = 0; kk < 4; kk++) {
        bVal.push([]);
        for (let j4 = 0; j4 < rn / 4; j4++) {
          L.push(`    let bv${kk}_${j4} = B[(bBase + (k + ${kk}u) * ${N}u + n0) / 4u + ${j4}u];`);
          for (let c = 0; c < 4; c++) bVal[kk][j4 * 4 + c] = `bv${kk}_${j4}.${comps[c]}`;
        }
      }
    } else {
      for (let kk = 0; kk < 4; kk++) bVal.push([]);
      for (let j = 0; j < rn; j++) {
        L.push(`    let bv${j} = B[(bBase + (n0 + ${j}u) * ${K}u + k) / 4u];`);
        for (let kk = 0; kk < 4; kk++) bVal[kk][j] = `bv${j}.${comps[kk]}`;
      }
    }
    for (let kk = 0; kk < 4; kk++) {
      for (let i = 0; i < rm; i++) {
        for (let j = 0; j < rn; j++) {
          L.push(`    c${i}_${j} = fma(${aVal[i][kk]}, ${bVal[kk][j]}, c${i}_${j});`);
        }
      }
    }
  }
  L.push(`  }`);
  L.push(`  let cBase = z * ${strideC}u;`);
  for (let i = 0; i < rm; i++) {
    for (let j = 0; j < rn; j++) {
      const idx = `cBase + (m0 + ${i}u) * ${N}u + n0 + ${j}u`;
      let val = `c${i}_${j}`;
      if (s.bias) val += ` + bias[z * ${strideBias}u + n0 + ${j}u]`;
      if (s.addend) val += ` + addend[${idx}]`;
      L.push(`  C[${idx}] = ${val};`);
    }
  }
  L.push(`}`);
  return { code: L.join("\n"), workgroupSize: wg, grid: [gx, gy], rm, rn, vec };
}
