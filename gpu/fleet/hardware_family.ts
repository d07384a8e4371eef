// The hardware family: the kernels for GPUs. Layernorms, cross-entropy and
// the embeddings are static shaders (shaders/), matmuls and attention are
// generated per shape (matmul/, attention_codegen.ts), and on long
// batches the reductions over rows are split across workgroups (split_sum.ts).
// The software family (../software/family.ts) reuses these kernels wherever
// its own fused ones do not serve.
import { type Op, privateArrayFits, vectorWidth } from "../kernels.ts";
import {
  attentionBackwardKeyValue,
  attentionBackwardQuery,
  attentionForward,
  type AttentionKernel,
  type AttentionShape,
} from "../attention_codegen.ts";
import { targetsOf } from "../memory_plan.ts";
import { planSplitSum, splitCount } from "../split_sum.ts";
import type { TensorRole } from "../../lib/model/layout.ts";
import type { FleetBuffers } from "./buffers.ts";
import type { KernelFamily } from "./family.ts";
import { type OpBuilder, WG } from "./op_builder.ts";

/** Vector columns per layernorm_param_grads lane (mean, rstd read once for them). */
const LN_GRAD_COLS = 4;

/** Constants of the row-wise layernorm kernels: vector width, cached row or not. */
function layerNormShape(C: number, cachedRows: number) {
  const vw = vectorWidth(C);
  return { ...vw, CACHE: privateArrayFits(cachedRows * C / vw.W) };
}

/** A linear layer's backward, as thunks: each path builds (and compiles) only the ops it runs. */
export interface LinearBackward {
  /** dIn [B·T, in] = dOut · Wᵀ (⊙ gelu'(input) for the MLP projection). */
  dx: () => Op[];
  /** dW [in, out] = inᵀ · dOut, db [out] = Σ_rows dOut. */
  dw: () => Op[];
}

export class HardwareFamily implements KernelFamily {
  protected readonly f: FleetBuffers;

  constructor(protected readonly ops: OpBuilder) {
    this.f = ops.buffers;
  }

  // ---- forward -----------------------------------------------------------

  async encoderForward(): Promise<Op> {
    const { BT, P: T } = this.ops, C = this.ops.config.dModel, f = this.f;
    return await this.ops.staticOp(
      "encoder_forward",
      {
        BT,
        T,
        C,
        WTE_STRIDE: f.tensor("wte").stride,
        WPE_STRIDE: f.tensor("wpe").stride,
        ...vectorWidth(C),
      },
      { tokens: f.act("tokens"), wte: f.p("wte"), wpe: f.p("wpe"), x: f.layer("resid", 0) },
      BT, // one thread per row
    );
  }

  async layerForward(l: number): Promise<Op[]> {
    const C = this.ops.config.dModel, BT = this.ops.BT, f = this.f;
    return [
      // ln1 [B·T, C] = layernorm(resid.l)
      await this.layerNormForward("ln1", l),
      // qkv [B·T, 3C] = ln1 · Wqkv + b
      ...this.ops.matmulOp(`qkv.${l}`, {
        M: BT,
        N: 3 * C,
        K: C,
        strideB: f.tensor("qkv_w", l).stride,
        strideBias: f.tensor("qkv_b", l).stride,
      }, {
        A: f.layer("ln1", l),
        B: f.p("qkv_w", l),
        C: f.layer("qkv", l),
        bias: f.p("qkv_b", l),
      }),
      // atty [B·T, C] = causal softmax(q kᵀ / √hs) v per head; lse [B, NH, T] kept for backward
      this.attentionForward(l),
      // resid_mid [B·T, C] = resid.l + atty · Wproj + b
      ...this.ops.matmulOp(`attproj.${l}`, {
        M: BT,
        N: C,
        K: C,
        strideB: f.tensor("attproj_w", l).stride,
        strideBias: f.tensor("attproj_b", l).stride,
      }, {
        A: f.layer("atty", l),
        B: f.p("attproj_w", l),
        C: f.layer("resid_mid", l),
        bias: f.p("attproj_b", l),
        addend: f.layer("resid", l),
      }),
      // ln2 [B·T, C] = layernorm(resid_mid)
      await this.layerNormForward("ln2", l),
      // fch [B·T, 4C] = ln2 · Wfc + b (the pre-activation)
      ...this.ops.matmulOp(`fc.${l}`, {
        M: BT,
        N: 4 * C,
        K: C,
        strideB: f.tensor("fc_w", l).stride,
        strideBias: f.tensor("fc_b", l).stride,
      }, {
        A: f.layer("ln2", l),
        B: f.p("fc_w", l),
        C: f.layer("fch", l),
        bias: f.p("fc_b", l),
      }),
      // resid.l+1 [B·T, C] = resid_mid + gelu(fch) · Wfcproj + b (gelu applied as fch is read)
      ...this.ops.matmulOp(`fcproj.${l}`, {
        M: BT,
        N: C,
        K: 4 * C,
        strideB: f.tensor("fcproj_w", l).stride,
        strideBias: f.tensor("fcproj_b", l).stride,
        geluA: true,
      }, {
        A: f.layer("fch", l),
        B: f.p("fcproj_w", l),
        C: f.layer("resid", l + 1),
        bias: f.p("fcproj_b", l),
        addend: f.layer("resid_mid", l),
      }),
    ];
  }

  async headForward(): Promise<Op[]> {
    const c = this.ops.config, BT = this.ops.BT, f = this.f;
    const C = c.dModel;
    return [
      // lnf [B·T, C] = layernorm(resid.L)
      await this.ops.staticOp("layernorm_forward", {
        BT,
        C,
        P_STRIDE: f.tensor("lnf_w").stride,
        ...layerNormShape(C, 1),
      }, {
        x: f.layer("resid", c.layers),
        w: f.p("lnf_w"),
        b: f.p("lnf_b"),
        out: f.act("lnf"),
        meanOut: f.act("lnf_mean"),
        rstdOut: f.act("lnf_rstd"),
      }, BT),
      // logits [B·T, V] = lnf · wteᵀ (the head is tied to the embedding, wte stored [V, C])
      ...this.ops.matmulOp(
        "logits",
        { M: BT, N: c.vocabSize, K: C, transB: true, strideB: f.tensor("wte").stride },
        { A: f.act("lnf"), B: f.p("wte"), C: f.act("logits") },
      ),
    ];
  }

  evalLoss(): Promise<Op> {
    return this.crossEntropy(false);
  }

  async lossReduce(): Promise<Op> {
    const k = this.ops.kernels;
    const code = await k.source("loss_reduce", { BT: this.ops.BT, INV_COUNT: this.invCount() });
    return k.op(
      "loss_reduce",
      k.kernel(code, "loss_reduce"),
      { losses: this.f.act("losses"), mean: this.f.act("mean_loss") },
      [1, 1, this.ops.K],
    );
  }

  // ---- backward ----------------------------------------------------------

  headWeightGrad(): Op[] {
    const { BT } = this.ops, { vocabSize: V, dModel: C } = this.ops.config, f = this.f;
    return this.ops.matmulOp(
      "dwte.head",
      { M: V, N: C, K: BT, transA: true, strideC: f.tensor("wte").stride },
      { A: f.act("logits"), B: f.act("lnf"), C: f.g("wte") },
    );
  }

  async trainHead(forwardHead: Op[], dwte: Op[]): Promise<Op[]> {
    const { BT } = this.ops, { vocabSize: V, dModel: C, layers } = this.ops.config, f = this.f;
    return [
      ...forwardHead,
      // losses [B·T]; logits become dlogits = (softmax - onehot) / count
      await this.crossEntropy(true),
      // dln [B·T, C] = dlogits · wte
      ...this.ops.matmulOp(
        "dlnf",
        { M: BT, N: C, K: V, strideB: f.tensor("wte").stride },
        { A: f.act("logits"), B: f.p("wte"), C: f.act("dln") },
      ),
      ...dwte,
      // dres [B·T, C] = layernorm backward of dln; dlnf_w, dlnf_b
      ...await this.layerNormBackward(layers, "lnf", false),
    ];
  }

  async layerBackward(l: number): Promise<Op[]> {
    const fcproj = this.fcprojBackward(l), fc = this.fcBackward(l);
    const attproj = this.attprojBackward(l), qkv = this.qkvBackward(l);
    return [
      // dfch [B·T, 4C] = dres · Wfcprojᵀ ⊙ gelu'(fch); dWfcproj, dbfcproj
      ...fcproj.dx(),
      ...fcproj.dw(),
      // dln [B·T, C] = dfch · Wfcᵀ; dWfc, dbfc
      ...fc.dx(),
      ...fc.dw(),
      // dres += layernorm backward of dln (the residual's gradient passes through); dln2_w, dln2_b
      ...await this.layerNormBackward(l, "ln2", true),
      // datty [B·T, C] = dres · Wprojᵀ; dWproj, dbproj
      ...attproj.dx(),
      ...attproj.dw(),
      // dqkv [B·T, 3C] = attention backward of datty
      ...this.attentionBackward(l),
      // dln [B·T, C] = dqkv · Wqkvᵀ; dWqkv, dbqkv
      ...qkv.dx(),
      ...qkv.dw(),
      // dres += layernorm backward of dln; dln1_w, dln1_b
      ...await this.layerNormBackward(l, "ln1", true),
    ];
  }

  async finishBackward(): Promise<Op[]> {
    return [await this.encoderBackward()];
  }

  // ---- the pieces --------------------------------------------------------

  /** Layernorm `name` of layer l: name.l, name_mean.l, name_rstd.l of resid.l (ln1) or resid_mid.l (ln2). */
  protected layerNormForward(name: "ln1" | "ln2", l: number): Promise<Op> {
    const { BT } = this.ops, C = this.ops.config.dModel, f = this.f;
    return this.ops.staticOp(
      "layernorm_forward",
      { BT, C, P_STRIDE: f.tensor(`${name}_w`, l).stride, ...layerNormShape(C, 1) },
      {
        x: f.layer(name === "ln1" ? "resid" : "resid_mid", l),
        w: f.p(`${name}_w`, l),
        b: f.p(`${name}_b`, l),
        out: f.layer(name, l),
        meanOut: f.layer(`${name}_mean`, l),
        rstdOut: f.layer(`${name}_rstd`, l),
      },
      BT,
    );
  }

  /**
   * The backward of layernorm `name` (of layer l, or the final one): dres
   * (+)= its input's gradient from dln, and its parameters' gradients.
   */
  protected async layerNormBackward(
    l: number,
    name: "ln1" | "ln2" | "lnf",
    accumulate: boolean,
  ): Promise<Op[]> {
    const { BT } = this.ops, C = this.ops.config.dModel, f = this.f;
    const final = name === "lnf";
    const layer = final ? -1 : l;
    const w: TensorRole = `${name}_w`, b: TensorRole = `${name}_b`;
    const x = final || name === "ln1" ? f.layer("resid", l) : f.layer("resid_mid", l);
    const mean = final ? f.act("lnf_mean") : f.layer(`${name as "ln1" | "ln2"}_mean`, l);
    const rstd = final ? f.act("lnf_rstd") : f.layer(`${name as "ln1" | "ln2"}_rstd`, l);
    const stride = f.tensor(w, layer).stride, vw = vectorWidth(C);
    // One workgroup (WG threads) per LN_GRAD_COLS vector columns and row slice.
    const columnGroups = Math.ceil(C / vw.W / LN_GRAD_COLS);
    const splits = this.layerNormRowSplits(columnGroups);
    const scratch = splits > 1 ? f.act("split_scratch") : undefined;
    const splitScratch = this.ops.splitScratch;
    const ops = [
      await this.ops.staticOp(
        "layernorm_backward",
        {
          BT,
          C,
          P_STRIDE: stride,
          ACCUMULATE: accumulate,
          ...layerNormShape(C, 2), // caches g and n of the row
        },
        { dout: f.act("dln"), x, w: f.p(w, layer), mean, rstd, dx: f.act("dres") },
        BT,
      ),
      await this.ops.staticOp("layernorm_param_grads", {
        BT,
        C,
        CB: LN_GRAD_COLS,
        ...vw,
        ROW_SPLITS: splits,
        ROWS: Math.ceil(BT / splits),
        // Split: slice s of model z at scratch[z, s, ·], dw then db (split_sum's layout).
        OUT_STRIDE: (scratch ? splitScratch : stride) / vw.W,
        SLICE_STRIDE: scratch ? (2 * C) / vw.W : 0,
        DB_SHIFT: scratch ? C / vw.W : 0,
      }, {
        dout: f.act("dln"),
        x,
        mean,
        rstd,
        dw: scratch ?? f.g(w, layer),
        db: scratch ?? f.g(b, layer),
      }, columnGroups * splits * WG),
    ];
    if (scratch) {
      const sum = planSplitSum({
        splits,
        length1: C,
        length2: C,
        stride1: stride,
        stride2: stride,
        scratchStride: splitScratch,
        workgroupSize: WG,
        maxWorkgroupsPerDim: this.ops.tuning.maxWorkgroupsPerDim,
      });
      ops.push(this.ops.splitSumOp("layernorm_param_grads", sum, f.g(w, layer), f.g(b, layer)));
    }
    return ops;
  }

  /**
   * Row slices of the layernorm parameter gradients (split_sum.ts): 1 where
   * nothing is split (software kernels, short batches), else enough that
   * the fleet's workgroups fill a GPU, each lane still taking 4 rows or more.
   */
  private layerNormRowSplits(columnGroups: number): number {
    const { splitScratch } = this.ops;
    if (splitScratch === 0) return 1;
    return splitCount({
      length: this.ops.BT,
      threadsPerSlice: columnGroups * WG,
      fleet: this.ops.K,
      minSlice: 4 * WG,
      multipleOf: 0, // the last slice may be short (the shader's rowEnd)
      sliceFloats: 2 * this.ops.config.dModel, // dw, then db
      scratch: splitScratch,
    });
  }

  protected attentionShape(): AttentionShape {
    const c = this.ops.config, software = this.ops.shape.kernels === "software";
    return {
      B: this.ops.B,
      T: this.ops.P,
      C: c.dModel,
      NH: c.heads,
      lanes: software ? 8 : 32,
      // On GPUs one row per thread: 8 rows kept too much state per thread in
      // the key/value backward (see docs/performance.md).
      rows: software ? undefined : 1,
      maxWorkgroupsPerDim: this.ops.tuning.maxWorkgroupsPerDim,
    };
  }

  /** The forward attention kernel, the same for every layer. */
  protected attentionForwardKernel(): AttentionKernel {
    return attentionForward(this.attentionShape());
  }

  private forwardAttention?: AttentionKernel;

  protected attentionForward(l: number): Op {
    this.forwardAttention ??= this.attentionForwardKernel();
    return this.ops.generatedOp(`attention_forward.${l}`, this.forwardAttention, {
      qkv: this.f.layer("qkv", l),
      y: this.f.layer("atty", l),
      lse: this.f.layer("lse", l),
    });
  }

  private backwardAttention?: { query: AttentionKernel; keyValue: AttentionKernel };

  /** Two kernels: dq per query row (and D = dy · y per row), then dk and dv per key row. */
  protected attentionBackward(l: number): Op[] {
    this.backwardAttention ??= {
      query: attentionBackwardQuery(this.attentionShape()),
      keyValue: attentionBackwardKeyValue(this.attentionShape()),
    };
    const { query, keyValue } = this.backwardAttention, f = this.f;
    return [
      this.ops.generatedOp(`attention_backward_q.${l}`, query, {
        qkv: f.layer("qkv", l),
        y: f.layer("atty", l),
        dy: f.act("datty"),
        lse: f.layer("lse", l),
        dD: f.act("attD"),
        dqkv: f.act("dqkv"),
      }),
      this.ops.generatedOp(`attention_backward_kv.${l}`, keyValue, {
        qkv: f.layer("qkv", l),
        dy: f.act("datty"),
        lse: f.layer("lse", l),
        dD: f.act("attD"),
        dqkv: f.act("dqkv"),
      }),
    ];
  }

  protected fcprojBackward(l: number): LinearBackward {
    const C = this.ops.config.dModel;
    return this.linearBackward(`fcproj.${l}`, l, "fcproj", 4 * C, C, {
      input: this.f.layer("fch", l),
      dOut: this.f.act("dres"),
      dIn: this.f.act("dfch"),
      geluInput: true,
    });
  }

  protected fcBackward(l: number): LinearBackward {
    const C = this.ops.config.dModel;
    return this.linearBackward(`fc.${l}`, l, "fc", C, 4 * C, {
      input: this.f.layer("ln2", l),
      dOut: this.f.act("dfch"),
      dIn: this.f.act("dln"),
    });
  }

  protected attprojBackward(l: number): LinearBackward {
    const C = this.ops.config.dModel;
    return this.linearBackward(`attproj.${l}`, l, "attproj", C, C, {
      input: this.f.layer("atty", l),
      dOut: this.f.act("dres"),
      dIn: this.f.act("datty"),
    });
  }

  protected qkvBackward(l: number): LinearBackward {
    const C = this.ops.config.dModel;
    return this.linearBackward(`qkv.${l}`, l, "qkv", C, 3 * C, {
      input: this.f.layer("ln1", l),
      dOut: this.f.act("dqkv"),
      dIn: this.f.act("dln"),
    });
  }

  /**
   * A linear layer's backward: dIn = dOut · Wᵀ, dW = Inᵀ · dOut, db = Σ dOut
   * (db written by the dW matmul, see matmul/shape.ts' colSums). geluInput:
   * the layer's input is gelu(input) (the MLP projection): dW applies gelu
   * as it reads the input, and dIn is the gradient of the pre-activation,
   * dOut · Wᵀ ⊙ gelu'(input).
   */
  protected linearBackward(
    name: string,
    l: number,
    weights: "fcproj" | "fc" | "attproj" | "qkv",
    inDim: number,
    outDim: number,
    io: {
      input: GPUBufferBinding;
      dOut: GPUBufferBinding;
      dIn: GPUBufferBinding;
      geluInput?: boolean;
    },
  ): LinearBackward {
    const f = this.f, BT = this.ops.BT, geluInput = io.geluInput ?? false;
    const w: TensorRole = `${weights}_w`, b: TensorRole = `${weights}_b`;
    const ws = f.tensor(w, l).stride;
    return {
      dx: () =>
        this.ops.matmulOp(
          `${name}.dx`,
          { M: BT, N: inDim, K: outDim, transB: true, strideB: ws },
          {
            A: io.dOut,
            B: f.p(w, l),
            C: io.dIn,
            geluGradOf: geluInput ? io.input : undefined,
          },
        ),
      dw: () => this.weightGrad(`${name}.dw`, l, w, b, inDim, outDim, io.input, io.dOut, geluInput),
    };
  }

  /** dW [in, out] = op(input)ᵀ · dOut with db = Σ_rows dOut as its column sums. */
  protected weightGrad(
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
    const f = this.f;
    return this.ops.matmulOp(label, {
      M: inDim,
      N: outDim,
      K: this.ops.BT,
      transA: true,
      strideC: f.tensor(w, l).stride,
      geluA: geluInput,
      strideColSums: f.tensor(b, l).stride,
    }, { A: input, B: dOut, C: f.g(w, l), colSums: f.g(b, l) });
  }

  /** dwte += Σ dres over each token's rows (counting-sorted), dwpe = Σ dres per position. */
  protected encoderBackward(): Promise<Op> {
    const { BT, P: T } = this.ops, { vocabSize: V, dModel: C } = this.ops.config, f = this.f;
    return this.ops.staticOp("encoder_backward", {
      BT,
      T,
      C,
      V,
      WTE_STRIDE: f.tensor("wte").stride,
      WPE_STRIDE: f.tensor("wpe").stride,
      ...vectorWidth(C),
    }, {
      dx: f.act("dres"),
      order: f.act("order"),
      offsets: f.act("offsets"),
      dwte: f.g("wte"),
      dwpe: f.g("wpe"),
    }, (V + T) * C / vectorWidth(C).W);
  }

  /** 1 / the positions that predict a token: the loss is their mean. */
  private invCount() {
    return { f32: 1 / (this.ops.B * targetsOf(this.ops.shape)) };
  }

  /**
   * losses [B·T] of logits; with `train` the logits become dlogits. A thread
   * per row on a CPU rasterizer and for short rows; on a GPU a workgroup per
   * long row, so that neighbouring lanes read neighbouring logits.
   */
  private crossEntropy(train: boolean): Promise<Op> {
    const { BT, P: T } = this.ops, V = this.ops.config.vocabSize, f = this.f;
    const TARGETS = targetsOf(this.ops.shape), vwV = vectorWidth(V);
    const buffers = { targets: f.act("targets"), logits: f.act("logits"), losses: f.act("losses") };
    const common = { BT, T, TARGETS, V, TRAIN: train, INV_COUNT: this.invCount() };
    const rowPerThread = this.ops.shape.kernels === "software" || V / vwV.W < WG;
    return rowPerThread
      ? this.ops.staticOp(
        "cross_entropy",
        { ...common, CACHE: privateArrayFits(V / vwV.W), ...vwV },
        buffers,
        BT,
      )
      : this.ops.staticOp(
        "cross_entropy_rows",
        { ...common, ...vwV },
        buffers,
        BT * WG,
        "cross_entropy",
      );
  }
}
