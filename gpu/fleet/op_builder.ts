// Turns kernels into the ops of one fleet: every op runs the whole fleet
// (its grid's z is the model), binds the fleet's buffers by name, and is
// built once and replayed every step. The kernel families (hardware_family.ts,
// ../software/family.ts) build their forward and backward from these.
import {
  type Buffers,
  type ConstValue,
  type GeneratedKernel,
  gridFor,
  Kernels,
  type Op,
} from "../kernels.ts";
import type { MatmulShape, MatmulTuning } from "../matmul/shape.ts";
import { planMatmul } from "../matmul/plan.ts";
import { type FleetShape, positionsOf } from "../memory_plan.ts";
import type { SplitSumPlan } from "../split_sum.ts";
import type { ModelConfig } from "../../lib/model/schemas.ts";
import type { FleetBuffers } from "./buffers.ts";

/** Threads per workgroup of the static shaders and the sums. */
export const WG = 64;

/** A matmul's shape without what its buffers decide (bias, addend, geluGrad, colSums). */
export type MatmulOpShape =
  & Omit<MatmulShape, "bias" | "addend" | "geluGrad" | "colSums" | "fleet" | "transA" | "transB">
  & Partial<Pick<MatmulShape, "transA" | "transB">>;

export class OpBuilder {
  readonly config: ModelConfig;
  /** Models, sequences per model, positions computed per sequence, rows per model (B · P). */
  readonly K: number;
  readonly B: number;
  readonly P: number;
  readonly BT: number;
  readonly kernels: Kernels;

  constructor(
    readonly buffers: FleetBuffers,
    /** The fleet's shape with its kernel family decided. */
    readonly shape: FleetShape & { kernels: "software" | "hardware" },
    readonly tuning: MatmulTuning,
    /** Floats per model of the "split_scratch" buffer (0: no reduction is split). */
    readonly splitScratch: number,
  ) {
    this.config = shape.config;
    this.K = shape.fleetSize;
    this.B = shape.batchSize;
    this.P = positionsOf(shape);
    this.BT = this.B * this.P;
    this.kernels = Kernels.forDevice(buffers.device);
  }

  /** An op of a static shader (shaders/<shader>.wgsl), `threads` threads per model. */
  async staticOp(
    shader: string,
    consts: Record<string, ConstValue>,
    buffers: Buffers,
    threads: number,
    label = shader,
  ): Promise<Op> {
    const [gx, gy] = gridFor(threads, WG);
    const code = await this.kernels.source(shader, { ...consts, GX: gx, WG });
    return this.kernels.op(label, this.kernels.kernel(code, shader), buffers, [gx, gy, this.K]);
  }

  /** An op from generated WGSL; `name`: the kernel's, for errors (the label without its layer). */
  generatedOp(
    label: string,
    kernel: GeneratedKernel,
    buffers: Buffers,
    name = label.replace(/\.\d+$/, ""),
  ): Op {
    const compiled = this.kernels.kernel(kernel.code, name, kernel.bindings);
    return this.kernels.op(label, compiled, buffers, [kernel.grid[0], kernel.grid[1], this.K]);
  }

  /** The op adding a split reduction's slices from the scratch into its outputs. */
  splitSumOp(
    label: string,
    sum: SplitSumPlan,
    out1: GPUBufferBinding,
    out2?: GPUBufferBinding,
  ): Op {
    const partials = this.buffers.act("split_scratch");
    const buffers: Buffers = out2 ? { partials, out1, out2 } : { partials, out1 };
    return this.generatedOp(`${label}.sum`, sum, buffers, "split_sum");
  }

  /**
   * C = op(A) · op(B) (+ bias, + addend, ⊙ gelu'(geluGradOf)) with a matmul
   * planned for this shape (matmul/); two ops where k is split.
   */
  matmulOp(
    label: string,
    shape: MatmulOpShape,
    buffers: {
      A: GPUBufferBinding;
      B: GPUBufferBinding;
      C: GPUBufferBinding;
      bias?: GPUBufferBinding;
      addend?: GPUBufferBinding;
      /** C = product ⊙ gelu'(geluGradOf) (see matmul/shape.ts). */
      geluGradOf?: GPUBufferBinding;
      /** Also write the column sums of op(B) here (a bias gradient). */
      colSums?: GPUBufferBinding;
    },
  ): Op[] {
    const { A, B, C, bias, addend, geluGradOf, colSums } = buffers;
    const plan = planMatmul({
      transA: false,
      transB: false,
      ...shape,
      bias: bias !== undefined,
      addend: addend !== undefined,
      geluGrad: geluGradOf !== undefined,
      colSums: colSums !== undefined,
      fleet: this.K, // the planner sizes blocks for the whole fleet's work
      splitScratch: this.splitScratch,
    }, this.tuning);
    if (plan.split) {
      // Partial products into the scratch, then their sum into C (and colSums).
      return [
        this.generatedOp(label, plan, { A, B, C: this.buffers.act("split_scratch") }, "matmul"),
        this.splitSumOp(label, plan.split.sum, C, colSums),
      ];
    }
    const operand = { bias, addend, aux: geluGradOf, colSums };
    const operands = Object.fromEntries(plan.operands.map((name) => [name, operand[name]!]));
    return [this.generatedOp(label, plan, { A, B, C, ...operands }, "matmul")];
  }
}
