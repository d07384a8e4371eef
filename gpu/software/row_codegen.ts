// The frame and the pieces of fused row kernels for CPU rasterizers: kernels
// in which each lane runs whole rows (token positions) through a chain of
// row-local steps (layernorm, linear layers of a small model, gelu, the lm
// head and its loss) with the chain's weights held in registers.
//
// Why: on llvmpipe every storage access is a loop over a workgroup's 8 lanes
// (~25 ns per vec4) and arithmetic is cheap. A chain of separate kernels
// stores every intermediate row and loads it again, and each matmul reloads
// its weights for every block of outputs. Here a lane loads the weights once
// (the generated code names each vec4 of them as a constant, so they stay
// SSA values, spilled to the stack at worst, which costs plain vector moves)
// and runs `rows` rows (up to 256), touching storage only for the chain's
// inputs and for what the rest of the step reads. The code grows with the
// weights, and so does LLVM's compile time: only small widths are fused (see
// each kernel).
//
// Naming in the emitted WGSL: a row vector `a` of n floats is the vec4s
// a0 .. a{n/4-1}; a matrix `W` [rows][cols] is W{i}_{j}, row i, columns
// 4j .. 4j+3. Everything is vec4: widths are multiples of 4.
import { type BindingDecl, declareBindings, type GeneratedKernel, gridFor } from "../kernels.ts";

/** Lanes per workgroup: one 256-bit vector of f32 on llvmpipe. */
export const ROW_LANES = 8;

export interface RowKernelFrame {
  /** Rows per model (B · T) and positions per sequence computed (memory_plan.ts positionsOf). */
  BT: number;
  T: number;
  /** Positions per sequence that predict a token: the loss's count (memory_plan.ts rowFrameOf). */
  targets: number;
  /** Models (workgroup z). */
  fleet: number;
  /** CPU threads running workgroups (default 2). */
  threads?: number;
  maxWorkgroupsPerDim?: number;
  /** Floats per model of the partial-sums scratch (a multiple of 4; default 0). */
  scratchFloats?: number;
}

/**
 * The code depends on the widths and parameter strides only: batch and fleet
 * sizes share it. Its last binding is the uniform `dims`.
 */
export interface RowKernel extends GeneratedKernel {
  /**
   * The uniform buffer's contents (the last binding): BT, T, rows per lane,
   * INV_COUNT, the scratch's floats per model / 4.
   */
  dims: ArrayBuffer;
}

export interface Binding {
  name: string;
  type: "f32" | "u32" | "vec4<f32>";
  access: "read" | "read_write";
}

/**
 * Rows per lane: the most (up to 256) that still leaves 4 workgroups per CPU
 * thread. A workgroup's first act is loading the kernel's weights, every
 * lane the same vec4s, each load a loop over the lanes, so more rows per
 * lane spread that over more work (docs/performance.md, "What a lane's
 * weights cost" (1)).
 */
export function rowsPerLane(f: RowKernelFrame): number {
  const want = 4 * (f.threads ?? 2);
  for (const r of [256, 128, 64, 32, 16, 8, 4]) {
    if (f.fleet * Math.ceil(Math.ceil(f.BT / r) / ROW_LANES) >= want) return r;
  }
  return 2; // at least 2, so that groups of rows (rowsPerPartial) hold whole pairs (pairRows)
}

/**
 * Rows per partial sum: a lane's accumulators (the layernorms' parameter
 * gradients) are stored, and restarted, after each group of this many rows.
 * The rows per lane are chosen from the fleet size, and the summation order
 * with them; groups of the rows one model alone would take per lane (never
 * more than a fleet's lanes take, both powers of two) keep the order, and so
 * each model's result, the same in any fleet.
 */
export function rowsPerPartial(f: RowKernelFrame): number {
  return rowsPerLane({ ...f, fleet: 1 });
}

/** Partial sums per model (2C floats at most each): one per group of rowsPerPartial rows. */
export function rowPartials(f: RowKernelFrame): number {
  return Math.ceil(f.BT / rowsPerPartial(f));
}

/**
 * The kernel: `bindings` (then the uniform `dims` as the last binding),
 * `prologue` once per lane (weights; `z` is the model), `body` once per row
 * (`row` within the model, `r = z * BT + row`; `BT`, `T` and `dims.invCount`
 * in scope). With partial sums, `accumulators` (`var x = ...;`) are
 * declared before the rows, and after each group of rowsPerPartial rows
 * `epilogue` stores them (`group`, the group's index within its model, and
 * `dims.scratch4` in scope) and they restart. `helpers` go before the entry
 * point.
 */
export function rowKernel(
  f: RowKernelFrame,
  parts: {
    bindings: Binding[];
    helpers?: string;
    prologue: string[];
    body: string[];
    accumulators?: string[];
    epilogue?: string[];
    /** Run the body for two rows at once (pairRows). */
    pairRows?: boolean;
  },
): RowKernel {
  const { BT, T } = f;
  if (BT % T !== 0) throw new RangeError(`BT=${BT} is not a multiple of T=${T}`);
  const R = rowsPerLane(f);
  const G = rowsPerPartial(f);
  const [gx, gy] = gridFor(Math.ceil(BT / R), ROW_LANES, f.maxWorkgroupsPerDim);
  const scratch = f.scratchFloats ?? 0;
  if (scratch % 4 !== 0) throw new RangeError(`scratch of ${scratch} floats: not a multiple of 4`);
  const dims = new ArrayBuffer(32); // a uniform struct's size rounds up to 16 bytes
  new Uint32Array(dims, 0, 3).set([BT, T, R]);
  new Float32Array(dims, 12, 1)[0] = 1 / ((BT / T) * f.targets);
  new Uint32Array(dims, 16, 2).set([scratch / 4, G]);
  const L: string[] = [
    `struct Dims { bt: u32, t: u32, rows: u32, invCount: f32, scratch4: u32, groupRows: u32 }`,
  ];
  const bindings: BindingDecl[] = [
    ...parts.bindings.map((b) => ({ ...b, type: `array<${b.type}>` })),
    { name: "dims", access: "uniform", type: "Dims" },
  ];
  L.push(...declareBindings(bindings));
  if (parts.helpers) L.push(parts.helpers);
  L.push(
    `@compute @workgroup_size(${ROW_LANES})`,
    `fn main(`,
    `  @builtin(workgroup_id) wid: vec3<u32>,`,
    `  @builtin(num_workgroups) groups: vec3<u32>,`,
    `  @builtin(local_invocation_index) lid: u32,`,
    `) {`,
    `  let BT = dims.bt;`,
    `  let T = dims.t;`,
    `  let first = ((wid.y * groups.x + wid.x) * ${ROW_LANES}u + lid) * dims.rows;`,
    `  if (first >= BT) { return; }`,
    `  let z = wid.z;`,
    `  let one = vec4<f32>(1.0);`,
    `  let zero = vec4<f32>(0.0);`,
    ...parts.prologue.map((l) => `  ${l}`),
    ...rowLoops(parts),
    `}`,
  );
  return { code: L.join("\n"), bindings: bindings.map((b) => b.name), grid: [gx, gy], dims };
}

/**
 * The loop over a lane's rows, `first` .. its end: the body per row (or per
 * two, pairRows). Where there are partial sums, the accumulators are
 * declared before it, and after each group of dims.groupRows rows (and at
 * the lane's end) the epilogue stores them and they restart. A loop per
 * group inside the lane's loop did no better, and the groups cost little
 * against none at all (docs/performance.md, "Notes from source comments",
 * groups of rows).
 */
function rowLoops(parts: {
  body: string[];
  accumulators?: string[];
  epilogue?: string[];
  pairRows?: boolean;
}) {
  const step = parts.pairRows ? 2 : 1;
  const groupEnd = parts.epilogue
    ? [
      // Groups start at multiples of groupRows (even: rowsPerLane), so pairs never straddle two.
      `if ((row + ${step}u) % dims.groupRows == 0u || row + ${step}u >= end) {`,
      `  let group = row / dims.groupRows;`,
      ...parts.epilogue.map((l) => `  ${l}`),
      ...(parts.accumulators ?? []).map((l) => `  ${l.replace(/^var\s+/, "")}`),
      `}`,
    ]
    : [];
  const body = parts.pairRows
    ? [
      // Row B: the next row, or row A again at an odd end (see pairRows).
      `let row_b = min(row + 1u, end - 1u);`,
      `let r_b = z * BT + row_b;`,
      `let hasB = row + 1u < end;`,
      ...pairRows(parts.body),
    ]
    : parts.body;
  return [
    `let end = min(first + dims.rows, BT);`,
    ...(parts.accumulators ?? []),
    `for (var row = first; row < end; row += ${step}u) {`,
    `  let r = z * BT + row;`,
    ...[...body, ...groupEnd].map((l) => `  ${l}`),
    `}`,
  ].map((l) => `  ${l}`);
}

/**
 * A body for two rows at once, A (`row`, `r`) and B (`row_b`, `r_b`), each
 * statement followed by its copy for row B, so both rows' products use each
 * weight while it is at hand: on llvmpipe a lane's weights are 8-wide
 * vectors on the stack (32 bytes each; 2,048 weights are 64 KiB, past L1),
 * and reading each of them once per two rows ran a chain of products much
 * faster; four rows gained no more (docs/performance.md, "What a lane's
 * weights cost" (2), and "Notes from source comments", two rows per
 * iteration). Row B's copy renames what the body declares (`let` / `var`) and
 * `row` / `r`. At an odd end row B is row A again: its stores write the
 * same values again (its loads come before row A's stores, statement by
 * statement), and its `x += e;` into lane accumulators (vec4s declared
 * outside the body) adds select(zero, e, hasB) instead.
 */
export function pairRows(body: string[]): string[] {
  const names = new Set(["r", "row"]);
  for (const line of body) {
    const m = /^(?:let|var)\s+(\w+)/.exec(line);
    if (m) names.add(m[1]);
  }
  const text = body.join("\n");
  for (const n of names) {
    if (new RegExp(`\\b${n}_b\\b`).test(text)) throw new Error(`pairRows: ${n}_b is taken`);
  }
  const declared = new RegExp(`(?<![.\\w])(${[...names].join("|")})\\b`, "g");
  const rename = (line: string) => line.replace(declared, "$1_b");
  return body.flatMap((line) => {
    if (line.startsWith("//")) return [line];
    const acc = /^(\w+) \+= (.*);$/.exec(line);
    const b = acc && !names.has(acc[1])
      ? `${acc[1]} += select(zero, ${rename(acc[2])}, hasB);`
      : rename(line);
    return [line, b];
  });
}

/** A read-only storage binding (vec4 unless said). */
export const read = (name: string, type: Binding["type"] = "vec4<f32>"): Binding => ({
  name,
  type,
  access: "read",
});
/** A read-write storage binding (vec4 unless said). */
export const write = (name: string, type: Binding["type"] = "vec4<f32>"): Binding => ({
  name,
  type,
  access: "read_write",
});
/** The vec4 offset of model z's block of a parameter with this stride (floats). */
export const modelOffset = (stride: number) => `z * ${stride / 4}u`;
/** 0 .. n-1, for emitting one line per vec4 or per row. */
export const range = (n: number) => [...Array(n).keys()];

const COMP = ["x", "y", "z", "w"];
const sum = (terms: string[]) => terms.join(" + ");
const float = (x: number) => x.toFixed(1);

/** Component k of row vector `a` (a scalar). */
const elem = (a: string, k: number) => `${a}${k >> 2}.${COMP[k & 3]}`;

/** `let a{j} = buf[base + j]` for the n / 4 vec4s of a row at vec4 offset `base`. */
export function loadRow(a: string, buf: string, n: number, base: string): string[] {
  return range(n / 4).map((j) => `let ${a}${j} = ${buf}[${base} + ${j}u];`);
}

export function storeRow(buf: string, a: string, n: number, base: string): string[] {
  return range(n / 4).map((j) => `${buf}[${base} + ${j}u] = ${a}${j};`);
}

/** `let W{i}_{j}` for a [rows][cols] matrix at vec4 offset `base` of `buf`. */
export function loadMatrix(W: string, buf: string, rows: number, cols: number, base: string) {
  const c4 = cols / 4;
  return range(rows).flatMap((i) =>
    range(c4).map((j) => `let ${W}${i}_${j} = ${buf}[${base} + ${i * c4 + j}u];`)
  );
}

/** out = x · W (+ add terms), W [n][m]: out{j} = Σ_k x[k] W{k}_{j}. */
export function rowTimesMatrix(
  out: string,
  x: string,
  W: string,
  n: number,
  m: number,
  add: (j: number) => string[] = () => [],
): string[] {
  return range(m / 4).map((j) =>
    `let ${out}${j} = ${sum([...add(j), ...range(n).map((k) => `${elem(x, k)} * ${W}${k}_${j}`)])};`
  );
}

/** out = x · Wᵀ, W [m][n]: out[i] = Σ x{k} · W{i}_{k}, four outputs per vec4. */
export function rowTimesTransposed(
  out: string,
  x: string,
  W: string,
  n: number,
  m: number,
): string[] {
  return range(m / 4).map((j) => {
    const outs = range(4).map((i) =>
      sum(range(n / 4).map((k) => `dot(${x}${k}, ${W}${4 * j + i}_${k})`))
    );
    return `let ${out}${j} = vec4<f32>(${outs.join(", ")});`;
  });
}

/**
 * Layernorm forward of row `x` (n floats), as layernorm_forward.wgsl
 * (biased variance, eps 1e-5): `${p}mean`, `${p}rstd`, normalized `${p}n`,
 * output `${p}y` = n * g + h (g, h row vectors of the parameters).
 */
export function layerNormForward(p: string, x: string, g: string, h: string, n: number) {
  const js = range(n / 4);
  return [
    `let ${p}mean = dot(${sum(js.map((j) => `${x}${j}`))}, one) / ${float(n)};`,
    ...js.map((j) => `let ${p}d${j} = ${x}${j} - ${p}mean;`),
    `let ${p}rstd = inverseSqrt(dot(${sum(js.map((j) => `${p}d${j} * ${p}d${j}`))}, one) / ${
      float(n)
    } + 1e-5);`,
    ...js.flatMap((j) => [
      `let ${p}n${j} = ${p}d${j} * ${p}rstd;`,
      `let ${p}y${j} = ${p}n${j} * ${g}${j} + ${h}${j};`,
    ]),
  ];
}

/**
 * A row's layernorm forward from binding `x` (n floats at vec4 offset
 * `base`): the steps of layerNormForward with `p` = "", then y, mean and
 * rstd stored to bindings yOut, meanOut and rstdOut for the backward.
 */
export function layerNormForwardStored(g: string, h: string, n: number): string[] {
  return [
    ...loadRow("x", "x", n, "base"),
    ...layerNormForward("", "x", g, h, n),
    ...storeRow("yOut", "y", n, "base"),
    `meanOut[r] = mean;`,
    `rstdOut[r] = rstd;`,
  ];
}

/**
 * Layernorm input gradient, as layernorm_backward.wgsl: with gg = dy * g,
 * `${p}dx` = rstd * (gg - mean(gg) - nrm * mean(gg * nrm)); `nrm` is the
 * normalized row, `rstd` an expression.
 */
export function layerNormBackward(
  p: string,
  dy: string,
  g: string,
  nrm: string,
  rstd: string,
  n: number,
) {
  const js = range(n / 4);
  return [
    ...js.map((j) => `let ${p}gg${j} = ${dy}${j} * ${g}${j};`),
    `let ${p}gMean = dot(${sum(js.map((j) => `${p}gg${j}`))}, one) / ${float(n)};`,
    `let ${p}gnMean = dot(${sum(js.map((j) => `${p}gg${j} * ${nrm}${j}`))}, one) / ${float(n)};`,
    ...js.map((j) =>
      `let ${p}dx${j} = ${rstd} * (${p}gg${j} - ${p}gMean - ${nrm}${j} * ${p}gnMean);`
    ),
  ];
}

/**
 * A layernorm's parameter gradients, summed over a group of rows: with dy
 * the gradient of its output and nrm its normalized input (row vectors of
 * n floats), dw += dy * nrm and db += dy. The kernel's `accumulators`,
 * `accumulate` in the body, `store` in the epilogue: the group's partial
 * sums (dw, then db) at its slice of `buf` (vec4, [K, scratch] with 2n
 * floats per group of rows), which split_sum.ts adds up.
 */
export function layerNormParamPartials(dy: string, nrm: string, n: number, buf: string) {
  const js = range(n / 4);
  return {
    accumulators: js.flatMap((j) => [`var pdw${j} = zero;`, `var pdb${j} = zero;`]),
    accumulate: js.flatMap((j) => [`pdw${j} += ${dy}${j} * ${nrm}${j};`, `pdb${j} += ${dy}${j};`]),
    store: [
      `let pp = z * dims.scratch4 + group * ${n / 2}u;`,
      ...js.map((j) => `${buf}[pp + ${j}u] = pdw${j};`),
      ...js.map((j) => `${buf}[pp + ${n / 4 + j}u] = pdb${j};`),
    ],
  };
}
