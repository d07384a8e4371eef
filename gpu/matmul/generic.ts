// The "generic" matmul kernel (hardware GPUs): every thread owns a small RM x RN block, 64
//   threads per workgroup, K loop inside the thread. Where that gives too
//   few threads to fill a GPU (a weight gradient at a large batch: few
//   outputs, a long k), the k loop is split across workgroups (split_sum.ts).
import { type BindingDecl, declareBindings } from "../kernels.ts";
import { planSplitSum, splitCount } from "../split_sum.ts";
import {
  checkEpilogue,
  COMP,
  extraOperands,
  grid2d,
  largestDivisor,
  type MatmulPlan,
  type MatmulShape,
  type MatmulTuning,
  operandBindings,
  stridesOf,
} from "./shape.ts";
import { GELU_WGSL } from "../gelu_wgsl.ts";

export function planGeneric(s: MatmulShape, tuning: MatmulTuning): MatmulPlan {
  checkEpilogue(s);
  const { M, N, K, transA, transB } = s;
  const st = stridesOf(s);
  // vec4 loads run along each operand's contiguous dimension:
  // A: k (normal) or m (transposed); B: n (normal) or k (transposed).
  const aContig = transA ? M : K;
  const bContig = transB ? K : N;
  const vecA = aContig % 4 === 0 && st.a % 4 === 0;
  const vecB = bContig % 4 === 0 && st.b % 4 === 0;
  // The vec4 path steps k by 4, so K must be a multiple of 4 too.
  const vec = vecA && vecB && K % 4 === 0 ? 4 : 1;
  // Register block: rows along m, cols along n. With transA the rows are
  // loaded as vec4, so rm must be a multiple of 4; likewise rn without transB.
  const small = {
    rm: largestDivisor(M, tuning.maxRm, vec === 4 && transA ? 4 : 1),
    rn: largestDivisor(N, tuning.maxRn, vec === 4 && !transB ? 4 : 1),
  };
  const big = tuning.largeBlock;
  const { rm, rn } = big && M % big.maxRm === 0 && N % big.maxRn === 0 &&
      (M / small.rm) * (N / small.rn) * (s.fleet ?? 1) >= big.minThreads
    ? { rm: big.maxRm, rn: big.maxRn }
    : small;
  const blocksN = N / rn;
  const threads = (M / rm) * blocksN;
  const wg = tuning.workgroupSize;
  const groups = Math.ceil(threads / wg);
  // Only a plain product splits (see splitScratch).
  const splits = !s.splitScratch || s.bias || s.addend || s.geluGrad ? 1 : splitCount({
    length: K,
    threadsPerSlice: threads,
    fleet: s.fleet ?? 1,
    minSlice: MIN_SPLIT_K,
    multipleOf: vec,
    sliceFloats: M * N + (s.colSums ? N : 0),
    scratch: s.splitScratch,
  });
  const [gx, gy] = grid2d(groups * splits, tuning.maxWorkgroupsPerDim);
  // With a split, slice `split` of the k loop writes its partial C (then its
  // partial colSums) at scratch[z, split, ·]; `partial` floats per slice.
  const partial = M * N + (s.colSums ? N : 0);
  const kSlice = K / splits;
  // C (with addend, aux and bias) as vec4 along n where every block starts on
  // a 4-float boundary: a quarter of the store instructions, each lane
  // writing 16 contiguous bytes: with scalar stores the lm head's logits at
  // the paper's batch were written far below a GPU's memory bandwidth
  // (docs/performance.md, "Notes from source comments", vec4 stores).
  const vecC = N % 4 === 0 && rn % 4 === 0 && st.c % 4 === 0 &&
    (!s.bias || st.bias % 4 === 0) && (splits === 1 || s.splitScratch! % 4 === 0);
  const arrC = vecC ? "array<vec4<f32>>" : "array<f32>";

  const L: string[] = [];
  const A = vec === 4 ? "array<vec4<f32>>" : "array<f32>";
  L.push(
    `// matmul M=${M} N=${N} K=${K} transA=${transA} transB=${transB} block ${rm}x${rn}` +
      (splits > 1 ? ` split ${splits}` : ""),
  );
  // A split kernel has no operands (it takes none of bias, addend, aux; its
  // partial colSums go to the scratch with its partial C).
  const operands = splits === 1 ? extraOperands(s) : [];
  const bindings: BindingDecl[] = [
    { name: "A", access: "read", type: A },
    { name: "B", access: "read", type: A },
    {
      name: "C",
      access: "read_write",
      type: arrC,
      comment: splits > 1 ? "the scratch: partial sums" : undefined,
    },
  ];
  bindings.push(...operandBindings(operands, {
    bias: arrC,
    addend: arrC,
    aux: arrC,
    colSums: "array<f32>",
  }));
  L.push(...declareBindings(bindings));
  if (s.geluA || s.geluGrad) L.push(GELU_WGSL);
  const gA = (expr: string, w: number) => (s.geluA ? `gelu${w}(${expr})` : expr);
  L.push(`@compute @workgroup_size(${wg})`);
  L.push(
    `fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {`,
  );
  if (splits === 1) {
    L.push(`  let t = (wid.y * ${gx}u + wid.x) * ${wg}u + lid;`);
  } else {
    L.push(`  let group = wid.y * ${gx}u + wid.x;`);
    L.push(`  if (group >= ${groups * splits}u) { return; }`);
    L.push(`  let split = group / ${groups}u;`);
    L.push(`  let t = (group % ${groups}u) * ${wg}u + lid;`);
  }
  L.push(`  if (t >= ${threads}u) { return; }`);
  L.push(`  let z = wid.z;`);
  L.push(`  let m0 = (t / ${blocksN}u) * ${rm}u;`);
  L.push(`  let n0 = (t % ${blocksN}u) * ${rn}u;`);
  // Element offsets (in elements, before dividing by vec) of each model.
  L.push(`  let aBase = z * ${st.a}u;`);
  L.push(`  let bBase = z * ${st.b}u;`);
  for (let i = 0; i < rm; i++) {
    for (let j = 0; j < rn; j++) L.push(`  var c${i}_${j} = 0.0;`);
  }
  if (s.colSums) { for (let j = 0; j < rn; j++) L.push(`  var cs_${j} = 0.0;`); }
  const v = vec;
  if (splits === 1) {
    L.push(`  for (var k = 0u; k < ${K}u; k += ${v}u) {`);
  } else {
    L.push(`  let kBegin = split * ${kSlice}u;`);
    L.push(`  for (var k = kBegin; k < kBegin + ${kSlice}u; k += ${v}u) {`);
  }
  // Load op(A) values: a{i}_{kk} is op(A)[m0+i, k+kk].
  if (v === 1) {
    for (let i = 0; i < rm; i++) {
      const idx = transA ? `aBase + k * ${M}u + m0 + ${i}u` : `aBase + (m0 + ${i}u) * ${K}u + k`;
      L.push(`    let a${i}_0 = ${gA(`A[${idx}]`, 1)};`);
    }
    for (let j = 0; j < rn; j++) {
      const idx = transB ? `bBase + (n0 + ${j}u) * ${K}u + k` : `bBase + k * ${N}u + n0 + ${j}u`;
      L.push(`    let b0_${j} = B[${idx}];`);
    }
    for (let i = 0; i < rm; i++) {
      for (let j = 0; j < rn; j++) L.push(`    c${i}_${j} = fma(a${i}_0, b0_${j}, c${i}_${j});`);
    }
    if (s.colSums) { for (let j = 0; j < rn; j++) L.push(`    cs_${j} += b0_${j};`); }
  } else {
    const aVal: string[][] = []; // aVal[i][kk]
    if (!transA) {
      for (let i = 0; i < rm; i++) {
        L.push(`    let av${i} = ${gA(`A[(aBase + (m0 + ${i}u) * ${K}u + k) / 4u]`, 4)};`);
        aVal.push(COMP.map((c) => `av${i}.${c}`));
      }
    } else {
      for (let i = 0; i < rm; i++) aVal.push([]);
      for (let kk = 0; kk < 4; kk++) {
        for (let i4 = 0; i4 < rm / 4; i4++) {
          const a = `A[(aBase + (k + ${kk}u) * ${M}u + m0) / 4u + ${i4}u]`;
          L.push(`    let av${kk}_${i4} = ${gA(a, 4)};`);
          for (let c = 0; c < 4; c++) aVal[i4 * 4 + c][kk] = `av${kk}_${i4}.${COMP[c]}`;
        }
      }
    }
    const bVal: string[][] = []; // bVal[kk][j]
    if (!transB) {
      for (let kk = 0; kk < 4; kk++) {
        bVal.push([]);
        for (let j4 = 0; j4 < rn / 4; j4++) {
          L.push(`    let bv${kk}_${j4} = B[(bBase + (k + ${kk}u) * ${N}u + n0) / 4u + ${j4}u];`);
          for (let c = 0; c < 4; c++) bVal[kk][j4 * 4 + c] = `bv${kk}_${j4}.${COMP[c]}`;
        }
      }
    } else {
      for (let kk = 0; kk < 4; kk++) bVal.push([]);
      for (let j = 0; j < rn; j++) {
        L.push(`    let bv${j} = B[(bBase + (n0 + ${j}u) * ${K}u + k) / 4u];`);
        for (let kk = 0; kk < 4; kk++) bVal[kk][j] = `bv${j}.${COMP[kk]}`;
      }
    }
    for (let kk = 0; kk < 4; kk++) {
      for (let i = 0; i < rm; i++) {
        for (let j = 0; j < rn; j++) {
          L.push(`    c${i}_${j} = fma(${aVal[i][kk]}, ${bVal[kk][j]}, c${i}_${j});`);
        }
      }
      if (s.colSums) { for (let j = 0; j < rn; j++) L.push(`    cs_${j} += ${bVal[kk][j]};`); }
    }
  }
  L.push(`  }`);
  if (splits === 1) {
    L.push(`  let cBase = z * ${st.c}u;`);
  } else {
    L.push(`  let cBase = z * ${s.splitScratch}u + split * ${partial}u;`);
  }
  // vec4(v[j], v[j+1], v[j+2], v[j+3]) of register names.
  const pack = (name: (j: number) => string, j: number) =>
    `vec4<f32>(${[0, 1, 2, 3].map((d) => name(j + d)).join(", ")})`;
  if (s.colSums) {
    L.push(`  if (m0 == 0u) {`);
    if (splits === 1) {
      for (let j = 0; j < rn; j++) {
        L.push(`    colSums[z * ${st.colSums}u + n0 + ${j}u] = cs_${j};`);
      }
    } else if (vecC) {
      for (let j = 0; j < rn; j += 4) {
        L.push(`    C[(cBase + ${M * N}u + n0) / 4u + ${j / 4}u] = ${pack((x) => `cs_${x}`, j)};`);
      }
    } else {
      for (let j = 0; j < rn; j++) L.push(`    C[cBase + ${M * N}u + n0 + ${j}u] = cs_${j};`);
    }
    L.push(`  }`);
  }
  for (let i = 0; i < rm; i++) {
    if (vecC) {
      for (let j = 0; j < rn; j += 4) {
        const idx = `(cBase + (m0 + ${i}u) * ${N}u + n0) / 4u + ${j / 4}u`;
        let val = pack((x) => `c${i}_${x}`, j);
        if (s.bias) val += ` + bias[(z * ${st.bias}u + n0) / 4u + ${j / 4}u]`;
        if (s.addend) val += ` + addend[${idx}]`;
        if (s.geluGrad) val = `${val} * geluGrad4(aux[${idx}])`;
        L.push(`  C[${idx}] = ${val};`);
      }
      continue;
    }
    for (let j = 0; j < rn; j++) {
      const idx = `cBase + (m0 + ${i}u) * ${N}u + n0 + ${j}u`;
      let val = `c${i}_${j}`;
      if (s.bias) val += ` + bias[z * ${st.bias}u + n0 + ${j}u]`;
      if (s.addend) val += ` + addend[${idx}]`;
      if (s.geluGrad) val = `${val} * geluGrad1(aux[${idx}])`;
      L.push(`  C[${idx}] = ${val};`);
    }
  }
  L.push(`}`);
  return {
    code: L.join("\n"),
    bindings: bindings.map((b) => b.name),
    workgroupSize: wg,
    grid: [gx, gy],
    rm,
    rn,
    vec,
    variant: "generic",
    operands,
    split: splits === 1 ? undefined : {
      count: splits,
      sum: planSplitSum({
        splits,
        length1: M * N,
        length2: s.colSums ? N : 0,
        stride1: st.c,
        stride2: st.colSums,
        scratchStride: s.splitScratch!,
        workgroupSize: wg,
        maxWorkgroupsPerDim: tuning.maxWorkgroupsPerDim,
      }),
    },
  };
}

/** Shortest k slice: a thread's loop must outweigh its extra store and the sum's read. */
const MIN_SPLIT_K = 256;
