// What a generated matmul computes, and what both kernel variants share:
//   C[M,N] = op(A)[M,K] · op(B)[K,N] (+ bias[N]) (+ addend[M,N])
// or, with geluGrad, C = (op(A) · op(B)) ⊙ gelu'(aux[M,N]).
// op(A) = A stored [M,K], or Aᵀ with A stored [K,M] (transA), and with
// geluA every element of it passes through gelu as it is loaded: the MLP
// reads its pre-activation directly, so gelu(x) is never stored and the
// backward gelu' is applied where dx is written (fewer loads and stores,
// which is what costs on a CPU rasterizer, and two dispatches fewer).
// With colSums, the kernel also writes colSums[n] = Σ_k op(B)[k, n]: in a
// weight gradient dW = Xᵀ · dY those are the bias gradient's column sums of
// dY, taken from values the kernel loads anyway (the lanes of the first row
// block see every k) instead of by a separate pass over dY.
// op(B) = B stored [K,N], or Bᵀ with B stored [N,K] (transB).
// Every tensor is a binding holding a fleet of models; model z (workgroup
// id z) starts at z * stride. Both kernel families below are correct on any
// adapter; the tuning picks one.
//
// The variants: shared.ts (CPU rasterizers) and generic.ts (GPUs); plan.ts
// picks one by the tuning.
import type { SplitSumPlan } from "../split_sum.ts";
import type { BindingDecl, GeneratedKernel } from "../kernels.ts";

export interface MatmulShape {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  bias: boolean;
  addend: boolean;
  /** op(A) elements are gelu(A) (GPT-2's tanh form). */
  geluA?: boolean;
  /** C = product ⊙ gelu'(aux), aux laid out as C (no bias or addend). */
  geluGrad?: boolean;
  /** Also write colSums[n] = Σ_k op(B)[k, n] (per-model stride strideColSums). */
  colSums?: boolean;
  strideColSums?: number;
  /** Per-model strides in elements (defaults: the dense sizes). */
  strideA?: number;
  strideB?: number;
  strideBias?: number;
  strideC?: number;
  /** Models dispatched together (workgroup z); guides the block choice and the split. */
  fleet?: number;
  /**
   * "generic" only: floats per model of a scratch buffer across which the
   * kernel may split a long k loop (0 or absent: never). Then the kernel
   * writes partial products there and a second kernel adds them into C and
   * colSums (see split_sum.ts). Only a plain product (no bias, addend or
   * geluGrad) splits: the weight gradients, whose k is the batch's B·T rows.
   */
  splitScratch?: number;
}

/** Bindings A, B, C, then the operands. */
export interface MatmulPlan extends GeneratedKernel {
  workgroupSize: number;
  rm: number;
  rn: number;
  vec: number;
  variant?: "shared" | "generic";
  /** What the kernel binds after A, B and C (bindings 3, 4, ...), in order. */
  operands: ExtraOperand[];
  /**
   * k split into `count` slices: the kernel's binding 2 is the scratch (not
   * C, and no colSums binding); `sum` then reads the scratch and writes C
   * (its out1) and colSums (its out2).
   */
  split?: { count: number; sum: SplitSumPlan };
}

export interface MatmulTuning {
  /** Largest register block edge (rows, cols) to try. */
  maxRm: number;
  maxRn: number;
  workgroupSize: number;
  maxWorkgroupsPerDim: number;
  /**
   * "generic": blocks of exactly maxRm x maxRn here, where they divide M and
   * N and the ordinary blocks would give at least `minThreads` threads (the
   * fleet's included): fewer loads per output where the GPU stays full
   * either way.
   */
  largeBlock?: { minThreads: number; maxRm: number; maxRn: number };
  /** "shared" for CPU rasterizers (see above); default "generic". */
  variant?: "shared" | "generic";
  /** "shared": CPU threads running workgroups, to keep them all busy (default 2). */
  threads?: number;
  /**
   * "shared": largest register block rm * rn (default 1024). 2048 (64 x 32)
   * runs the lm-head shapes a little faster but takes far longer to compile
   * (docs/performance.md, "Notes from source comments", the "shared"
   * matmul's cost model).
   */
  maxBlock?: number;
  /**
   * "shared": compile time is charged as if spread over this many
   * dispatches (default 1000); lower favors smaller, faster-compiling blocks.
   */
  compileAmortization?: number;
}

export const SOFTWARE_TUNING: MatmulTuning = {
  maxRm: 64,
  maxRn: 64,
  workgroupSize: 8,
  maxWorkgroupsPerDim: 65535,
  variant: "shared",
  threads: Math.max(1, globalThis.navigator?.hardwareConcurrency ?? 2),
};
export const HARDWARE_TUNING: MatmulTuning = {
  maxRm: 4,
  maxRn: 4,
  // 8x8 blocks only where 4x4 ones would give a million threads or more:
  // there they load less per output with the GPU still full; on smaller
  // shapes they were no faster, or slower (docs/performance.md, "Notes from
  // source comments", 8x8 blocks on a GPU).
  largeBlock: { minThreads: 1 << 20, maxRm: 8, maxRn: 8 },
  workgroupSize: 64,
  maxWorkgroupsPerDim: 65535,
  variant: "generic",
};

/** Per-model strides in elements of every binding (the dense sizes by default). */
export interface Strides {
  a: number;
  b: number;
  bias: number;
  c: number;
  colSums: number;
}

export function stridesOf(s: MatmulShape): Strides {
  return {
    a: s.strideA ?? s.M * s.K,
    b: s.strideB ?? s.K * s.N,
    bias: s.strideBias ?? s.N,
    c: s.strideC ?? s.M * s.N,
    colSums: s.strideColSums ?? s.N,
  };
}

/** An optional operand of a matmul kernel, bound after A, B and C. */
export type ExtraOperand = "bias" | "addend" | "aux" | "colSums";

/** The optional operands a shape needs, in binding order: the one order for kernels and callers. */
export function extraOperands(s: MatmulShape): ExtraOperand[] {
  const out: ExtraOperand[] = [];
  if (s.bias) out.push("bias");
  if (s.addend) out.push("addend");
  if (s.geluGrad) out.push("aux"); // the geluGrad operand
  if (s.colSums) out.push("colSums");
  return out;
}

/** The operands' bindings (after A, B and C) with each one's array type. */
export function operandBindings(
  operands: ExtraOperand[],
  type: Record<ExtraOperand, string>,
): BindingDecl[] {
  return operands.map((name) => ({
    name,
    access: name === "colSums" ? "read_write" : "read",
    type: type[name],
  }));
}

/** A vector's components by index. */
export const COMP = ["x", "y", "z", "w"];

export function largestDivisor(n: number, max: number, multipleOf = 1): number {
  for (let r = max; r >= 1; r--) {
    if (n % r === 0 && r % multipleOf === 0) return r;
  }
  return 1;
}

export function grid2d(groups: number, maxPerDim: number): [number, number] {
  const gx = Math.min(Math.max(1, groups), maxPerDim);
  return [gx, Math.ceil(Math.max(1, groups) / gx)];
}

/** Both kernel generators refuse epilogues they cannot combine. */
export function checkEpilogue(s: MatmulShape) {
  if (s.geluGrad && (s.bias || s.addend)) {
    throw new Error("matmul: geluGrad takes no bias or addend");
  }
}
