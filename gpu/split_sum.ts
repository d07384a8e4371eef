// Split reductions: a long sum (over the B·T rows of a batch) that a few
// dozen workgroups would otherwise walk alone is cut into `splits` slices,
// each slice's workgroups write their partial result to a scratch buffer,
// and this kernel adds the slices up in a fixed order (so results stay
// reproducible, with no float atomics):
//   out1[z, e]          = Σ_s partials[z, s, e]            for e < length1
//   out2[z, e - length1] = Σ_s partials[z, s, e]           for length1 ≤ e < length1 + length2
// On a large GPU a weight gradient dW = Xᵀ·dY at batch 2048 has 4,096
// outputs and a 131,072-long reduction: without the split a few workgroups
// walk it while the rest of the GPU idles, and such sums took most of a step
// (docs/performance.md, "Notes from source comments", split reductions).
import { type BindingDecl, declareBindings, type GeneratedKernel } from "./kernels.ts";

/** Floats of the scratch buffer per model (4 MiB), where a fleet splits reductions at all. */
export const SPLIT_SCRATCH_FLOATS = 1 << 20;

/**
 * Threads a fleet's split reductions aim for in one dispatch: half of what a
 * large GPU holds resident keeps it busy (docs/performance.md, "Notes from
 * source comments", split reductions).
 */
const SPLIT_TARGET_THREADS = 1 << 17;

/**
 * Slices to cut a reduction of `length` terms into (a power of two; 1: no
 * split): as many as keep the fleet's threads within SPLIT_TARGET_THREADS,
 * each slice at least `minSlice` long and a multiple of `multipleOf`
 * (0 = slices need not divide evenly), all slices' partials within `scratch`.
 */
export function splitCount(o: {
  length: number;
  /** Threads one slice of one model runs. */
  threadsPerSlice: number;
  fleet: number;
  minSlice: number;
  multipleOf: number;
  /** Floats one slice writes, and the scratch's floats per model. */
  sliceFloats: number;
  scratch: number;
}): number {
  const fits = (n: number) =>
    o.threadsPerSlice * n * o.fleet <= SPLIT_TARGET_THREADS && o.length / n >= o.minSlice &&
    (o.multipleOf === 0 || o.length % (n * o.multipleOf) === 0) && n * o.sliceFloats <= o.scratch;
  let n = 1;
  while (fits(n * 2)) n *= 2;
  return n;
}

export interface SplitSumShape {
  /** Slices to add up. */
  splits: number;
  /** Floats of one slice: length1 for out1, then length2 for out2 (0: no out2). */
  length1: number;
  length2: number;
  /** Per-model strides of the outputs and of the scratch, in floats. */
  stride1: number;
  stride2: number;
  scratchStride: number;
  workgroupSize: number;
  maxWorkgroupsPerDim: number;
}

export type SplitSumPlan = GeneratedKernel;

/** The summing kernel: bindings partials, out1 (and out2 where length2 > 0). */
export function planSplitSum(s: SplitSumShape): SplitSumPlan {
  const total = s.length1 + s.length2;
  if (s.splits * total > s.scratchStride) {
    throw new RangeError(`split sum: ${s.splits} x ${total} floats exceed the scratch`);
  }
  const wg = s.workgroupSize;
  const groups = Math.ceil(total / wg);
  const gx = Math.min(groups, s.maxWorkgroupsPerDim);
  const gy = Math.ceil(groups / gx);
  const bindings: BindingDecl[] = [
    { name: "partials", access: "read", type: "array<f32>" },
    { name: "out1", access: "read_write", type: "array<f32>" },
  ];
  if (s.length2 > 0) bindings.push({ name: "out2", access: "read_write", type: "array<f32>" });
  const L = [
    `// split sum: ${s.splits} slices of ${s.length1} + ${s.length2} floats`,
    ...declareBindings(bindings),
  ];
  L.push(
    `@compute @workgroup_size(${wg})`,
    "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {",
    `  let e = (wid.y * ${gx}u + wid.x) * ${wg}u + lid;`,
    `  if (e >= ${total}u) { return; }`,
    "  let z = wid.z;",
    `  let base = z * ${s.scratchStride}u + e;`,
    "  var sum = 0.0;",
    `  for (var i = 0u; i < ${s.splits}u; i++) { sum += partials[base + i * ${total}u]; }`,
  );
  if (s.length2 > 0) {
    L.push(
      `  if (e < ${s.length1}u) { out1[z * ${s.stride1}u + e] = sum; }`,
      `  else { out2[z * ${s.stride2}u + e - ${s.length1}u] = sum; }`,
    );
  } else {
    L.push(`  out1[z * ${s.stride1}u + e] = sum;`);
  }
  L.push("}");
  return { code: L.join("\n"), bindings: bindings.map((b) => b.name), grid: [gx, gy] };
}

/**
 * One gradient's partial sums in a fleet's partials scratch (the fused
 * kernels' and row-split weight gradients' partials, gpt_fleet.ts): model
 * z's `splits` slices at from + z · stride, each slice the outputs' lengths
 * in a row; output o of model z at offset + z · stride in the gradients.
 */
export interface SumSegment {
  label: string;
  from: number;
  stride: number;
  splits: number;
  outputs: { offset: number; stride: number; length: number }[];
}

/**
 * All of a step's partial sums in one kernel (bindings: partials, grads;
 * all offsets in floats): one dispatch instead of one per gradient, at the
 * end of backward. Each dispatch on llvmpipe costs a hand-off to its worker
 * threads and a wait for the last of them, about as much as these small sums
 * themselves. Each workgroup takes WG elements of one segment and picks that
 * segment's facts with selects, without branches or tables: llvmpipe seems
 * to run each branch's loop, masked, wherever its lanes are not all of one
 * mind, and to copy a constant array per access, and both ran several times
 * slower. It adds vec4s (every offset, stride and length is a multiple of
 * 4), a quarter of the loads of adding floats (docs/performance.md, "What a
 * lane's weights cost" (6), "Fleet-independent sums", and "Notes from source
 * comments", segment sums).
 */
export function planSegmentSums(
  segments: SumSegment[],
  workgroupSize: number,
  maxWorkgroupsPerDim: number,
): SplitSumPlan {
  const wg = workgroupSize;
  const table: Record<string, number[]> = { // one column per fact, one row per segment
    FROM: [],
    STRIDE: [],
    SPLITS: [],
    SLICE: [],
    LEN1: [],
    OUT1: [],
    STRIDE1: [],
    OUT2: [],
    STRIDE2: [],
  };
  const groupSegment: number[] = [];
  segments.forEach((s, i) => {
    if (s.outputs.length < 1 || s.outputs.length > 2) {
      throw new RangeError(`${s.label}: ${s.outputs.length} outputs (1 or 2 summed)`);
    }
    const [o1, o2] = s.outputs;
    const slice = o1.length + (o2?.length ?? 0);
    const row = [s.from, s.stride, s.splits, slice, o1.length, o1.offset, o1.stride];
    row.push(o2?.offset ?? 0, o2?.stride ?? 0);
    // In vec4s, but for the count of slices (column 2).
    if (row.some((x, c) => c !== 2 && x % 4 !== 0)) {
      throw new RangeError(`${s.label}: not in whole vec4s`);
    }
    row.forEach((x, c) => row[c] = c === 2 ? x : x / 4);
    Object.values(table).forEach((column, c) => column.push(row[c]));
    for (let k = 0; k < slice / 4; k += wg) groupSegment.push(i);
  });
  const groups = groupSegment.length;
  const gx = Math.min(groups, maxWorkgroupsPerDim);
  const gy = Math.ceil(groups / gx);
  // Segment s's start (in workgroups): s = how many starts g has passed.
  const starts = segments.map((_, i) => groupSegment.indexOf(i)).slice(1);
  const pick = (v: number[]) =>
    v.slice(1).reduce((e, x, i) => `select(${e}, ${x}u, s == ${i + 1}u)`, `${v[0]}u`);
  const bindings: BindingDecl[] = [
    { name: "partials", access: "read", type: "array<vec4<f32>>" },
    { name: "grads", access: "read_write", type: "array<vec4<f32>>" },
  ];
  const L = [
    `// partial sums: ${segments.map((s) => s.label).join(", ")}`,
    ...declareBindings(bindings),
    `@compute @workgroup_size(${wg})`,
    "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {",
    `  let g = wid.y * ${gx}u + wid.x;`,
    `  if (g >= ${groups}u) { return; }`,
    `  let s = ${starts.map((g) => `select(0u, 1u, g >= ${g}u)`).join(" + ") || "0u"};`,
    ...Object.entries(table).map(([name, v]) => `  let s${name} = ${pick(v)};`),
    `  let k = (g - ${pick([0, ...starts])}) * ${wg}u + lid;`,
    "  if (k >= sSLICE) { return; }",
    "  let z = wid.z;",
    "  let base = sFROM + z * sSTRIDE + k;",
    "  var sum = vec4<f32>();",
    "  for (var i = 0u; i < sSPLITS; i++) { sum += partials[base + i * sSLICE]; }",
    "  if (k < sLEN1) { grads[sOUT1 + z * sSTRIDE1 + k] = sum; }",
    "  else { grads[sOUT2 + z * sSTRIDE2 + k - sLEN1] = sum; }",
    "}",
  ];
  return { code: L.join("\n"), bindings: bindings.map((b) => b.name), grid: [gx, gy] };
}
