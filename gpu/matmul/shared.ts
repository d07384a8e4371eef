// The "shared" matmul kernel (software adapters: Mesa llvmpipe / lavapipe). A workgroup is 8
//   invocations, which llvmpipe runs as one 8-lane AVX vector. Every storage
//   load or store there is a loop over the 8 lanes (an exec-mask test, a
//   bounds check and a masked insert per component, ~70 cycles for a vec4,
//   whether or not the lanes share the address), while an fma costs about
//   one cycle for all 8 lanes. So the kernel maximizes fmas per load: each
//   lane owns a large register block (up to 32 x 32 outputs, spilled to the
//   stack, which is cheap next to a load), reads both operands as vec4 along
//   their contiguous dimension through one running index per operand, runs
//   the fmas of a k step in 1 x 4 sub-blocks (each accumulator is loaded,
//   updated 4 times and stored once), and stores vec4s. The lanes of a
//   workgroup tile C as lanesM x lanesN blocks; planMatmul picks the block
//   and layout per shape from a cost model that includes compile time
//   (which grows quickly with the number of loads and stores in the code).
//   Blocks at the edges are clamped back inside C (they recompute and store
//   the same values) instead of masking.
import { type BindingDecl, declareBindings } from "../kernels.ts";
import {
  checkEpilogue,
  COMP,
  extraOperands,
  grid2d,
  type MatmulPlan,
  type MatmulShape,
  type MatmulTuning,
  operandBindings,
  stridesOf,
} from "./shape.ts";
import { GELU_WGSL } from "../gelu_wgsl.ts";

export interface SharedConfig {
  /** Lanes per workgroup (the rasterizer's vector width). */
  lanes: number;
  /** Lanes along n; the other lanes / lanesN go along m. */
  lanesN: number;
  /** Rows and columns of C per lane. */
  rm: number;
  rn: number;
  /** k values per loop iteration, a multiple of 4 (8: at most a few % faster, 2x compile). */
  kStep: number;
  /** FMA order: sub-blocks of bi x bj accumulators, each over the iteration's k values. */
  bi?: number;
  bj?: number;
  /** Store C in this many loop iterations (a divisor of rm; default rm / 2). */
  storeRounds?: number;
}

/** Which operands the "shared" kernel reads and writes as vec4 for a block size. */
function sharedVecs(s: MatmulShape, rm: number, rn: number) {
  const { M, N, K } = s;
  const st = stridesOf(s);
  // Row/col starts are clamped back to M - rm / N - rn (lanes past the edge
  // recompute the last block and store the same values), so a vec4 along
  // m or n needs rm (rn) and M (N) to be multiples of 4.
  const vecA = st.a % 4 === 0 && (s.transA ? M % 4 === 0 && rm % 4 === 0 : K % 4 === 0);
  const vecB = st.b % 4 === 0 && (s.transB ? K % 4 === 0 : N % 4 === 0 && rn % 4 === 0);
  const vecC = st.c % 4 === 0 && N % 4 === 0 && rn % 4 === 0;
  const vecBias = s.bias && st.bias % 4 === 0 && vecC;
  return { vecA, vecB, vecC, vecBias };
}

// Cost model of the "shared" kernel on llvmpipe, fitted to single-thread
// timings (the constants below, in ns). A storage load or store runs a loop
// over the 8 lanes, whatever the addresses, so it costs far more than an fma
// (a separate mul and add for all 8 lanes plus spill traffic); a workgroup
// has a fixed cost of its own. Compiling costs a share per fma in the code
// and more per load or store (each is a lane loop), growing faster than
// linearly with the latter, and steeply once the code holds more fmas than a
// 32 x 32 block: hence the factor past COMPILE_CLIFF_FMAS, which only blocks
// beyond the default maxBlock, or 32 x 32 with a k tail, reach. Compile time
// is charged as if spread over `compileAmortization` dispatches
// (docs/performance.md, "Notes from source comments", the "shared" matmul's
// cost model).
const NS_LOAD4 = 27;
const NS_LOAD1 = 10;
const NS_STORE4 = 43;
const NS_STORE1 = 16;
const NS_FMA = 0.25;
const NS_SELECT = 0.1;
const NS_WORKGROUP = 2000;
const NS_COMPILE_FMA = 0.3e6;
const NS_COMPILE_MEM = 5e6;
/** Fmas in the code (4 per output of a block) where compile time turns steep. */
const COMPILE_CLIFF_FMAS = 4096;

/** Loop iterations that store C: 2 rows each (1 for odd rm), see planShared. */
function storeRounds(rm: number): number {
  if (rm < 3) return 1;
  return rm % 2 === 0 ? rm / 2 : rm;
}

/** Estimated ns per workgroup and ns of compile time of the "shared" kernel. */
function sharedCost(s: MatmulShape, rm: number, rn: number) {
  const v = sharedVecs(s, rm, rn);
  const K4 = s.K - (s.K % 4);
  const tail = s.K - K4;
  // Loads per 4 k (vec4, or 4 scalars each).
  const memA = v.vecA ? rm : 4 * rm, memB = v.vecB ? rn : 4 * rn;
  const nsA = v.vecA ? NS_LOAD4 : NS_LOAD1, nsB = v.vecB ? NS_LOAD4 : NS_LOAD1;
  // After the loop: stores (+ addend loads) in `rounds` iterations, bias loads.
  const w = v.vecC ? 4 : 1;
  const outs = (rm * rn) / w;
  const rounds = storeRounds(rm);
  const biasLoads = s.bias ? rn / w : 0;
  const run = (K4 / 4) * (memA * nsA + memB * nsB + 4 * rm * rn * NS_FMA) +
    tail * ((rm + rn) * NS_LOAD1 + rm * rn * NS_FMA) +
    outs * (v.vecC ? NS_STORE4 : NS_STORE1) +
    (outs * (s.addend || s.geluGrad ? 1 : 0) + biasLoads) * (v.vecC ? NS_LOAD4 : NS_LOAD1) +
    rm * rn * (rounds - 1) * NS_SELECT + NS_WORKGROUP;
  const memInCode = (K4 > 0 ? memA + memB : 0) + tail * (rm + rn) +
    (outs / rounds) * (s.addend || s.geluGrad ? 2 : 1) + biasLoads;
  const fmaInCode = (K4 > 0 ? 4 : 0) * rm * rn + tail * rm * rn;
  const compile = (NS_COMPILE_FMA * fmaInCode +
    NS_COMPILE_MEM * memInCode * (1 + memInCode / 300)) *
    (1 + 4 * Math.max(0, fmaInCode / COMPILE_CLIFF_FMAS - 1));
  return { run, compile };
}

/** Block edges tried for a dimension of size n (up to max). */
function blockSizes(n: number, max: number): number[] {
  const out = new Set<number>();
  for (const b of [1, 2, 3, 4, 8, 12, 16, 20, 24, 28, 32, 48, 64]) {
    if (b <= Math.min(n, max)) out.add(b);
  }
  if (n < max) out.add(n);
  return [...out];
}

/**
 * Picks the lane layout and register block for a shape: the least
 * estimated time per dispatch (workgroups spread over `threads` cores)
 * plus a share of the compile time.
 */
export function chooseShared(s: MatmulShape, tuning: MatmulTuning): SharedConfig {
  const lanes = tuning.workgroupSize;
  const threads = tuning.threads ?? 2;
  const fleet = s.fleet ?? 1;
  let best: SharedConfig | undefined;
  let bestCost = Infinity, bestPerimeter = Infinity;
  const maxBlock = tuning.maxBlock ?? 1024;
  const amortize = tuning.compileAmortization ?? 1000;
  for (const rm of blockSizes(s.M, tuning.maxRm)) {
    for (const rn of blockSizes(s.N, tuning.maxRn)) {
      if (rm * rn > maxBlock) continue;
      const { run, compile } = sharedCost(s, rm, rn);
      for (let lanesN = 1; lanesN <= lanes; lanesN++) {
        if (lanes % lanesN !== 0) continue;
        const tileM = (lanes / lanesN) * rm, tileN = lanesN * rn;
        const groups = fleet * Math.ceil(s.M / tileM) * Math.ceil(s.N / tileN);
        const cost = Math.ceil(groups / threads) * run + compile / amortize;
        // Ties (same block, other layouts): the squarer tile was ~5-10% faster.
        const perimeter = Math.min(tileM, s.M) + Math.min(tileN, s.N);
        if (cost < bestCost * 0.999 || (cost <= bestCost * 1.001 && perimeter < bestPerimeter)) {
          bestCost = cost;
          bestPerimeter = perimeter;
          best = { lanes, lanesN, rm, rn, kStep: 4, bi: 1, bj: 4 };
        }
      }
    }
  }
  return best!;
}

/** The kernel for `s` with lane layout `cfg` (exported for benchmarks). */
export function planShared(
  s: MatmulShape,
  cfg: SharedConfig,
  maxWorkgroupsPerDim = 65535,
): MatmulPlan {
  checkEpilogue(s);
  const { M, N, K, transA, transB } = s;
  const st = stridesOf(s);
  const W = cfg.lanes;
  const lanesN = Math.max(1, Math.min(cfg.lanesN, W));
  const lanesM = Math.max(1, Math.floor(W / lanesN));
  const rm = Math.min(cfg.rm, M);
  const rn = Math.min(cfg.rn, N);
  // Tile of one workgroup: lanesM x lanesN lanes, each rm x rn.
  const tileM = lanesM * rm;
  const tileN = lanesN * rn;
  const tilesM = Math.ceil(M / tileM);
  const tilesN = Math.ceil(N / tileN);
  const [gx, gy] = grid2d(tilesM * tilesN, maxWorkgroupsPerDim);

  // Vector loads along each operand's contiguous dimension.
  const { vecA, vecB, vecC, vecBias } = sharedVecs(s, rm, rn);
  const K4 = K - (K % 4);

  const L: string[] = [];
  const arr = (v: boolean) => (v ? "array<vec4<f32>>" : "array<f32>");
  L.push(
    `// matmul M=${M} N=${N} K=${K} transA=${transA} transB=${transB} ` +
      `lanes ${lanesM}x${lanesN} block ${rm}x${rn} kStep ${cfg.kStep}`,
  );
  const operands = extraOperands(s);
  const bindings: BindingDecl[] = [
    { name: "A", access: "read", type: arr(vecA) },
    { name: "B", access: "read", type: arr(vecB) },
    { name: "C", access: "read_write", type: arr(vecC) },
  ];
  bindings.push(...operandBindings(operands, {
    bias: arr(vecBias),
    addend: arr(vecC),
    aux: arr(vecC),
    colSums: "array<f32>",
  }));
  L.push(...declareBindings(bindings));
  if (s.geluA || s.geluGrad) L.push(GELU_WGSL);
  L.push(`@compute @workgroup_size(${W})`);
  L.push(
    `fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {`,
  );
  // Extra workgroups of the last grid row clamp to the last tile.
  L.push(`  let tile = min(wid.y * ${gx}u + wid.x, ${tilesM * tilesN - 1}u);`);
  L.push(`  let z = wid.z;`);
  const laneM = lanesM === 1 ? "" : ` + (lane / ${lanesN}u) * ${rm}u`;
  const laneN = lanesN === 1 ? "" : ` + (lane % ${lanesN}u) * ${rn}u`;
  L.push(`  let m0 = min((tile / ${tilesN}u) * ${tileM}u${laneM}, ${M - rm}u);`);
  L.push(`  let n0 = min((tile % ${tilesN}u) * ${tileN}u${laneN}, ${N - rn}u);`);
  // Base offsets in units of the binding's element (vec4 or f32).
  const q = (v: boolean) => (v ? 4 : 1);
  L.push(`  let aBase = z * ${st.a / q(vecA)}u;`);
  L.push(`  let bBase = z * ${st.b / q(vecB)}u;`);
  // Each operand is read through one index that advances with k (in units
  // of its binding's element): a0 / b0 at k = 0, plus aPer4 / bPer4 per 4 k;
  // every load adds a constant to it.
  if (transA) L.push(`  let a0 = aBase + m0${vecA ? " / 4u" : ""};`);
  else L.push(`  let a0 = aBase + m0 * ${vecA ? K / 4 : K}u;`);
  if (transB) L.push(`  let b0 = bBase + n0 * ${vecB ? K / 4 : K}u;`);
  else L.push(`  let b0 = bBase + n0${vecB ? " / 4u" : ""};`);
  const aPer4 = transA ? (vecA ? M : 4 * M) : (vecA ? 1 : 4);
  const bPer4 = transB ? (vecB ? 1 : 4) : (vecB ? N : 4 * N);
  // Accumulators: vec4s c{i}_{q} for columns 4q..4q+3 when rn allows (4x
  // less WGSL for the same machine code), else scalars c{i}_{j}.
  const vecAcc = rn % 4 === 0;
  for (let i = 0; i < rm; i++) {
    if (vecAcc) { for (let q = 0; q < rn / 4; q++) L.push(`  var c${i}_${q} = vec4<f32>();`); }
    else for (let j = 0; j < rn; j++) L.push(`  var c${i}_${j} = 0.0;`);
  }
  // Column sums of op(B) (colSums): cs_q (vec4) or cs_j.
  if (s.colSums) {
    if (vecAcc) { for (let q = 0; q < rn / 4; q++) L.push(`  var cs_${q} = vec4<f32>();`); }
    else for (let j = 0; j < rn; j++) L.push(`  var cs_${j} = 0.0;`);
  }

  // One step of the K loop: the loads for k values k+0 .. k+(n-1) (n a
  // multiple of 4 with k a multiple of 4, or n = 1) and the FMAs that use
  // them, grouped by sub-block. `tag` keeps the names unique.
  interface Load {
    name: string;
    type: string;
    expr: string;
  }
  const bi = Math.max(1, Math.min(cfg.bi ?? rm, rm));
  const bj = Math.max(1, Math.min(cfg.bj ?? rn, rn));
  // pa / pb: the WGSL expressions of the operands' indices at k.
  const step = (pa: string, pb: string, n: number, tag: string) => {
    const loads: Load[] = [];
    const aVal: string[][] = []; // aVal[i][kk]
    const bVal: string[][] = []; // bVal[kk][j]
    for (let i = 0; i < rm; i++) aVal.push([]);
    for (let kk = 0; kk < n; kk++) bVal.push([]);
    const at = (p: string, off: number) => (off === 0 ? p : `${p} + ${off}u`);
    const load = (name: string, vec: boolean, expr: string) =>
      loads.push({ name, type: vec ? "vec4<f32>" : "f32", expr });
    // op(A) elements pass through gelu as they are loaded (geluA).
    const loadA = (name: string, vec: boolean, expr: string) =>
      load(name, vec, s.geluA ? `gelu${vec ? 4 : 1}(${expr})` : expr);
    const g = n >= 4 ? 4 : 1;
    for (let kk0 = 0; kk0 < n; kk0 += g) {
      // op(A) rows m0+i.
      if (!transA) {
        for (let i = 0; i < rm; i++) {
          if (g === 4 && vecA) {
            loadA(`a${tag}_${kk0}_${i}`, true, `A[${at(pa, i * (K / 4) + kk0 / 4)}]`);
            for (let c = 0; c < 4; c++) aVal[i][kk0 + c] = `a${tag}_${kk0}_${i}.${COMP[c]}`;
          } else {
            for (let kk = kk0; kk < kk0 + g; kk++) {
              loadA(`a${tag}_${kk}_${i}`, false, `A[${at(pa, i * K + kk)}]`);
              aVal[i][kk] = `a${tag}_${kk}_${i}`;
            }
          }
        }
      } else {
        for (let kk = kk0; kk < kk0 + g; kk++) {
          if (vecA) {
            for (let i4 = 0; i4 < rm / 4; i4++) {
              loadA(`a${tag}_${kk}_${i4}`, true, `A[${at(pa, kk * (M / 4) + i4)}]`);
              for (let c = 0; c < 4; c++) aVal[i4 * 4 + c][kk] = `a${tag}_${kk}_${i4}.${COMP[c]}`;
            }
          } else {
            for (let i = 0; i < rm; i++) {
              loadA(`a${tag}_${kk}_${i}`, false, `A[${at(pa, kk * M + i)}]`);
              aVal[i][kk] = `a${tag}_${kk}_${i}`;
            }
          }
        }
      }
      // op(B) columns n0+j.
      if (transB) {
        for (let j = 0; j < rn; j++) {
          if (g === 4 && vecB) {
            load(`b${tag}_${kk0}_${j}`, true, `B[${at(pb, j * (K / 4) + kk0 / 4)}]`);
            for (let c = 0; c < 4; c++) bVal[kk0 + c][j] = `b${tag}_${kk0}_${j}.${COMP[c]}`;
          } else {
            for (let kk = kk0; kk < kk0 + g; kk++) {
              load(`b${tag}_${kk}_${j}`, false, `B[${at(pb, j * K + kk)}]`);
              bVal[kk][j] = `b${tag}_${kk}_${j}`;
            }
          }
        }
      } else {
        for (let kk = kk0; kk < kk0 + g; kk++) {
          if (vecB) {
            for (let j4 = 0; j4 < rn / 4; j4++) {
              load(`b${tag}_${kk}_${j4}`, true, `B[${at(pb, kk * (N / 4) + j4)}]`);
              for (let c = 0; c < 4; c++) bVal[kk][j4 * 4 + c] = `b${tag}_${kk}_${j4}.${COMP[c]}`;
            }
          } else {
            for (let j = 0; j < rn; j++) {
              load(`b${tag}_${kk}_${j}`, false, `B[${at(pb, kk * N + j)}]`);
              bVal[kk][j] = `b${tag}_${kk}_${j}`;
            }
          }
        }
      }
    }
    // FMAs in sub-blocks of bi x bj outputs, each over all n k values.
    const groups: string[][] = [];
    // op(B)[k+kk, 4q..4q+3] as one vec4 expression.
    const b4 = (kk: number, q: number) => {
      const parts = [0, 1, 2, 3].map((c) => bVal[kk][4 * q + c]);
      const whole = parts[0].replace(/\.x$/, "");
      return parts.every((p, c) => p === `${whole}.${COMP[c]}`)
        ? whole
        : `vec4<f32>(${parts.join(", ")})`;
    };
    const bjv = vecAcc ? Math.max(4, bj - (bj % 4)) : bj;
    for (let i0 = 0; i0 < rm; i0 += bi) {
      for (let j0 = 0; j0 < rn; j0 += bjv) {
        const grp: string[] = [];
        for (let kk = 0; kk < n; kk++) {
          for (let i = i0; i < Math.min(rm, i0 + bi); i++) {
            if (vecAcc) {
              for (let q = j0 / 4; q < Math.min(rn, j0 + bjv) / 4; q++) {
                const a = `vec4<f32>(${aVal[i][kk]})`;
                grp.push(`c${i}_${q} = fma(${a}, ${b4(kk, q)}, c${i}_${q});`);
              }
            } else {
              for (let j = j0; j < Math.min(rn, j0 + bjv); j++) {
                grp.push(`c${i}_${j} = fma(${aVal[i][kk]}, ${bVal[kk][j]}, c${i}_${j});`);
              }
            }
          }
        }
        groups.push(grp);
      }
    }
    if (s.colSums) {
      const grp: string[] = [];
      for (let kk = 0; kk < n; kk++) {
        if (vecAcc) { for (let q = 0; q < rn / 4; q++) grp.push(`cs_${q} += ${b4(kk, q)};`); }
        else for (let j = 0; j < rn; j++) grp.push(`cs_${j} += ${bVal[kk][j]};`);
      }
      groups.push(grp);
    }
    return { loads, groups };
  };
  const emitStep = (pa: string, pb: string, n: number, ind: string, tag: string) => {
    const { loads, groups } = step(pa, pb, n, tag);
    for (const l of loads) L.push(`${ind}let ${l.name} = ${l.expr};`);
    for (const grp of groups) for (const f of grp) L.push(ind + f);
  };
  // Index expressions at a constant k.
  const aAt = (k: number) => (k === 0 ? "a0" : `(a0 + ${(k / 4) * aPer4}u)`);
  const bAt = (k: number) => (k === 0 ? "b0" : `(b0 + ${(k / 4) * bPer4}u)`);

  if (K4 > 0) {
    const kStep = Math.min(K4, Math.max(4, cfg.kStep - (cfg.kStep % 4)));
    const main = K4 - (K4 % kStep);
    L.push(`  var pa = a0;`);
    L.push(`  var pb = b0;`);
    L.push(`  for (var k = 0u; k < ${main}u; k += ${kStep}u) {`);
    emitStep("pa", "pb", kStep, "    ", "");
    L.push(`    pa += ${(kStep / 4) * aPer4}u;`);
    L.push(`    pb += ${(kStep / 4) * bPer4}u;`);
    L.push(`  }`);
    for (let k = main; k < K4; k += 4) emitStep(aAt(k), bAt(k), 4, "  ", `k${k}`);
  }
  // K % 4 leftover k values (the operands along k are scalar then).
  for (let k = K4; k < K; k++) {
    const pa = transA ? `(a0 + ${k * (vecA ? M / 4 : M)}u)` : `(a0 + ${k}u)`;
    const pb = transB ? `(b0 + ${k}u)` : `(b0 + ${k * (vecB ? N / 4 : N)}u)`;
    emitStep(pa, pb, 1, "  ", `t${k}`);
  }

  // Epilogue: C = acc (+ bias) (+ addend), in units of w = 4 (vec4) or 1.
  const w = vecC ? 4 : 1;
  // Output value i, j (j counts vec4s when w = 4).
  const val = (i: number, j: number) => {
    if (w === 4) {
      return vecAcc
        ? `c${i}_${j}`
        : `vec4<f32>(${[0, 1, 2, 3].map((c) => `c${i}_${j * 4 + c}`).join(", ")})`;
    }
    return vecAcc ? `c${i}_${Math.floor(j / 4)}.${COMP[j % 4]}` : `c${i}_${j}`;
  };
  L.push(`  let cBase = z * ${st.c / w}u + n0${w === 4 ? " / 4u" : ""};`);
  const rnw = rn / w;
  if (s.bias) {
    for (let j = 0; j < rnw; j++) {
      let v: string;
      if (vecBias) v = `bias[z * ${st.bias / 4}u + n0 / 4u + ${j}u]`;
      else if (w === 1) v = `bias[z * ${st.bias}u + n0 + ${j}u]`;
      else {
        // vec4 of C from a bias whose per-model stride is not a multiple of 4.
        const e = [0, 1, 2, 3].map((c) => `bias[z * ${st.bias}u + n0 + ${4 * j + c}u]`);
        v = `vec4<f32>(${e.join(", ")})`;
      }
      L.push(`  let bias${j} = ${v};`);
    }
  }
  const out = (row: string, j: number, v: string, ind: string) => {
    const idx = `${row} + ${j}u`;
    let e = v;
    if (s.bias) e += ` + bias${j}`;
    if (s.addend) e += ` + addend[${idx}]`;
    if (s.geluGrad) e = `(${e}) * geluGrad${w}(aux[${idx}])`;
    L.push(`${ind}C[${idx}] = ${e};`);
  };
  if (s.colSums) {
    // Every lane summed its columns over all k; the lanes of the first row
    // block store them (clamped duplicates store the same values).
    L.push(`  if (m0 == 0u) {`);
    for (let j = 0; j < rn; j++) {
      const v = vecAcc ? `cs_${Math.floor(j / 4)}.${COMP[j % 4]}` : `cs_${j}`;
      L.push(`    colSums[z * ${st.colSums}u + n0 + ${j}u] = ${v};`);
    }
    L.push(`  }`);
  }
  const rounds = cfg.storeRounds ?? storeRounds(rm);
  if (rounds > 1 && rm % rounds === 0) {
    // Rows stored in `rounds` loop iterations of rm / rounds rows each,
    // picking each round's accumulators with selects: fewer stores in the
    // code (each is a lane loop), so a much faster compile.
    const rr = rm / rounds;
    L.push(`  for (var r = 0u; r < ${rounds}u; r++) {`);
    for (let i = 0; i < rr; i++) {
      L.push(`    let row${i} = cBase + (m0 + r * ${rr}u + ${i}u) * ${N / w}u;`);
      for (let j = 0; j < rnw; j++) {
        let v = val(i, j);
        for (let q = 1; q < rounds; q++) v = `select(${v}, ${val(q * rr + i, j)}, r == ${q}u)`;
        out(`row${i}`, j, v, "    ");
      }
    }
    L.push(`  }`);
  } else {
    for (let i = 0; i < rm; i++) {
      L.push(`  let row${i} = cBase + (m0 + ${i}u) * ${N / w}u;`);
      for (let j = 0; j < rnw; j++) out(`row${i}`, j, val(i, j), "  ");
    }
  }
  L.push(`}`);
  return {
    code: L.join("\n"),
    bindings: bindings.map((b) => b.name),
    workgroupSize: W,
    grid: [gx, gy],
    rm,
    rn,
    vec: vecA && vecB ? 4 : 1,
    variant: "shared",
    operands,
  };
}
