// The software family: kernels for CPU rasterizers (llvmpipe), where every
// dispatch and every storage access costs far more than arithmetic. Small
// models get fused row kernels (row_codegen.ts): the head (layernorm, logits,
// loss and their backward in one kernel), each block's attention input and
// MLP, and weight gradients split along the rows, whose partial sums one op
// adds up at the end (partial_sums.ts). Short sequences get one attention
// lane per whole (batch, head) pair. Where a fused kernel does not serve,
// the hardware family's kernels run, with the CPU's matmul tuning.
import type { Op } from "../kernels.ts";
import {
  attentionBackward as jointAttentionBackward,
  attentionForwardJoint,
  type AttentionKernel,
  usesJointAttention,
} from "../attention_codegen.ts";
import { fusesSmallModels, rowFrameOf, rowSplitShape } from "../memory_plan.ts";
import type { TensorRole } from "../../lib/model/layout.ts";
import { HardwareFamily } from "../fleet/hardware_family.ts";
import type { OpBuilder } from "../fleet/op_builder.ts";
import {
  blockFusable,
  mlpBackward,
  mlpForward,
  type MlpShape,
  projBackward,
  projForward,
  type ProjShape,
  qkvBackward,
  qkvForward,
  type QkvShape,
} from "./block_codegen.ts";
import { headFusable, trainHead } from "./head_codegen.ts";
import { type RowKernel, rowPartials } from "./row_codegen.ts";
import { planWeightGrad, weightGradScratch, weightGradSlices } from "./weight_grad_codegen.ts";
import { PartialSums } from "./partial_sums.ts";

export class SoftwareFamily extends HardwareFamily {
  /** Whether the fused kernels serve this fleet at all (the `fuse` option, default on). */
  private readonly fuse: boolean;
  /** Whether the block's fused kernels serve: fused, and d small (block_codegen.ts). */
  private readonly fusedBlock: boolean;
  /** A lane per whole (batch, head) pair: short sequences. */
  private readonly jointAttention: boolean;
  private readonly partials?: PartialSums;
  /** The uniform buffer of the row kernels' dimensions (one per fleet) and its contents. */
  private rowDims?: { buffer: GPUBuffer; dims: ArrayBuffer };

  constructor(ops: OpBuilder) {
    super(ops);
    this.fuse = fusesSmallModels(ops.shape);
    this.fusedBlock = this.fuse && blockFusable(ops.config.dModel);
    this.jointAttention = usesJointAttention("software", ops.P);
    this.partials = PartialSums.of(ops);
  }

  // ---- forward -----------------------------------------------------------

  override async layerForward(l: number): Promise<Op[]> {
    if (!this.fusedBlock) return await super.layerForward(l);
    const f = this.f;
    return [
      // ln1, mean, rstd = layernorm(resid.l); qkv [B·T, 3C] = ln1 · Wqkv + b
      this.rowOp(`qkv_forward.${l}`, qkvForward(this.qkvShape(l)), {
        x: f.layer("resid", l),
        lnw: f.p("ln1_w", l),
        lnb: f.p("ln1_b", l),
        qkvw: f.p("qkv_w", l),
        qkvb: f.p("qkv_b", l),
        yOut: f.layer("ln1", l),
        meanOut: f.layer("ln1_mean", l),
        rstdOut: f.layer("ln1_rstd", l),
        qkvOut: f.layer("qkv", l),
      }),
      // atty [B·T, C] = causal attention of qkv; lse kept
      this.attentionForward(l),
      // resid_mid [B·T, C] = resid.l + atty · Wproj + b
      this.rowOp(`attproj.${l}`, projForward(this.projShape(l)), {
        a: f.layer("atty", l),
        x: f.layer("resid", l),
        pw: f.p("attproj_w", l),
        pb: f.p("attproj_b", l),
        out: f.layer("resid_mid", l),
      }),
      // ln2 = layernorm(resid_mid); fch [B·T, 4C] = ln2 · Wfc + b;
      // resid.l+1 [B·T, C] = resid_mid + gelu(fch) · Wfcproj + b
      this.rowOp(`mlp_forward.${l}`, mlpForward(this.mlpShape(l)), {
        x: f.layer("resid_mid", l),
        lnw: f.p("ln2_w", l),
        lnb: f.p("ln2_b", l),
        fcw: f.p("fc_w", l),
        fcb: f.p("fc_b", l),
        projw: f.p("fcproj_w", l),
        projb: f.p("fcproj_b", l),
        yOut: f.layer("ln2", l),
        meanOut: f.layer("ln2_mean", l),
        rstdOut: f.layer("ln2_rstd", l),
        hOut: f.layer("fch", l),
        out: f.layer("resid", l + 1),
      }),
    ];
  }

  protected override attentionForwardKernel(): AttentionKernel {
    return this.jointAttention
      ? attentionForwardJoint(this.attentionShape())
      : super.attentionForwardKernel();
  }

  // ---- backward ----------------------------------------------------------

  override headWeightGrad(): Op[] {
    const { vocabSize: V, dModel: C } = this.ops.config, f = this.f;
    const shape = rowSplitShape(this.ops.shape, V, C, false, false);
    if (!shape) return super.headWeightGrad();
    // dwte [V, C] = dlogitsᵀ · lnf, split along the rows
    return [this.rowSplitWeightGrad("dwte.head", shape, f.act("logits"), f.act("lnf"), "wte", -1)];
  }

  override async trainHead(forwardHead: Op[], dwte: Op[]): Promise<Op[]> {
    const { vocabSize: V, dModel: C, layers } = this.ops.config, f = this.f;
    if (!(this.fuse && headFusable(C, V))) return await super.trainHead(forwardHead, dwte);
    // One kernel in place of the final layernorm, the lm head, the loss, dlnf
    // and the layernorm's backward: from resid.L it writes lnf, its mean and
    // rstd, dlogits (in logits), the losses, dres and the layernorm's
    // parameter-gradient partials.
    const head = trainHead({
      ...this.rowFrame(),
      C,
      V,
      lnStride: f.tensor("lnf_w").stride,
      wteStride: f.tensor("wte").stride,
    });
    return [
      this.rowOp("train_head", head, {
        targets: f.act("targets"),
        x: f.layer("resid", layers),
        lnw: f.p("lnf_w"),
        lnb: f.p("lnf_b"),
        wte: f.p("wte"),
        yOut: f.act("lnf"),
        meanOut: f.act("lnf_mean"),
        rstdOut: f.act("lnf_rstd"),
        dlogits: f.act("logits"),
        dx: f.act("dres"),
        losses: f.act("losses"),
        partials: this.layerNormPartials("lnf.params", "lnf_w", "lnf_b"),
      }),
      ...dwte,
    ];
  }

  override async layerBackward(l: number): Promise<Op[]> {
    if (!this.fusedBlock) return await super.layerBackward(l);
    const f = this.f;
    const fcproj = this.fcprojBackward(l), fc = this.fcBackward(l);
    const attproj = this.attprojBackward(l), qkv = this.qkvBackward(l);
    return [
      // dWfcproj, dbfcproj from dres, before the MLP kernel overwrites dres
      ...fcproj.dw(),
      // dfch [B·T, 4C] = dres · Wfcprojᵀ ⊙ gelu'(fch); dln2 = dfch · Wfcᵀ;
      // dres += layernorm2 backward; dln2_w, dln2_b partials
      this.rowOp(`mlp_backward.${l}`, mlpBackward(this.mlpShape(l)), {
        dres: f.act("dres"),
        h: f.layer("fch", l),
        x: f.layer("resid_mid", l),
        mean: f.layer("ln2_mean", l),
        rstd: f.layer("ln2_rstd", l),
        lnw: f.p("ln2_w", l),
        fcw: f.p("fc_w", l),
        projw: f.p("fcproj_w", l),
        dhOut: f.act("dfch"),
        partials: this.layerNormPartials(`ln2.${l}.params`, "ln2_w", "ln2_b", l),
      }),
      // dWfc, dbfc
      ...fc.dw(),
      // datty [B·T, C] = dres · Wprojᵀ
      this.rowOp(`attproj.${l}.dx`, projBackward(this.projShape(l)), {
        dres: f.act("dres"),
        pw: f.p("attproj_w", l),
        da: f.act("datty"),
      }),
      // dWproj, dbproj
      ...attproj.dw(),
      // dqkv [B·T, 3C] = attention backward of datty
      ...this.attentionBackward(l),
      // dln1 = dqkv · Wqkvᵀ; dres += layernorm1 backward; dln1_w, dln1_b partials
      this.rowOp(`qkv_backward.${l}`, qkvBackward(this.qkvShape(l)), {
        dres: f.act("dres"),
        dqkv: f.act("dqkv"),
        x: f.layer("resid", l),
        mean: f.layer("ln1_mean", l),
        rstd: f.layer("ln1_rstd", l),
        lnw: f.p("ln1_w", l),
        qkvw: f.p("qkv_w", l),
        partials: this.layerNormPartials(`ln1.${l}.params`, "ln1_w", "ln1_b", l),
      }),
      // dWqkv, dbqkv
      ...qkv.dw(),
    ];
  }

  /** One kernel per (batch, head) pair for short sequences: dq, dk, dv from one p[t, t']. */
  protected override attentionBackward(l: number): Op[] {
    if (!this.jointAttention) return super.attentionBackward(l);
    this.jointBackward ??= jointAttentionBackward(this.attentionShape());
    const f = this.f;
    return [
      this.ops.generatedOp(`attention_backward.${l}`, this.jointBackward, {
        qkv: f.layer("qkv", l),
        y: f.layer("atty", l),
        dy: f.act("datty"),
        lse: f.layer("lse", l),
        dqkv: f.act("dqkv"),
      }),
    ];
  }

  private jointBackward?: AttentionKernel;

  /** dW, db along the rows where that kernel serves, else the hardware family's matmul. */
  protected override weightGrad(
    label: string,
    l: number,
    w: TensorRole,
    b: TensorRole,
    inDim: number,
    outDim: number,
    input: GPUBufferBinding,
    dOut: GPUBufferBinding,
    geluInput: boolean,
  ): Op[] {
    const shape = rowSplitShape(this.ops.shape, inDim, outDim, geluInput, true);
    if (!shape) return super.weightGrad(label, l, w, b, inDim, outDim, input, dOut, geluInput);
    return [this.rowSplitWeightGrad(label, shape, input, dOut, w, l, b)];
  }

  override async finishBackward(): Promise<Op[]> {
    // Every producer has taken its region by now: the one op summing them, then the embeddings.
    const sums = this.partials ? [this.partials.sumOp()] : [];
    return [...sums, ...await super.finishBackward()];
  }

  // ---- the fused kernels' plumbing ------------------------------------------

  /** An op from a row kernel; the fleet's one dims uniform is bound as `dims`. */
  private rowOp(label: string, kernel: RowKernel, buffers: Record<string, GPUBufferBinding>): Op {
    if (!this.rowDims) {
      this.rowDims = {
        buffer: this.f.buffer("row_dims", 8, GPUBufferUsage.UNIFORM),
        dims: kernel.dims,
      };
      this.f.device.queue.writeBuffer(this.rowDims.buffer, 0, kernel.dims);
    }
    const fleetDims = new Uint8Array(this.rowDims.dims);
    const same = new Uint8Array(kernel.dims).every((b, i) => b === fleetDims[i]);
    if (!same) throw new Error(`${label}: row kernels of one fleet must share their dims`);
    return this.ops.generatedOp(label, kernel, {
      ...buffers,
      dims: { buffer: this.rowDims.buffer },
    });
  }

  /** The row kernels' frame: rows, models, threads, the partial sums' scratch. */
  private rowFrame() {
    return { ...rowFrameOf(this.ops.shape), scratchFloats: this.partials?.lnStride ?? 0 };
  }

  /** A fused kernel's region for its layernorm's parameter-gradient partials (dw, then db, per group of rows). */
  private layerNormPartials(label: string, w: TensorRole, b: TensorRole, l = -1) {
    const C = this.ops.config.dModel;
    return this.partials!.region(label, this.partials!.lnStride, rowPartials(this.rowFrame()), [
      { role: w, layer: l, length: C },
      { role: b, layer: l, length: C },
    ]).binding;
  }

  /**
   * dW = op(A)ᵀ · dY (and db = Σ dY) with lanes along the rows: partials
   * into the kernel's region of the scratch, summed at the end of backward.
   */
  private rowSplitWeightGrad(
    label: string,
    shape: NonNullable<ReturnType<typeof rowSplitShape>>,
    a: GPUBufferBinding,
    dY: GPUBufferBinding,
    w: TensorRole,
    l: number,
    b?: TensorRole,
  ): Op {
    const region = this.partials!.region(
      label,
      weightGradScratch(shape),
      weightGradSlices(shape),
      [
        { role: w, layer: l, length: shape.M * shape.N },
        ...(b ? [{ role: b, layer: l, length: shape.N }] : []),
      ],
    );
    const plan = planWeightGrad(shape, region.stride);
    return this.ops.generatedOp(label, plan, { A: a, dY, partials: region.binding }, "weight_grad");
  }

  /** Layer l's fused attention-input kernels' shape. */
  private qkvShape(l: number): QkvShape {
    const f = this.f;
    return {
      ...this.rowFrame(),
      C: this.ops.config.dModel,
      strides: {
        ln: f.tensor("ln1_w", l).stride,
        qkvW: f.tensor("qkv_w", l).stride,
        qkvB: f.tensor("qkv_b", l).stride,
      },
    };
  }

  /** Layer l's attention projection kernels' shape. */
  private projShape(l: number): ProjShape {
    const f = this.f;
    return {
      ...this.rowFrame(),
      C: this.ops.config.dModel,
      strides: { w: f.tensor("attproj_w", l).stride, b: f.tensor("attproj_b", l).stride },
    };
  }

  /** Layer l's fused MLP kernels' shape. */
  private mlpShape(l: number): MlpShape {
    const f = this.f;
    return {
      ...this.rowFrame(),
      C: this.ops.config.dModel,
      strides: {
        ln: f.tensor("ln2_w", l).stride,
        fcW: f.tensor("fc_w", l).stride,
        fcB: f.tensor("fc_b", l).stride,
        projW: f.tensor("fcproj_w", l).stride,
        projB: f.tensor("fcproj_b", l).stride,
      },
    };
  }
}
