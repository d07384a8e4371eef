// Weight gradients of small models on CPU rasterizers, lanes along the rows:
//   dW[m, n] = Σ_rows op(A)[row, m] · dY[row, n]     (op(A) = A, or gelu(A))
//   db[n]    = Σ_rows dY[row, n]                      (colSums, optional)
// over the batch's B·T rows. Each lane owns one block of up to 16 × 16 of dW
// and one chunk of rows, and writes its partial sums to a scratch buffer,
// one per slice of its chunk; split_sum.ts then adds the slices in a fixed
// order (no atomics, so the result is the same every run). The chunks
// follow the fleet size (fewer, longer ones in a fleet), the slices do not
// (the chunks one model alone would take), so neither does a model's
// result.
//
// Why: the matmul kernels (matmul/shared.ts) split only
// the output among lanes, and dW of a small model has few outputs (16 × 64
// at C 16): 8 × 8 blocks keep the workgroups busy but load each row of A and
// dY once per block. With lanes along the rows the blocks can be 16 × 16, a
// half of the loads per fma; on llvmpipe every storage load is a loop over a
// workgroup's 8 lanes, so that is what counts, and the small models' weight
// gradients ran faster so (docs/performance.md, "Notes from source comments",
// row-split weight gradients).
//
// Layouts: A [K, BT, M] and dY [K, BT, N] row-major, vec4; the scratch
// [K, scratchStride] holds slice s's partials at s · (M·N + N'): dW
// row-major, then db (N' = N with colSums, else 0), as split_sum reads them.
import { GELU_WGSL } from "../gelu_wgsl.ts";
import { type BindingDecl, declareBindings, type GeneratedKernel, gridFor } from "../kernels.ts";
import { ROW_LANES as LANES } from "./row_codegen.ts";

export interface WeightGradShape {
  /** Rows (B · T) per model and the models (workgroup z). */
  BT: number;
  fleet: number;
  /** dW is M × N; both multiples of 4. */
  M: number;
  N: number;
  /** op(A) = gelu(A). */
  geluA: boolean;
  /** Also db = Σ_rows dY. */
  colSums: boolean;
  /** CPU threads running workgroups (default 2). */
  threads?: number;
  maxWorkgroupsPerDim?: number;
}

export interface WeightGradPlan extends GeneratedKernel {
  /** Row chunks, one per lane of a block; each spans slices / chunks slices. */
  chunks: number;
  /** Row slices, each a slice of the scratch. */
  slices: number;
  /** Floats of one slice's partials. */
  sliceFloats: number;
}

const COMP = ["x", "y", "z", "w"];

/**
 * Largest dW (M · N) taken by this kernel: the small models', where the
 * matmul planner picks 8 × 8 blocks, and where this kernel was faster.
 * Larger ones get up to 32 × 32 blocks from the planner, fewer loads per fma
 * than these 16 × 16 ones, and were not compared with this kernel
 * (docs/performance.md, "Notes from source comments", row-split weight
 * gradients).
 */
export const MAX_ROW_SPLIT_OUTPUTS = 1024;

/** Where the kernel serves: widths in vec4s, blocks of 16 or the whole edge, few outputs. */
export function weightGradFits(M: number, N: number): boolean {
  return M % 4 === 0 && N % 4 === 0 && (M <= 16 || M % 16 === 0) &&
    (N <= 16 || N % 16 === 0) && M * N <= MAX_ROW_SPLIT_OUTPUTS;
}

/**
 * Row chunks: the fewest (so the fewest partials to store and add) that
 * still give 4 workgroups per CPU thread and a workgroup's worth of lanes
 * per model, with at least 128 rows each, and twice that where it leaves no
 * lane of a workgroup idle.
 */
function chunkCount(s: WeightGradShape, blocks: number): number {
  const want = 4 * (s.threads ?? 2);
  const few = (c: number) =>
    s.fleet * Math.ceil((blocks * c) / LANES) < want ||
    // A workgroup runs its 8 lanes in one vector whether or not they have
    // work: attproj.dw (1 block) in a large fleet ran one chunk per model,
    // one lane of eight busy, several times slower than with 8 chunks
    // (docs/performance.md, "Fleet-independent sums").
    blocks * c < LANES;
  let chunks = 1;
  while (few(chunks) && s.BT / (chunks * 2) >= 128) chunks *= 2;
  // A workgroup runs all its lanes' work, used or not: fill the last one
  // where doubling does (qkv.dw at C 16: 3 blocks × 8 chunks beat 3 × 4;
  // docs/performance.md, "What a lane's weights cost" (5)).
  const fills = (c: number) => (blocks * c) % LANES === 0;
  if (!fills(chunks) && fills(2 * chunks) && s.BT / (chunks * 2) >= 128) chunks *= 2;
  return chunks;
}

/**
 * Blocks, chunks and slices of a shape, and the scratch floats per model its
 * partials take. Both counts are powers of two and a fleet takes no more
 * chunks than one model alone, so each chunk is a whole number of slices.
 */
function layout(s: WeightGradShape) {
  const { M, N } = s;
  if (!weightGradFits(M, N)) throw new RangeError(`no row-split weight gradient for ${M}x${N}`);
  const bm = Math.min(16, M), bn = Math.min(16, N);
  const blocksN = N / bn, blocks = (M / bm) * blocksN;
  const chunks = chunkCount(s, blocks);
  const slices = chunkCount({ ...s, fleet: 1 }, blocks);
  if (slices % chunks !== 0) throw new Error(`${chunks} chunks do not split into ${slices} slices`);
  const sliceFloats = M * N + (s.colSums ? N : 0);
  return { bm, bn, blocksN, blocks, chunks, slices, sliceFloats, scratch: slices * sliceFloats };
}

/** Scratch floats per model that planWeightGrad(s) needs. */
export function weightGradScratch(s: WeightGradShape): number {
  return layout(s).scratch;
}

/** Row chunks of planWeightGrad(s): one per lane of a block of dW. */
export function weightGradChunks(s: WeightGradShape): number {
  return layout(s).chunks;
}

/** Row slices of planWeightGrad(s): the partial sums it writes per model. */
export function weightGradSlices(s: WeightGradShape): number {
  return layout(s).slices;
}

/** The kernel; `scratchFloats` is the scratch's per-model stride (a multiple of 4). */
export function planWeightGrad(s: WeightGradShape, scratchFloats: number): WeightGradPlan {
  const { BT, M, N } = s;
  const { bm, bn, blocksN, blocks, chunks, slices, sliceFloats, scratch } = layout(s);
  if (scratchFloats % 4 !== 0 || scratch > scratchFloats) {
    throw new RangeError(
      `weight gradient: ${scratch} floats do not fit a scratch of ${scratchFloats}`,
    );
  }
  const rows = Math.ceil(BT / slices), perChunk = slices / chunks;
  const lanes = blocks * chunks;
  const [gx, gy] = gridFor(lanes, LANES, s.maxWorkgroupsPerDim);
  const M4 = M / 4, N4 = N / 4, bm4 = bm / 4, bn4 = bn / 4;
  const bindings: BindingDecl[] = [
    { name: "A", access: "read", type: "array<vec4<f32>>" },
    { name: "dY", access: "read", type: "array<vec4<f32>>" },
    { name: "partials", access: "read_write", type: "array<vec4<f32>>" },
  ];
  const L: string[] = [
    `// weight gradient ${M}x${N} over ${BT} rows: ${blocks} blocks of ${bm}x${bn}, ${chunks} chunks of ${perChunk} slices`,
    ...declareBindings(bindings),
  ];
  if (s.geluA) L.push(GELU_WGSL);
  L.push(
    `@compute @workgroup_size(${LANES})`,
    `fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {`,
    `  let g = (wid.y * ${gx}u + wid.x) * ${LANES}u + lid;`,
    `  if (g >= ${lanes}u) { return; }`,
    `  let z = wid.z;`,
    `  let block = g % ${blocks}u;`,
    `  let chunk = g / ${blocks}u;`,
    `  let m4 = (block / ${blocksN}u) * ${bm4}u;`,
    `  let n4 = (block % ${blocksN}u) * ${bn4}u;`,
  );
  const S: string[] = []; // one slice's work, `slice` in scope
  // Accumulators: c{i}_{q} = dW[m + i, n + 4q .. 4q + 3]; cs{q} = db.
  for (let i = 0; i < bm; i++) {
    for (let q = 0; q < bn4; q++) S.push(`  var c${i}_${q} = vec4<f32>();`);
  }
  if (s.colSums) { for (let q = 0; q < bn4; q++) S.push(`  var cs${q} = vec4<f32>();`); }
  S.push(
    `  let end = min((slice + 1u) * ${rows}u, ${BT}u);`,
    `  for (var row = slice * ${rows}u; row < end; row++) {`,
    `    let r = z * ${BT}u + row;`,
  );
  for (let i = 0; i < bm4; i++) {
    const a = `A[r * ${M4}u + m4 + ${i}u]`;
    S.push(`    let a${i} = ${s.geluA ? `gelu4(${a})` : a};`);
  }
  for (let q = 0; q < bn4; q++) S.push(`    let d${q} = dY[r * ${N4}u + n4 + ${q}u];`);
  for (let i = 0; i < bm; i++) {
    for (let q = 0; q < bn4; q++) {
      S.push(`    c${i}_${q} = fma(vec4<f32>(a${i >> 2}.${COMP[i & 3]}), d${q}, c${i}_${q});`);
    }
  }
  if (s.colSums) { for (let q = 0; q < bn4; q++) S.push(`    cs${q} += d${q};`); }
  S.push(`  }`);
  // This slice's part of the scratch, in vec4s (M·N and N are multiples of 4).
  S.push(`  let p = z * ${scratchFloats / 4}u + slice * ${sliceFloats / 4}u;`);
  for (let i = 0; i < bm; i++) {
    for (let q = 0; q < bn4; q++) {
      S.push(`  partials[p + (m4 * 4u + ${i}u) * ${N4}u + n4 + ${q}u] = c${i}_${q};`);
    }
  }
  if (s.colSums) {
    // Every block row saw every row of dY; the first one stores db.
    S.push(`  if (m4 == 0u) {`);
    for (let q = 0; q < bn4; q++) S.push(`    partials[p + ${M * N4}u + n4 + ${q}u] = cs${q};`);
    S.push(`  }`);
  }
  // A chunk's slices one after another, unrolled: on llvmpipe a loop around
  // the rows' loop slowed the kernel even where it ran once
  // (docs/performance.md, "Notes from source comments", row-split weight
  // gradients).
  if (perChunk === 1) L.push(`  let slice = chunk;`, ...S);
  for (let k = 0; k < perChunk && perChunk > 1; k++) {
    L.push(
      `  {`,
      `    let slice = chunk * ${perChunk}u + ${k}u;`,
      ...S.map((l) => `  ${l}`),
      `  }`,
    );
  }
  L.push(`}`);
  const names = bindings.map((b) => b.name);
  return { code: L.join("\n"), bindings: names, grid: [gx, gy], chunks, slices, sliceFloats };
}
