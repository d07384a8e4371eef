// The GPT-2 model on the GPU: a fleet of K models of one shape, each with its
// own parameters, data and optimizer state, trained by one set of dispatches
// (the fleet index is every kernel's workgroup z). K = 1 is a single model.
//
// Everything lives in GPU buffers for the whole run: parameters, gradients
// and Adam moments are each one flat buffer (tensor-major: tensor i of all K
// models is one block, so a kernel binds one block), activations one buffer
// per tensor. A training step uploads its tokens (plus the token->positions
// index that the embedding backward needs) and reads nothing back; the loss
// is read only when asked.
//
// Precision: the optimizer updates "fp32" parameters as they are; it rounds
// "bf16-pure" ones to bfloat16 after each step (the only copy). A "bf16"
// (mixed precision) training fleet keeps f32 master weights in one more
// buffer of the same layout: the optimizer updates them, and the parameters
// every kernel reads are the master weights rounded to bfloat16.
import type { Gpu } from "./device.ts";
import {
  type Buffers,
  type ConstValue,
  type GeneratedKernel,
  gridFor,
  Kernels,
  type Op,
  privateArrayFits,
  vectorWidth,
} from "./kernels.ts";
import {
  attentionBackward,
  attentionBackwardKeyValue,
  attentionBackwardQuery,
  attentionForward,
  attentionForwardJoint,
  type AttentionKernel,
  usesJointAttention,
} from "./attention_codegen.ts";
import {
  HARDWARE_TUNING,
  type MatmulShape,
  type MatmulTuning,
  planMatmul,
  SOFTWARE_TUNING,
} from "./matmul_codegen.ts";
import {
  activationBuffers,
  checkFleetFitsOn,
  type FleetShape,
  fusesSmallModels,
  gpuParamLayout,
  type GpuTensor,
  kernelFamilyFor,
  partialsLayout,
  partialsRegionFloats,
  positionsOf,
  rowFrameOf,
  rowSplitShape,
  splitScratchFloats,
  targetsOf,
} from "./memory_plan.ts";
import {
  planSegmentSums,
  planSplitSum,
  splitCount,
  type SplitSumPlan,
  type SumSegment,
} from "./split_sum.ts";
import { headFusable, trainHead } from "./head_codegen.ts";
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
import { type RowKernel, rowPartials } from "./row_codegen.ts";
import {
  planWeightGrad,
  weightGradScratch,
  type WeightGradShape,
  weightGradSlices,
} from "./weight_grad_codegen.ts";
import {
  bf16Weights,
  checkModelConfig,
  keepsMasterWeights,
  type ModelConfig,
  type Precision,
} from "../lib/model/config.ts";
import type { TensorRole } from "../lib/model/layout.ts";
import { roundToBf16 } from "../lib/bf16.ts";

export type OptimizerKind = "adamw" | "sgd";

export interface FleetOptions {
  config: ModelConfig;
  /** Models trained together (K). */
  fleetSize: number;
  /** Sequences per model per step (B). */
  batchSize: number;
  precision: Precision;
  optimizer: OptimizerKind;
  /** false: forward only (likelihood); no gradient or optimizer buffers. */
  training: boolean;
  /** Optional cap on the fleet's GPU memory in bytes. */
  memoryBudgetBytes?: number;
  /**
   * Kernel family: "software" (CPU rasterizers) or "hardware" (GPUs);
   * default from the adapter. Tests force "hardware" to check the GPU
   * kernels on a software adapter.
   */
  kernels?: "software" | "hardware";
  /**
   * The software family's kernels for small models where they serve
   * (widths multiples of 4 and small): fused row kernels for the training
   * head (head_codegen.ts) and each block's attention input and MLP
   * (block_codegen.ts), and row-split weight gradients
   * (weight_grad_codegen.ts). Default true; tests turn it off to compare.
   */
  fuse?: boolean;
}

/** One model's optimizer settings for one step. */
export interface StepHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

const WG = 64;
/** Vector columns per layernorm_param_grads lane (mean, rstd read once for them). */
const LN_GRAD_COLS = 4;

/** Constants of the row-wise layernorm kernels: vector width, cached row or not. */
function layerNormShape(C: number, cachedRows: number) {
  const vw = vectorWidth(C);
  return { ...vw, CACHE: privateArrayFits(cachedRows * C / vw.W) };
}
/** Floats per optimizer workgroup: a multiple of 4 (shaders/optimizer.wgsl updates vec4s). */
const OPT_CHUNK = 1024;
const DECAYED: ReadonlySet<TensorRole> = new Set([
  "wte",
  "wpe",
  "qkv_w",
  "attproj_w",
  "fc_w",
  "fcproj_w",
]);

export class GptFleet {
  readonly config: ModelConfig;
  readonly K: number;
  readonly B: number;
  /** Sequence length: the tokens a caller passes are [K, B, T]. */
  readonly T: number;
  /**
   * Positions per sequence the kernels compute (memory_plan.ts positionsOf):
   * T - 1 in a training fleet (the last position predicts nothing), else T.
   * Its rows are B · P per model.
   */
  readonly P: number;
  readonly tensors: GpuTensor[];
  /** Optimizer steps taken (bias correction of Adam uses it). */
  step = 0;

  private device: GPUDevice;
  private kernels: Kernels;
  /** The weights every forward and backward kernel reads (bf16 values unless fp32). */
  private params: GPUBuffer;
  private paramFloats: number;
  /**
   * A "bf16" training fleet's f32 master weights (same layout): the optimizer
   * updates them, then params = roundBf16(master). Absent otherwise.
   */
  private master?: GPUBuffer;
  private grads?: GPUBuffer;
  private adamM?: GPUBuffer;
  private adamV?: GPUBuffer;
  private hyper?: GPUBuffer;
  private acts = new Map<string, GPUBuffer>();
  private owned: GPUBuffer[] = [];
  private forwardOps: Op[] = [];
  private lossTrainOps: Op[] = [];
  private lossEvalOps: Op[] = [];
  private lossReduceOp?: Op;
  /** A training step's forward and backward ops (with the fused kernels, where they serve). */
  private trainOps: Op[] = [];
  /** Ops of forwardOps before the final layernorm (the head starts there). */
  private headStart = 0;
  /** The uniform buffer of the fused row kernels' dimensions (one per fleet) and its contents. */
  private rowDims?: { buffer: GPUBuffer; dims: ArrayBuffer };
  /**
   * Partial sums of the row-split weight gradients (weight_grad_codegen.ts)
   * and of the fused kernels' layernorm parameter gradients: each producer
   * writes its own region ([K, stride] floats from `from`), and one op adds
   * them all up at the end of backward (planSegmentSums). `floats` is the
   * buffer's size, `used` what regions took so far, `lnStride` the stride of
   * the layernorm partials (the row kernels' dims.scratch4 · 4).
   */
  private partials?: {
    buffer: GPUBuffer;
    floats: number;
    used: number;
    lnStride: number;
    sums: SumSegment[];
  };
  private optimizerOps: Op[] = [];
  private tuning: MatmulTuning;
  /** Kernels for a CPU rasterizer (8-lane workgroups) rather than a GPU. */
  private readonly software: boolean;
  /** What the memory plan sizes (memory_plan.ts): the options with the kernel family. */
  private readonly shape: FleetShape;
  /** Floats per model of the "split_scratch" buffer (0: no reduction is split). */
  private splitScratch = 0;

  private constructor(
    gpu: Gpu,
    readonly options: FleetOptions,
    kernels: "software" | "hardware",
  ) {
    this.config = options.config;
    this.K = options.fleetSize;
    this.B = options.batchSize;
    this.T = options.config.seqLen;
    this.device = gpu.device;
    this.kernels = Kernels.forDevice(gpu.device);
    this.software = kernels === "software";
    this.shape = { ...options, kernels };
    this.P = positionsOf(this.shape);
    this.tuning = this.software ? SOFTWARE_TUNING : HARDWARE_TUNING;
    const layout = gpuParamLayout(
      this.config,
      this.K,
      gpu.info.limits.minStorageBufferOffsetAlignment,
    );
    this.tensors = layout.tensors;
    this.paramFloats = layout.totalFloats;
    this.params = this.buffer("parameters", this.paramFloats);
  }

  /** Validates the shape against the adapter, then builds buffers and kernels. */
  static async create(gpu: Gpu, options: FleetOptions): Promise<GptFleet> {
    checkModelConfig(options.config);
    if (!Number.isInteger(options.fleetSize) || options.fleetSize < 1) {
      throw new RangeError(`fleetSize must be a positive integer, got ${options.fleetSize}`);
    }
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer, got ${options.batchSize}`);
    }
    // The kernel family: the option, else what suits the adapter.
    const kernels = options.kernels ?? kernelFamilyFor(gpu.info.software);
    const shape: FleetShape = { ...options, kernels };
    checkFleetFitsOn(gpu.info, shape, options.memoryBudgetBytes);
    const fleet = new GptFleet(gpu, options, kernels);
    fleet.splitScratch = splitScratchFloats(shape);
    for (const spec of activationBuffers(shape)) {
      fleet.acts.set(spec.name, fleet.buffer(spec.name, spec.floats));
    }
    fleet.createPartials();
    if (options.training) {
      if (keepsMasterWeights(options.precision)) {
        fleet.master = fleet.buffer("master", fleet.paramFloats);
      }
      fleet.grads = fleet.buffer("gradients", fleet.paramFloats);
      fleet.adamM = fleet.buffer("adam_m", fleet.paramFloats);
      fleet.adamV = fleet.buffer("adam_v", fleet.paramFloats);
      fleet.hyper = fleet.buffer("hyper", fleet.K * 8);
    }
    fleet.device.pushErrorScope("validation");
    await fleet.buildForward();
    if (options.training) {
      await fleet.buildBackward();
      await fleet.buildOptimizer();
    }
    const err = await fleet.device.popErrorScope();
    if (err) {
      fleet.destroy();
      throw new Error(`GPU pipeline setup failed: ${err.message}`);
    }
    return fleet;
  }

  // ---- buffers ---------------------------------------------------------

  private buffer(label: string, floats: number, extraUsage = 0): GPUBuffer {
    const b = this.device.createBuffer({
      label,
      size: Math.max(16, Math.ceil(floats / 4) * 16),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC |
        extraUsage,
    });
    this.owned.push(b);
    return b;
  }

  private act(name: string): GPUBufferBinding {
    const b = this.acts.get(name);
    if (!b) throw new Error(`no activation buffer ${name}`);
    return { buffer: b };
  }

  private tensor(role: TensorRole, layer = -1): GpuTensor {
    const t = this.tensors.find((x) => x.spec.role === role && x.spec.layer === layer);
    if (!t) throw new Error(`no tensor ${role}/${layer}`);
    return t;
  }

  /** Binding of one tensor's block (all K models) in a parameter-sized buffer. */
  private block(buf: GPUBuffer, role: TensorRole, layer = -1): GPUBufferBinding {
    const t = this.tensor(role, layer);
    return { buffer: buf, offset: t.blockOffset * 4, size: this.K * t.stride * 4 };
  }

  private p(role: TensorRole, layer = -1) {
    return this.block(this.params, role, layer);
  }

  private g(role: TensorRole, layer = -1) {
    return this.block(this.grads!, role, layer);
  }

  // ---- op builders -----------------------------------------------------

  private async staticOp(
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

  private attentionShape() {
    const c = this.config;
    return {
      B: this.B,
      T: this.P,
      C: c.dModel,
      NH: c.heads,
      lanes: this.software ? 8 : 32,
      // On GPUs one row per thread: at the paper's shape (T 64, head size
      // 32) the CPU choice of 8 rows kept ~1,000 floats of state per thread
      // in the key/value backward (spilled) and ran 512 workgroups of one
      // warp. On an H100 the three attention kernels went from 5.6 to 1.15
      // ms per step, bench train-paper from 9.0M to 13.1M tokens/s.
      rows: this.software ? undefined : 1,
      maxWorkgroupsPerDim: this.tuning.maxWorkgroupsPerDim,
    };
  }

  /**
   * Row slices of the layernorm parameter gradients (split_sum.ts): 1 where
   * nothing is split (software kernels, short batches), else enough that
   * the fleet's workgroups fill a GPU, each lane still taking 4 rows or more.
   */
  private layerNormRowSplits(columnGroups: number): number {
    if (this.splitScratch === 0) return 1;
    return splitCount({
      length: this.B * this.P,
      threadsPerSlice: columnGroups * WG,
      fleet: this.K,
      minSlice: 4 * WG,
      multipleOf: 0, // the last slice may be short (the shader's rowEnd)
      sliceFloats: 2 * this.config.dModel, // dw, then db
      scratch: this.splitScratch,
    });
  }

  /** The op adding a split reduction's slices from the scratch into its outputs. */
  private splitSumOp(
    label: string,
    sum: SplitSumPlan,
    out1: GPUBufferBinding,
    out2?: GPUBufferBinding,
  ): Op {
    const partials = this.act("split_scratch");
    const buffers: Buffers = out2 ? { partials, out1, out2 } : { partials, out1 };
    return this.generatedOp(`${label}.sum`, sum, buffers, "split_sum");
  }

  /** An op from generated WGSL (one model per workgroup z); `name`: the kernel's, for errors. */
  private generatedOp(
    label: string,
    kernel: GeneratedKernel,
    buffers: Buffers,
    name = label.replace(/\.\d+$/, ""),
  ): Op {
    const compiled = this.kernels.kernel(kernel.code, name, kernel.bindings);
    return this.kernels.op(label, compiled, buffers, [kernel.grid[0], kernel.grid[1], this.K]);
  }

  /**
   * Attention with a lane per whole (batch, head) pair (attention_codegen.ts'
   * joint kernels): software kernels, short sequences.
   */
  private get jointAttention(): boolean {
    return usesJointAttention(this.shape.kernels!, this.P);
  }

  /** Whether the fused row kernels serve this fleet (the software family, option on). */
  private get fuse(): boolean {
    return fusesSmallModels(this.shape);
  }

  /** Whether the block's fused kernels (block_codegen.ts) serve this fleet: fused, and d small. */
  private get fusedBlock(): boolean {
    return this.fuse && blockFusable(this.config.dModel);
  }

  /**
   * An op from a fused row kernel (row_codegen.ts) built on rowFrame(); the
   * fleet's one dims uniform is bound last.
   */
  private rowOp(label: string, kernel: RowKernel, buffers: Buffers): Op {
    if (!this.rowDims) {
      this.rowDims = {
        buffer: this.buffer("row_dims", 8, GPUBufferUsage.UNIFORM),
        dims: kernel.dims,
      };
      this.device.queue.writeBuffer(this.rowDims.buffer, 0, kernel.dims);
    }
    const fleetDims = new Uint8Array(this.rowDims.dims);
    const same = new Uint8Array(kernel.dims).every((b, i) => b === fleetDims[i]);
    if (!same) throw new Error(`${label}: row kernels of one fleet must share their dims`);
    return this.generatedOp(label, kernel, { ...buffers, dims: { buffer: this.rowDims.buffer } });
  }

  /** The fused row kernels' frame: rows, models, threads, the partial sums' scratch. */
  private rowFrame() {
    return { ...rowFrameOf(this.shape), scratchFloats: this.partials?.lnStride ?? 0 };
  }

  /** The partial sums' scratch (memory_plan.ts' partialsLayout), where there is one. */
  private createPartials() {
    const { lnStride, floats } = partialsLayout(this.shape);
    if (floats === 0) return;
    this.partials = { buffer: this.act("partials").buffer, floats, used: 0, lnStride, sums: [] };
  }

  /**
   * A producer's region of the partials scratch, and the segment that sums
   * it into the gradients: `splits` slices per model, each the outputs'
   * lengths in a row; an output is a parameter's gradient block.
   */
  private partialsRegion(
    label: string,
    need: number,
    splits: number,
    outputs: { role: TensorRole; layer: number; length: number }[],
  ): { binding: GPUBufferBinding; stride: number } {
    const p = this.partials!;
    const stride = Math.ceil(need / 4) * 4;
    const from = p.used;
    p.used += partialsRegionFloats(this.K, need);
    if (p.used > p.floats) throw new Error(`${label}: the partials scratch is full`);
    p.sums.push({
      label,
      from,
      stride,
      splits,
      outputs: outputs.map((o) => {
        const t = this.tensor(o.role, o.layer);
        return { offset: t.blockOffset, stride: t.stride, length: o.length };
      }),
    });
    return { binding: { buffer: p.buffer, offset: from * 4, size: this.K * stride * 4 }, stride };
  }

  /** The one op adding up every region of the partials scratch (planSegmentSums). */
  private partialSumsOp(): Op {
    const p = this.partials!;
    // The memory plan sized the scratch for these producers; it must have named each one.
    if (p.used !== p.floats) {
      throw new Error(`partials: the plan made ${p.floats} floats, the regions take ${p.used}`);
    }
    const plan = planSegmentSums(p.sums, WG, this.tuning.maxWorkgroupsPerDim);
    return this.generatedOp("partial_sums", plan, {
      partials: { buffer: p.buffer },
      grads: { buffer: this.grads! },
    });
  }

  /** The region for a fused kernel's layernorm parameter-gradient partials (dw, then db, per group of rows). */
  private layerNormPartials(label: string, w: TensorRole, b: TensorRole, l = -1) {
    const C = this.config.dModel;
    return this.partialsRegion(label, this.partials!.lnStride, rowPartials(this.rowFrame()), [
      { role: w, layer: l, length: C },
      { role: b, layer: l, length: C },
    ]).binding;
  }

  /** Layer l's fused attention-input kernels' shape. */
  private qkvShape(l: number): QkvShape {
    return {
      ...this.rowFrame(),
      C: this.config.dModel,
      strides: {
        ln: this.tensor("ln1_w", l).stride,
        qkvW: this.tensor("qkv_w", l).stride,
        qkvB: this.tensor("qkv_b", l).stride,
      },
    };
  }

  /** Layer l's attention projection kernels' shape. */
  private projShape(l: number): ProjShape {
    return {
      ...this.rowFrame(),
      C: this.config.dModel,
      strides: { w: this.tensor("attproj_w", l).stride, b: this.tensor("attproj_b", l).stride },
    };
  }

  /** Layer l's fused MLP kernels' shape. */
  private mlpShape(l: number): MlpShape {
    return {
      ...this.rowFrame(),
      C: this.config.dModel,
      strides: {
        ln: this.tensor("ln2_w", l).stride,
        fcW: this.tensor("fc_w", l).stride,
        fcB: this.tensor("fc_b", l).stride,
        projW: this.tensor("fcproj_w", l).stride,
        projB: this.tensor("fcproj_b", l).stride,
      },
    };
  }

  /** The row-split weight gradient's shape, or undefined where it does not serve. */
  private weightGradShape(
    M: number,
    N: number,
    geluA: boolean,
    colSums: boolean,
  ): WeightGradShape | undefined {
    return rowSplitShape(this.shape, M, N, geluA, colSums);
  }

  /**
   * dW = op(A)ᵀ · dY (and db = Σ dY) with lanes along the rows: partials
   * into the kernel's region of the scratch, summed at the end of backward.
   */
  private weightGradOp(
    label: string,
    shape: WeightGradShape,
    a: GPUBufferBinding,
    dY: GPUBufferBinding,
    dW: { role: TensorRole; layer: number },
    db?: { role: TensorRole; layer: number },
  ): Op {
    const region = this.partialsRegion(label, weightGradScratch(shape), weightGradSlices(shape), [
      { ...dW, length: shape.M * shape.N },
      ...(db ? [{ ...db, length: shape.N }] : []),
    ]);
    const plan = planWeightGrad(shape, region.stride);
    return this.generatedOp(label, plan, { A: a, dY, partials: region.binding }, "weight_grad");
  }

  private matmulOp(
    label: string,
    // The shape without what the bindings below decide (bias, addend, geluGrad, colSums).
    shape:
      & Omit<
        MatmulShape,
        "bias" | "addend" | "geluGrad" | "colSums" | "fleet" | "transA" | "transB"
      >
      & Partial<Pick<MatmulShape, "transA" | "transB">>,
    buffers: {
      /** C = op(A) · op(B) (+ bias, + addend). */
      A: GPUBufferBinding;
      B: GPUBufferBinding;
      C: GPUBufferBinding;
      bias?: GPUBufferBinding;
      addend?: GPUBufferBinding;
      /** C = product ⊙ gelu'(geluGradOf) (see matmul_codegen). */
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
        this.generatedOp(label, plan, { A, B, C: this.act("split_scratch") }, "matmul"),
        this.splitSumOp(label, plan.split.sum, C, colSums),
      ];
    }
    const operand = { bias, addend, aux: geluGradOf, colSums };
    const operands = Object.fromEntries(plan.operands.map((name) => [name, operand[name]!]));
    return [this.generatedOp(label, plan, { A, B, C, ...operands }, "matmul")];
  }

  private async buildForward() {
    const c = this.config, C = c.dModel, V = c.vocabSize, T = this.P, B = this.B;
    const BT = B * T;
    const ops: Op[] = [];
    const wte = this.tensor("wte"), wpe = this.tensor("wpe");
    ops.push(
      await this.staticOp(
        "encoder_forward",
        {
          BT,
          T,
          C,
          WTE_STRIDE: wte.stride,
          WPE_STRIDE: wpe.stride,
          ...vectorWidth(C),
        },
        {
          tokens: this.act("tokens"),
          wte: this.p("wte"),
          wpe: this.p("wpe"),
          x: this.act("resid.0"),
        },
        BT, // one thread per row
      ),
    );
    // LayerNorm `name` ("ln1" | "ln2") of layer l, writing name.l, name_mean.l, name_rstd.l.
    const lnOp = (x: string, name: "ln1" | "ln2", l: number) =>
      this.staticOp(
        "layernorm_forward",
        { BT, C, P_STRIDE: this.tensor(`${name}_w`, l).stride, ...layerNormShape(C, 1) },
        {
          x: this.act(x),
          w: this.p(`${name}_w`, l),
          b: this.p(`${name}_b`, l),
          out: this.act(`${name}.${l}`),
          meanOut: this.act(`${name}_mean.${l}`),
          rstdOut: this.act(`${name}_rstd.${l}`),
        },
        BT,
      );
    // The same kernel every layer; short sequences on CPUs: a lane per whole (batch, head) pair.
    const attForward = this.jointAttention
      ? attentionForwardJoint(this.attentionShape())
      : attentionForward(this.attentionShape());
    for (let l = 0; l < c.layers; l++) {
      if (this.fusedBlock) {
        // layernorm 1 and the qkv product in one kernel (block_codegen.ts).
        ops.push(this.rowOp(`qkv_forward.${l}`, qkvForward(this.qkvShape(l)), {
          x: this.act(`resid.${l}`),
          lnw: this.p("ln1_w", l),
          lnb: this.p("ln1_b", l),
          qkvw: this.p("qkv_w", l),
          qkvb: this.p("qkv_b", l),
          yOut: this.act(`ln1.${l}`),
          meanOut: this.act(`ln1_mean.${l}`),
          rstdOut: this.act(`ln1_rstd.${l}`),
          qkvOut: this.act(`qkv.${l}`),
        }));
      } else {
        ops.push(await lnOp(`resid.${l}`, "ln1", l));
        ops.push(...this.matmulOp(
          `qkv.${l}`,
          {
            M: BT,
            N: 3 * C,
            K: C,
            strideB: this.tensor("qkv_w", l).stride,
            strideBias: this.tensor("qkv_b", l).stride,
          },
          {
            A: this.act(`ln1.${l}`),
            B: this.p("qkv_w", l),
            C: this.act(`qkv.${l}`),
            bias: this.p("qkv_b", l),
          },
        ));
      }
      ops.push(this.generatedOp(`attention_forward.${l}`, attForward, {
        qkv: this.act(`qkv.${l}`),
        y: this.act(`atty.${l}`),
        lse: this.act(`lse.${l}`),
      }));
      if (this.fusedBlock) {
        ops.push(this.rowOp(`attproj.${l}`, projForward(this.projShape(l)), {
          a: this.act(`atty.${l}`),
          x: this.act(`resid.${l}`),
          pw: this.p("attproj_w", l),
          pb: this.p("attproj_b", l),
          out: this.act(`resid_mid.${l}`),
        }));
      } else {
        ops.push(...this.matmulOp(
          `attproj.${l}`,
          {
            M: BT,
            N: C,
            K: C,
            strideB: this.tensor("attproj_w", l).stride,
            strideBias: this.tensor("attproj_b", l).stride,
          },
          {
            A: this.act(`atty.${l}`),
            B: this.p("attproj_w", l),
            C: this.act(`resid_mid.${l}`),
            bias: this.p("attproj_b", l),
            addend: this.act(`resid.${l}`),
          },
        ));
      }
      if (this.fusedBlock) {
        // layernorm 2, fc, gelu and fcproj in one kernel (block_codegen.ts).
        ops.push(this.rowOp(`mlp_forward.${l}`, mlpForward(this.mlpShape(l)), {
          x: this.act(`resid_mid.${l}`),
          lnw: this.p("ln2_w", l),
          lnb: this.p("ln2_b", l),
          fcw: this.p("fc_w", l),
          fcb: this.p("fc_b", l),
          projw: this.p("fcproj_w", l),
          projb: this.p("fcproj_b", l),
          yOut: this.act(`ln2.${l}`),
          meanOut: this.act(`ln2_mean.${l}`),
          rstdOut: this.act(`ln2_rstd.${l}`),
          hOut: this.act(`fch.${l}`),
          out: this.act(`resid.${l + 1}`),
        }));
        continue;
      }
      ops.push(await lnOp(`resid_mid.${l}`, "ln2", l));
      ops.push(...this.matmulOp(
        `fc.${l}`,
        {
          M: BT,
          N: 4 * C,
          K: C,
          strideB: this.tensor("fc_w", l).stride,
          strideBias: this.tensor("fc_b", l).stride,
        },
        {
          A: this.act(`ln2.${l}`),
          B: this.p("fc_w", l),
          C: this.act(`fch.${l}`),
          bias: this.p("fc_b", l),
        },
      ));
      ops.push(...this.matmulOp(
        `fcproj.${l}`,
        {
          M: BT,
          N: C,
          K: 4 * C,
          strideB: this.tensor("fcproj_w", l).stride,
          strideBias: this.tensor("fcproj_b", l).stride,
          geluA: true, // fch holds the pre-activation; gelu is applied as it is read
        },
        {
          A: this.act(`fch.${l}`),
          B: this.p("fcproj_w", l),
          C: this.act(`resid.${l + 1}`),
          bias: this.p("fcproj_b", l),
          addend: this.act(`resid_mid.${l}`),
        },
      ));
    }
    this.headStart = ops.length;
    ops.push(
      await this.staticOp("layernorm_forward", {
        BT,
        C,
        P_STRIDE: this.tensor("lnf_w").stride,
        ...layerNormShape(C, 1),
      }, {
        x: this.act(`resid.${c.layers}`),
        w: this.p("lnf_w"),
        b: this.p("lnf_b"),
        out: this.act("lnf"),
        meanOut: this.act("lnf_mean"),
        rstdOut: this.act("lnf_rstd"),
      }, BT),
    );
    // Tied lm head: logits[BT, V] = lnf[BT, C] · wteᵀ, wte stored [V, C].
    ops.push(...this.matmulOp(
      "logits",
      { M: BT, N: V, K: C, transB: true, strideB: wte.stride },
      { A: this.act("lnf"), B: this.p("wte"), C: this.act("logits") },
    ));
    this.forwardOps = ops;
    // The loss is the mean over the positions that predict a token.
    const TARGETS = targetsOf(this.shape);
    const inv = { f32: 1 / (B * TARGETS) };
    const vwV = vectorWidth(V);
    // A thread per row on a CPU rasterizer and for short rows; on a GPU a
    // workgroup per long row (a lane per vector at least), so that neighbouring
    // lanes read neighbouring logits (cross_entropy_rows.wgsl).
    const rowPerThread = this.software || V / vwV.W < WG;
    const ce = (train: boolean) =>
      rowPerThread
        ? this.staticOp(
          "cross_entropy",
          {
            BT,
            T,
            TARGETS,
            V,
            TRAIN: train,
            INV_COUNT: inv,
            CACHE: privateArrayFits(V / vwV.W),
            ...vwV,
          },
          { targets: this.act("targets"), logits: this.act("logits"), losses: this.act("losses") },
          BT,
        )
        : this.staticOp(
          "cross_entropy_rows",
          { BT, T, TARGETS, V, TRAIN: train, INV_COUNT: inv, ...vwV },
          { targets: this.act("targets"), logits: this.act("logits"), losses: this.act("losses") },
          BT * WG,
          "cross_entropy",
        );
    // The mean loss is reduced only when read (meanLoss): the trainer reads
    // it every few hundred steps, and at the paper's B·T of 131,072 the
    // reduction cost 0.8 of 17.6 ms per step on an H100. The per-row losses
    // it reads stay in place until the next step or evaluation.
    this.lossReduceOp = this.kernels.op(
      "loss_reduce",
      this.kernels.kernel(
        await this.kernels.source("loss_reduce", { BT, INV_COUNT: inv }),
        "loss_reduce",
      ),
      { losses: this.act("losses"), mean: this.act("mean_loss") },
      [1, 1, this.K],
    );
    this.lossEvalOps = [await ce(false)];
    // The fused training head computes the loss itself (buildBackward).
    if (this.options.training && !(this.fuse && headFusable(C, V))) {
      this.lossTrainOps = [await ce(true)];
    }
  }

  private async buildBackward() {
    const c = this.config, C = c.dModel, V = c.vocabSize, T = this.P, B = this.B;
    const BT = B * T;
    const ops: Op[] = [];
    const wte = this.tensor("wte"), wpe = this.tensor("wpe");
    // logits now hold d(loss)/d(logits) (cross_entropy, or the fused head,
    // wrote them in place).
    const dwteShape = this.weightGradShape(V, C, false, false);
    const dwteHead = dwteShape
      ? [
        this.weightGradOp("dwte.head", dwteShape, this.act("logits"), this.act("lnf"), {
          role: "wte",
          layer: -1,
        }),
      ]
      : this.matmulOp(
        "dwte.head",
        { M: V, N: C, K: BT, transA: true, strideC: wte.stride },
        { A: this.act("logits"), B: this.act("lnf"), C: this.g("wte") },
      );
    const lnBackward = async (
      x: string,
      mean: string,
      rstd: string,
      w: TensorRole,
      b: TensorRole,
      l: number,
      accumulate: boolean,
    ) => {
      const stride = this.tensor(w, l).stride, vw = vectorWidth(C);
      // One workgroup (WG threads) per LN_GRAD_COLS vector columns and row slice.
      const columnGroups = Math.ceil(C / vw.W / LN_GRAD_COLS);
      const splits = this.layerNormRowSplits(columnGroups);
      const scratch = splits > 1 ? this.act("split_scratch") : undefined;
      const ops = [
        await this.staticOp("layernorm_backward", {
          BT,
          C,
          P_STRIDE: stride,
          ACCUMULATE: accumulate,
          ...layerNormShape(C, 2), // caches g and n of the row
        }, {
          dout: this.act("dln"),
          x: this.act(x),
          w: this.p(w, l),
          mean: this.act(mean),
          rstd: this.act(rstd),
          dx: this.act("dres"),
        }, BT),
        await this.staticOp("layernorm_param_grads", {
          BT,
          C,
          CB: LN_GRAD_COLS,
          ...vw,
          ROW_SPLITS: splits,
          ROWS: Math.ceil(BT / splits),
          // Split: slice s of model z at scratch[z, s, ·], dw then db (split_sum's layout).
          OUT_STRIDE: (scratch ? this.splitScratch : stride) / vw.W,
          SLICE_STRIDE: scratch ? (2 * C) / vw.W : 0,
          DB_SHIFT: scratch ? C / vw.W : 0,
        }, {
          dout: this.act("dln"),
          x: this.act(x),
          mean: this.act(mean),
          rstd: this.act(rstd),
          dw: scratch ?? this.g(w, l),
          db: scratch ?? this.g(b, l),
        }, columnGroups * splits * WG),
      ];
      if (scratch) {
        const sum = planSplitSum({
          splits,
          length1: C,
          length2: C,
          stride1: stride,
          stride2: stride,
          scratchStride: this.splitScratch,
          workgroupSize: WG,
          maxWorkgroupsPerDim: this.tuning.maxWorkgroupsPerDim,
        });
        ops.push(this.splitSumOp("layernorm_param_grads", sum, this.g(w, l), this.g(b, l)));
      }
      return ops;
    };
    // Linear layer backward: dIn = dOut · Wᵀ, dW = Inᵀ · dOut, db = Σ dOut
    // (db written by the dW matmul, see matmul_codegen's colSums).
    // geluInput: the layer's input is gelu(input) (the MLP projection): dW
    // applies gelu as it reads the input, and dIn is the gradient of the
    // pre-activation, dOut · Wᵀ ⊙ gelu'(input).
    const linearBackward = (
      name: string,
      input: string,
      dOut: string,
      dIn: string,
      w: TensorRole,
      b: TensorRole,
      l: number,
      inDim: number,
      outDim: number,
      geluInput = false,
    ) => {
      const ws = this.tensor(w, l).stride;
      const gradShape = this.weightGradShape(inDim, outDim, geluInput, true);
      // Thunks: each path builds (and compiles) only the ops it runs.
      return {
        dx: () =>
          this.matmulOp(
            `${name}.dx`,
            { M: BT, N: inDim, K: outDim, transB: true, strideB: ws },
            {
              A: this.act(dOut),
              B: this.p(w, l),
              C: this.act(dIn),
              geluGradOf: geluInput ? this.act(input) : undefined,
            },
          ),
        dw: () =>
          gradShape
            ? [
              this.weightGradOp(
                `${name}.dw`,
                gradShape,
                this.act(input),
                this.act(dOut),
                { role: w, layer: l },
                { role: b, layer: l },
              ),
            ]
            : this.matmulOp(
              `${name}.dw`,
              {
                M: inDim,
                N: outDim,
                K: BT,
                transA: true,
                strideC: ws,
                geluA: geluInput,
                strideColSums: this.tensor(b, l).stride,
              },
              {
                A: this.act(input),
                B: this.act(dOut),
                C: this.g(w, l),
                colSums: this.g(b, l), // db = Σ_rows dOut
              },
            ),
      };
    };
    // The same kernels every layer: one per pair for short sequences on CPUs, else two.
    const attShape = this.attentionShape();
    const attBackward:
      | { joint: AttentionKernel }
      | { query: AttentionKernel; keyValue: AttentionKernel } = this.jointAttention
        ? { joint: attentionBackward(attShape) }
        : {
          query: attentionBackwardQuery(attShape),
          keyValue: attentionBackwardKeyValue(attShape),
        };
    for (let l = c.layers - 1; l >= 0; l--) {
      const fcproj = linearBackward(
        `fcproj.${l}`,
        `fch.${l}`,
        "dres",
        "dfch",
        "fcproj_w",
        "fcproj_b",
        l,
        4 * C,
        C,
        true,
      );
      const fc = linearBackward(`fc.${l}`, `ln2.${l}`, "dfch", "dln", "fc_w", "fc_b", l, C, 4 * C);
      if (this.fusedBlock) {
        // fcproj.dx, fc.dx and the layernorm's input gradient in one kernel
        // (block_codegen.ts), which overwrites dres: fcproj's weight gradient,
        // which reads it, goes first.
        ops.push(
          ...fcproj.dw(),
          this.rowOp(`mlp_backward.${l}`, mlpBackward(this.mlpShape(l)), {
            dres: this.act("dres"),
            h: this.act(`fch.${l}`),
            x: this.act(`resid_mid.${l}`),
            mean: this.act(`ln2_mean.${l}`),
            rstd: this.act(`ln2_rstd.${l}`),
            lnw: this.p("ln2_w", l),
            fcw: this.p("fc_w", l),
            projw: this.p("fcproj_w", l),
            dhOut: this.act("dfch"),
            partials: this.layerNormPartials(`ln2.${l}.params`, "ln2_w", "ln2_b", l),
          }),
          ...fc.dw(),
        );
      } else {
        ops.push(...fcproj.dx(), ...fcproj.dw(), ...fc.dx(), ...fc.dw());
        ops.push(
          ...await lnBackward(
            `resid_mid.${l}`,
            `ln2_mean.${l}`,
            `ln2_rstd.${l}`,
            "ln2_w",
            "ln2_b",
            l,
            true,
          ),
        );
      }
      const attproj = linearBackward(
        `attproj.${l}`,
        `atty.${l}`,
        "dres",
        "datty",
        "attproj_w",
        "attproj_b",
        l,
        C,
        C,
      );
      const attprojDx = this.fusedBlock
        ? [
          this.rowOp(`attproj.${l}.dx`, projBackward(this.projShape(l)), {
            dres: this.act("dres"),
            pw: this.p("attproj_w", l),
            da: this.act("datty"),
          }),
        ]
        : attproj.dx();
      ops.push(...attprojDx, ...attproj.dw());
      if ("joint" in attBackward) {
        ops.push(this.generatedOp(`attention_backward.${l}`, attBackward.joint, {
          qkv: this.act(`qkv.${l}`),
          y: this.act(`atty.${l}`),
          dy: this.act("datty"),
          lse: this.act(`lse.${l}`),
          dqkv: this.act("dqkv"),
        }));
      } else {
        ops.push(
          this.generatedOp(`attention_backward_q.${l}`, attBackward.query, {
            qkv: this.act(`qkv.${l}`),
            y: this.act(`atty.${l}`),
            dy: this.act("datty"),
            lse: this.act(`lse.${l}`),
            dD: this.act("attD"),
            dqkv: this.act("dqkv"),
          }),
          this.generatedOp(`attention_backward_kv.${l}`, attBackward.keyValue, {
            qkv: this.act(`qkv.${l}`),
            dy: this.act("datty"),
            lse: this.act(`lse.${l}`),
            dD: this.act("attD"),
            dqkv: this.act("dqkv"),
          }),
        );
      }
      const qkv = linearBackward(
        `qkv.${l}`,
        `ln1.${l}`,
        "dqkv",
        "dln",
        "qkv_w",
        "qkv_b",
        l,
        C,
        3 * C,
      );
      if (this.fusedBlock) {
        // qkv.dx and the layernorm's input gradient in one kernel (block_codegen.ts).
        ops.push(
          this.rowOp(`qkv_backward.${l}`, qkvBackward(this.qkvShape(l)), {
            dres: this.act("dres"),
            dqkv: this.act("dqkv"),
            x: this.act(`resid.${l}`),
            mean: this.act(`ln1_mean.${l}`),
            rstd: this.act(`ln1_rstd.${l}`),
            lnw: this.p("ln1_w", l),
            qkvw: this.p("qkv_w", l),
            partials: this.layerNormPartials(`ln1.${l}.params`, "ln1_w", "ln1_b", l),
          }),
          ...qkv.dw(),
        );
      } else {
        ops.push(...qkv.dx(), ...qkv.dw());
        ops.push(
          ...await lnBackward(
            `resid.${l}`,
            `ln1_mean.${l}`,
            `ln1_rstd.${l}`,
            "ln1_w",
            "ln1_b",
            l,
            true,
          ),
        );
      }
    }
    // It adds the token embeddings' gradient into dwte, after the sums.
    const encoder = await this.staticOp("encoder_backward", {
      BT,
      T,
      C,
      V,
      WTE_STRIDE: wte.stride,
      WPE_STRIDE: wpe.stride,
      ...vectorWidth(C),
    }, {
      dx: this.act("dres"),
      order: this.act("order"),
      offsets: this.act("offsets"),
      dwte: this.g("wte"),
      dwpe: this.g("wpe"),
    }, (V + T) * C / vectorWidth(C).W);
    // The partial sums of every fused kernel and row-split weight gradient
    // (their regions are taken as their ops are built, so this comes last).
    const tail = () => [...(this.partials ? [this.partialSumsOp()] : []), encoder];
    if (this.fuse && headFusable(C, V)) {
      // The fused head replaces the final layernorm, the lm head, the loss,
      // dlnf and the layernorm's gradients; it writes lnf, logits (as
      // dlogits), the lnf mean and rstd and dres that the rest reads, and
      // the layernorm's parameter-gradient partials.
      const head = trainHead({
        ...this.rowFrame(),
        C,
        V,
        lnStride: this.tensor("lnf_w").stride,
        wteStride: wte.stride,
      });
      this.trainOps = [
        ...this.forwardOps.slice(0, this.headStart),
        this.rowOp("train_head", head, {
          targets: this.act("targets"),
          x: this.act(`resid.${c.layers}`),
          lnw: this.p("lnf_w"),
          lnb: this.p("lnf_b"),
          wte: this.p("wte"),
          yOut: this.act("lnf"),
          meanOut: this.act("lnf_mean"),
          rstdOut: this.act("lnf_rstd"),
          dlogits: this.act("logits"),
          dx: this.act("dres"),
          losses: this.act("losses"),
          partials: this.layerNormPartials("lnf.params", "lnf_w", "lnf_b"),
        }),
        ...dwteHead,
        ...ops,
        ...tail(),
      ];
      return;
    }
    const dlnf = this.matmulOp(
      "dlnf",
      { M: BT, N: C, K: V, strideB: wte.stride },
      { A: this.act("logits"), B: this.p("wte"), C: this.act("dln") },
    );
    this.trainOps = [
      ...this.forwardOps,
      ...this.lossTrainOps,
      ...dlnf,
      ...dwteHead,
      // layernorm_backward, layernorm_param_grads (, its split sum) of lnf.
      ...await lnBackward(`resid.${c.layers}`, "lnf_mean", "lnf_rstd", "lnf_w", "lnf_b", -1, false),
      ...ops,
      ...tail(),
    ];
  }

  private async buildOptimizer() {
    // One descriptor per chunk of one (tensor, model) slice: {start, count, model, decay}.
    const descs: number[] = [];
    for (const t of this.tensors) {
      for (let z = 0; z < this.K; z++) {
        for (let i = 0; i < t.spec.size; i += OPT_CHUNK) {
          descs.push(
            t.blockOffset + z * t.stride + i,
            Math.min(OPT_CHUNK, t.spec.size - i),
            z,
            DECAYED.has(t.spec.role) ? 1 : 0,
          );
        }
      }
    }
    const [gx, gy] = gridFor(descs.length / 4, 1);
    while (descs.length < gx * gy * 4) descs.push(0, 0, 0, 0); // padding chunks do nothing
    const descBuf = this.buffer("optimizer_chunks", descs.length);
    this.device.queue.writeBuffer(descBuf, 0, new Uint32Array(descs));
    // bf16-pure rounds the only copy in place; bf16 updates the f32 master
    // weights, then rounds them into the parameters (round_bf16.wgsl).
    const code = await this.kernels.source("optimizer", {
      ADAMW: this.options.optimizer === "adamw",
      BF16: this.options.precision === "bf16-pure",
      CHUNK: OPT_CHUNK,
      GX: gx,
      WG,
    }, ["bf16_round"]);
    this.optimizerOps = [
      this.kernels.op("optimizer", this.kernels.kernel(code, "optimizer"), {
        params: { buffer: this.master ?? this.params },
        grads: { buffer: this.grads! },
        m1: { buffer: this.adamM! },
        m2: { buffer: this.adamV! },
        descs: { buffer: descBuf },
        hyper: { buffer: this.hyper! },
      }, [gx, gy, 1]),
    ];
    if (this.master) {
      const N4 = this.paramFloats / 4; // gpuParamLayout's total is a multiple of 64 floats
      const [rx, ry] = gridFor(N4, WG);
      const round = await this.kernels.source("round_bf16", { N4, GX: rx, WG }, ["bf16_round"]);
      this.optimizerOps.push(
        this.kernels.op("round_bf16", this.kernels.kernel(round, "round_bf16"), {
          master: { buffer: this.master },
          weights: { buffer: this.params },
        }, [rx, ry, 1]),
      );
    }
  }

  // ---- host side -------------------------------------------------------

  private checkTokens(tokens: Uint32Array) {
    const n = this.K * this.B * this.T;
    if (tokens.length !== n) {
      throw new RangeError(
        `tokens: expected ${n} ids (fleet ${this.K} x batch ${this.B} x seqLen ${this.T}), got ${tokens.length}`,
      );
    }
    const V = this.config.vocabSize;
    for (let i = 0; i < n; i++) {
      if (tokens[i] >= V) {
        throw new RangeError(`tokens[${i}]: token id ${tokens[i]} is not below vocabSize ${V}`);
      }
    }
  }

  /**
   * Writes a batch of tokens [K, B, T] as the rows the kernels compute: each
   * row's input token and the token it predicts, P positions per sequence
   * (in a training fleet the last position is left out).
   */
  private uploadTokens(tokens: Uint32Array, training: boolean) {
    this.checkTokens(tokens);
    const q = this.device.queue;
    const S = this.T, P = this.P, sequences = this.K * this.B;
    const inputs = P === S ? tokens : new Uint32Array(sequences * P);
    const targets = new Uint32Array(sequences * P);
    for (let i = 0; i < sequences; i++) {
      const seq = tokens.subarray(i * S, (i + 1) * S);
      if (inputs !== tokens) inputs.set(seq.subarray(0, P), i * P);
      // An evaluation fleet's last position predicts nothing: its target stays 0, unread.
      targets.set(seq.subarray(1, Math.min(P + 1, S)), i * P);
    }
    q.writeBuffer(this.acts.get("tokens")!, 0, inputs as Uint32Array<ArrayBuffer>);
    q.writeBuffer(this.acts.get("targets")!, 0, targets);
    if (!training) return;
    // Rows grouped by input token id (counting sort), per model: the
    // embedding backward sums rows per token without atomics.
    const V = this.config.vocabSize, BT = this.B * P;
    const offsets = new Uint32Array(this.K * (V + 1));
    const order = new Uint32Array(this.K * BT);
    for (let z = 0; z < this.K; z++) {
      const off = offsets.subarray(z * (V + 1), (z + 1) * (V + 1));
      const toks = inputs.subarray(z * BT, (z + 1) * BT);
      for (let i = 0; i < BT; i++) off[toks[i] + 1]++;
      for (let v = 0; v < V; v++) off[v + 1] += off[v];
      const fill = off.slice(0, V);
      for (let i = 0; i < BT; i++) order[z * BT + fill[toks[i]]++] = i;
    }
    q.writeBuffer(this.acts.get("order")!, 0, order);
    q.writeBuffer(this.acts.get("offsets")!, 0, offsets);
  }

  private run(...opLists: Op[][]) {
    const enc = this.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (const ops of opLists) Kernels.encode(pass, ops);
    pass.end();
    this.device.queue.submit([enc.finish()]);
  }

  /**
   * One optimizer step for every model of the fleet on tokens [K, B, T]:
   * forward, mean token cross-entropy, backward, update. Reads nothing back.
   */
  trainStep(tokens: Uint32Array, hyper: StepHyper[]) {
    if (!this.options.training) throw new Error("this fleet was created without training");
    this.uploadTokens(tokens, true);
    this.writeHyper(hyper, this.step + 1);
    this.run(this.trainOps, this.optimizerOps);
    this.step++;
  }

  /** Every op of one training step, in order (profiling). */
  stepOps(): Op[] {
    return [...this.trainOps, ...this.optimizerOps];
  }

  /** Forward + backward only: gradients of the mean token loss (tests, checks). */
  computeGradients(tokens: Uint32Array) {
    if (!this.options.training) throw new Error("this fleet was created without training");
    this.uploadTokens(tokens, true);
    this.run(this.trainOps);
  }

  private writeHyper(hyper: StepHyper[], step: number) {
    if (hyper.length !== this.K) {
      throw new RangeError(`hyper: expected ${this.K} entries, got ${hyper.length}`);
    }
    const h = new Float32Array(this.K * 8);
    hyper.forEach((x, z) => {
      h.set([
        x.lr,
        x.beta1,
        x.beta2,
        x.eps,
        x.weightDecay,
        1 - Math.pow(x.beta1, step),
        1 - Math.pow(x.beta2, step),
        0,
      ], z * 8);
    });
    this.device.queue.writeBuffer(this.hyper!, 0, h);
  }

  /** Per-token NLL in nats, [K, B, T] (position t predicts token t+1; t = T-1 is 0). */
  async tokenNll(tokens: Uint32Array): Promise<Float32Array> {
    this.uploadTokens(tokens, false);
    this.run(this.forwardOps, this.lossEvalOps);
    const S = this.T, P = this.P, sequences = this.K * this.B;
    const rows = await this.read(this.acts.get("losses")!, 0, sequences * P);
    if (P === S) return rows;
    const nll = new Float32Array(sequences * S); // a training fleet's: the last position's 0 added
    for (let i = 0; i < sequences; i++) nll.set(rows.subarray(i * P, (i + 1) * P), i * S);
    return nll;
  }

  /** Logits [K, B, P, V] of a forward pass, at the positions this fleet computes (tests). */
  async logits(tokens: Uint32Array): Promise<Float32Array> {
    this.uploadTokens(tokens, false);
    this.run(this.forwardOps);
    return await this.read(
      this.acts.get("logits")!,
      0,
      this.K * this.B * this.P * this.config.vocabSize,
    );
  }

  /**
   * Logits [K, B, V] at one position of every sequence (greedy decoding): the same
   * forward pass, but only the K·B rows at `position` are copied back, V floats each
   * instead of T·V, in one host sync.
   */
  async logitsAt(tokens: Uint32Array, position: number): Promise<Float32Array> {
    if (!Number.isInteger(position) || position < 0 || position >= this.P) {
      throw new RangeError(`position: ${position} is outside 0..${this.P - 1}`);
    }
    this.uploadTokens(tokens, false);
    this.run(this.forwardOps);
    const rowBytes = this.config.vocabSize * 4, logits = this.acts.get("logits")!;
    return await this.readRanges(
      Array.from({ length: this.K * this.B }, (_, r) => ({
        buf: logits,
        offset: (r * this.P + position) * rowBytes,
        dst: r * rowBytes,
        size: rowBytes,
      })),
    );
  }

  /** Mean token loss of each model at the last step or evaluation. */
  async meanLoss(): Promise<Float32Array> {
    this.run([this.lossReduceOp!]);
    return await this.read(this.acts.get("mean_loss")!, 0, this.K);
  }

  /**
   * Sets model z's parameters from the logical layout (lib/model/layout.ts).
   * bf16 and bf16-pure models hold them rounded to bfloat16; a "bf16"
   * training fleet keeps `flat` itself as the f32 master weights (a
   * checkpoint's, getMasterParameters), so training continues from them.
   */
  setParameters(z: number, flat: Float32Array) {
    this.checkModel(z);
    if (this.master) this.scatter(this.master, z, flat, "parameters");
    let src = flat;
    if (bf16Weights(this.options.precision)) {
      src = flat.slice();
      roundToBf16(src);
    }
    this.scatter(this.params, z, src, "parameters");
    // A model that gets new weights starts a fresh optimizer state.
    if (this.adamM) this.zeroSlices(z, [this.adamM, this.adamV!]);
  }

  private zeroSlices(z: number, bufs: GPUBuffer[]) {
    const enc = this.device.createCommandEncoder();
    for (const b of bufs) {
      for (const t of this.tensors) {
        enc.clearBuffer(b, (t.blockOffset + z * t.stride) * 4, t.stride * 4);
      }
    }
    this.device.queue.submit([enc.finish()]);
  }

  /**
   * Model z's parameters in the logical layout: the weights its forward pass
   * uses (bf16 values for bf16 and bf16-pure models).
   */
  getParameters(z: number): Promise<Float32Array> {
    return this.gather(this.params, z);
  }

  /**
   * The parameters training continues from, what a checkpoint keeps: a "bf16"
   * training fleet's f32 master weights, else getParameters. setParameters of
   * these restores both copies.
   */
  getMasterParameters(z: number): Promise<Float32Array> {
    return this.gather(this.master ?? this.params, z);
  }

  /** Model z's gradients (after computeGradients or trainStep) in the logical layout. */
  getGradients(z: number): Promise<Float32Array> {
    if (!this.grads) throw new Error("this fleet was created without training");
    return this.gather(this.grads, z);
  }

  /** Model z's Adam moments in the logical layout (checkpoints). */
  async getOptimizerState(z: number): Promise<{ m: Float32Array; v: Float32Array }> {
    if (!this.adamM || !this.adamV) throw new Error("this fleet was created without training");
    return { m: await this.gather(this.adamM, z), v: await this.gather(this.adamV, z) };
  }

  /** Restores model z's Adam moments (after setParameters, which clears them). */
  setOptimizerState(z: number, state: { m: Float32Array; v: Float32Array }) {
    if (!this.adamM || !this.adamV) throw new Error("this fleet was created without training");
    this.scatter(this.adamM, z, state.m, "m");
    this.scatter(this.adamV, z, state.v, "v");
  }

  private scatter(buf: GPUBuffer, z: number, flat: Float32Array, what: string) {
    this.checkModel(z);
    const last = this.tensors[this.tensors.length - 1].spec;
    if (flat.length !== last.offset + last.size) {
      throw new RangeError(
        `${what}: expected ${last.offset + last.size} floats, got ${flat.length}`,
      );
    }
    for (const t of this.tensors) {
      this.device.queue.writeBuffer(
        buf,
        (t.blockOffset + z * t.stride) * 4,
        flat as Float32Array<ArrayBuffer>,
        t.spec.offset,
        t.spec.size,
      );
    }
  }

  private async gather(buf: GPUBuffer, z: number): Promise<Float32Array> {
    this.checkModel(z);
    return await this.readRanges(this.tensors.map((t) => ({
      buf,
      offset: (t.blockOffset + z * t.stride) * 4,
      dst: t.spec.offset * 4, // the logical layout (lib/model/layout.ts)
      size: t.spec.size * 4,
    })));
  }

  private async read(buf: GPUBuffer, offsetFloats: number, floats: number): Promise<Float32Array> {
    return await this.readRanges([{ buf, offset: offsetFloats * 4, dst: 0, size: floats * 4 }]);
  }

  /**
   * Copies byte ranges of GPU buffers to their `dst` offsets in one staging buffer and reads
   * it back with a single host sync (~11 ms on llvmpipe, so callers batch what they need).
   * Offsets and sizes are whole floats: copyBufferToBuffer needs 4-byte multiples.
   */
  private async readRanges(
    ranges: readonly { buf: GPUBuffer; offset: number; dst: number; size: number }[],
  ): Promise<Float32Array> {
    const total = Math.max(0, ...ranges.map((r) => r.dst + r.size));
    const staging = this.device.createBuffer({
      size: Math.max(16, Math.ceil(total / 16) * 16),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = this.device.createCommandEncoder();
    for (const r of ranges) enc.copyBufferToBuffer(r.buf, r.offset, staging, r.dst, r.size);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(staging.getMappedRange().slice(0, total));
    staging.unmap();
    staging.destroy();
    return out;
  }

  private checkModel(z: number) {
    if (!Number.isInteger(z) || z < 0 || z >= this.K) {
      throw new RangeError(`model index ${z} is outside the fleet of ${this.K}`);
    }
  }

  destroy() {
    for (const b of this.owned) b.destroy();
    this.owned = [];
    this.acts.clear();
  }
}
