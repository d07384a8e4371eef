// The partial sums' scratch of a training fleet with fused kernels. The
// row-split weight gradients and the fused kernels' layernorm parameter
// gradients each write partial sums over groups of rows into a region of
// their own ([K, stride] floats from `from`); one op adds them all into the
// gradients at the end of backward (planSegmentSums). Regions are taken in
// the order the ops are built, and that op lists them in that order.
import type { Op } from "../kernels.ts";
import { partialsLayout, partialsRegionFloats } from "../memory_plan.ts";
import { planSegmentSums, type SumSegment } from "../split_sum.ts";
import type { TensorRole } from "../../lib/model/layout.ts";
import { type OpBuilder, WG } from "../fleet/op_builder.ts";

export class PartialSums {
  /** The fused layernorms' floats per model (the row kernels' dims.scratch4 · 4). */
  readonly lnStride: number;
  private readonly floats: number;
  private used = 0;
  private sums: SumSegment[] = [];

  private constructor(
    private readonly ops: OpBuilder,
    layout: { lnStride: number; floats: number },
  ) {
    this.lnStride = layout.lnStride;
    this.floats = layout.floats;
  }

  /** The fleet's scratch as memory_plan.ts' partialsLayout sized it, or undefined where it has none. */
  static of(ops: OpBuilder): PartialSums | undefined {
    const layout = partialsLayout(ops.shape);
    return layout.floats === 0 ? undefined : new PartialSums(ops, layout);
  }

  /**
   * A producer's region, and the segment that sums it into the gradients:
   * `splits` slices per model, each the outputs' lengths in a row; an output
   * is a parameter's gradient block.
   */
  region(
    label: string,
    need: number,
    splits: number,
    outputs: { role: TensorRole; layer: number; length: number }[],
  ): { binding: GPUBufferBinding; stride: number } {
    const K = this.ops.K, f = this.ops.buffers;
    const stride = Math.ceil(need / 4) * 4;
    const from = this.used;
    this.used += partialsRegionFloats(K, need);
    if (this.used > this.floats) throw new Error(`${label}: the partials scratch is full`);
    this.sums.push({
      label,
      from,
      stride,
      splits,
      outputs: outputs.map((o) => {
        const t = f.tensor(o.role, o.layer);
        return { offset: t.blockOffset, stride: t.stride, length: o.length };
      }),
    });
    const buffer = f.act("partials").buffer;
    return { binding: { buffer, offset: from * 4, size: K * stride * 4 }, stride };
  }

  /** The one op adding up every region into the gradients; built after every producer. */
  sumOp(): Op {
    // The memory plan sized the scratch for these producers; it must have named each one.
    if (this.used !== this.floats) {
      throw new Error(
        `partials: the plan made ${this.floats} floats, the regions take ${this.used}`,
      );
    }
    const plan = planSegmentSums(this.sums, WG, this.ops.tuning.maxWorkgroupsPerDim);
    const f = this.ops.buffers;
    return this.ops.generatedOp("partial_sums", plan, {
      partials: f.act("partials"),
      grads: { buffer: f.grads! },
    });
  }
}
