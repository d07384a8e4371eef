// The GPT-2 model on the GPU: a fleet of K models of one shape, each with its
// own parameters, data and optimizer state, trained by one set of dispatches
// (the fleet index is every kernel's workgroup z). K = 1 is a single model.
//
// Everything lives in GPU buffers for the whole run (buffers.ts). A training
// step uploads its tokens (plus the token->positions index that the
// embedding backward needs) and reads nothing back; the loss is read only
// when asked. The kernels come from the fleet's kernel family: the hardware
// family (hardware_family.ts) on GPUs, the software family
// (../software/family.ts) on CPU rasterizers.
//
// Precision: the optimizer updates "fp32" parameters as they are; it rounds
// "bf16-pure" ones to bfloat16 after each step (the only copy). A "bf16"
// (mixed precision) training fleet keeps f32 master weights in one more
// buffer of the same layout: the optimizer updates them, and the parameters
// every kernel reads are the master weights rounded to bfloat16.
import type { Gpu } from "../device.ts";
import { Kernels, type Op } from "../kernels.ts";
import { HARDWARE_TUNING, SOFTWARE_TUNING } from "../matmul/shape.ts";
import {
  checkFleetFitsOn,
  type FleetShape,
  type GpuTensor,
  kernelFamilyFor,
  positionsOf,
  splitScratchFloats,
} from "../memory_plan.ts";
import { SoftwareFamily } from "../software/family.ts";
import { bf16Weights, checkModelConfig } from "../../lib/model/config.ts";
import type { ModelConfig, Precision } from "../../lib/model/schemas.ts";
import { roundToBf16 } from "../../lib/bf16.ts";
import { FleetBuffers } from "./buffers.ts";
import type { KernelFamily } from "./family.ts";
import { HardwareFamily } from "./hardware_family.ts";
import { OpBuilder } from "./op_builder.ts";
import { hyperValues, type OptimizerKind, optimizerOps, type StepHyper } from "./optimizer.ts";

export type { OptimizerKind, StepHyper };

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
   * The software family's fused kernels for small models where they serve
   * (widths multiples of 4 and small): the training head, each block's
   * attention input and MLP, and row-split weight gradients
   * (../software/). Default true; tests turn it off to compare.
   */
  fuse?: boolean;
}

/** A fleet's ops, built once and replayed. */
interface Steps {
  /** The forward pass up to the logits. */
  forward: Op[];
  /** The losses of an evaluation (after forward). */
  evalLoss: Op;
  /** mean_loss from the losses of the last step or evaluation. */
  lossReduce: Op;
  /** A training step's forward and backward (gradients in the gradients buffer). */
  train: Op[];
  /** The optimizer's update from those gradients. */
  optimizer: Op[];
}

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

  private constructor(
    readonly options: FleetOptions,
    private readonly f: FleetBuffers,
    private readonly steps: Steps,
  ) {
    this.config = options.config;
    this.K = options.fleetSize;
    this.B = options.batchSize;
    this.T = options.config.seqLen;
    this.P = positionsOf(options);
    this.tensors = f.tensors;
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
    const shape: FleetShape & { kernels: typeof kernels } = { ...options, kernels };
    checkFleetFitsOn(gpu.info, shape, options.memoryBudgetBytes);
    const f = new FleetBuffers(gpu, shape);
    const software = kernels === "software";
    const ops = new OpBuilder(
      f,
      shape,
      software ? SOFTWARE_TUNING : HARDWARE_TUNING,
      splitScratchFloats(shape),
    );
    const family = software ? new SoftwareFamily(ops) : new HardwareFamily(ops);
    f.device.pushErrorScope("validation");
    let steps: Steps | undefined;
    let failure: unknown;
    try {
      steps = await buildSteps(family, f, options);
    } catch (e) {
      failure = e;
    }
    const err = await f.device.popErrorScope();
    if (failure || err || !steps) {
      f.destroy();
      if (failure) throw failure;
      throw new Error(`GPU pipeline setup failed: ${err!.message}`);
    }
    return new GptFleet(options, f, steps);
  }

  // ---- training ------------------------------------------------------------

  /**
   * One optimizer step for every model of the fleet on tokens [K, B, T]:
   * forward, mean token cross-entropy, backward, update. Reads nothing back.
   */
  trainStep(tokens: Uint32Array, hyper: StepHyper[]) {
    this.checkTraining();
    this.uploadTokens(tokens, true);
    if (hyper.length !== this.K) {
      throw new RangeError(`hyper: expected ${this.K} entries, got ${hyper.length}`);
    }
    this.f.device.queue.writeBuffer(this.f.hyper!, 0, hyperValues(hyper, this.step + 1));
    this.run(this.steps.train, this.steps.optimizer);
    this.step++;
  }

  /** Every op of one training step, in order (profiling). */
  stepOps(): Op[] {
    return [...this.steps.train, ...this.steps.optimizer];
  }

  /** Forward + backward only: gradients of the mean token loss (tests, checks). */
  computeGradients(tokens: Uint32Array) {
    this.checkTraining();
    this.uploadTokens(tokens, true);
    this.run(this.steps.train);
  }

  // ---- evaluation ----------------------------------------------------------

  /** Per-token NLL in nats, [K, B, T] (position t predicts token t+1; t = T-1 is 0). */
  async tokenNll(tokens: Uint32Array): Promise<Float32Array> {
    this.uploadTokens(tokens, false);
    this.run(this.steps.forward, [this.steps.evalLoss]);
    const S = this.T, P = this.P, sequences = this.K * this.B;
    const rows = await this.f.read("losses", sequences * P);
    if (P === S) return rows;
    const nll = new Float32Array(sequences * S); // a training fleet's: the last position's 0 added
    for (let i = 0; i < sequences; i++) nll.set(rows.subarray(i * P, (i + 1) * P), i * S);
    return nll;
  }

  /** Logits [K, B, P, V] of a forward pass, at the positions this fleet computes (tests). */
  async logits(tokens: Uint32Array): Promise<Float32Array> {
    this.uploadTokens(tokens, false);
    this.run(this.steps.forward);
    return await this.f.read("logits", this.K * this.B * this.P * this.config.vocabSize);
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
    this.run(this.steps.forward);
    const rowBytes = this.config.vocabSize * 4;
    return await this.f.readRows(
      "logits",
      Array.from({ length: this.K * this.B }, (_, r) => ({
        offset: (r * this.P + position) * rowBytes,
        dst: r * rowBytes,
        size: rowBytes,
      })),
    );
  }

  /** Mean token loss of each model at the last step or evaluation. */
  async meanLoss(): Promise<Float32Array> {
    this.run([this.steps.lossReduce]);
    return await this.f.read("mean_loss", this.K);
  }

  // ---- parameters and optimizer state ----------------------------------------

  /**
   * Sets model z's parameters from the logical layout (lib/model/layout.ts).
   * bf16 and bf16-pure models hold them rounded to bfloat16; a "bf16"
   * training fleet keeps `flat` itself as the f32 master weights (a
   * checkpoint's, getMasterParameters), so training continues from them.
   */
  setParameters(z: number, flat: Float32Array) {
    const f = this.f;
    f.checkModel(z);
    if (f.master) f.scatter(f.master, z, flat, "parameters");
    let src = flat;
    if (bf16Weights(this.options.precision)) {
      src = flat.slice();
      roundToBf16(src);
    }
    f.scatter(f.params, z, src, "parameters");
    // A model that gets new weights starts a fresh optimizer state.
    if (f.adamM) f.zeroModel(z, [f.adamM, f.adamV!]);
  }

  /**
   * Model z's parameters in the logical layout: the weights its forward pass
   * uses (bf16 values for bf16 and bf16-pure models).
   */
  getParameters(z: number): Promise<Float32Array> {
    return this.f.gather(this.f.params, z);
  }

  /**
   * The parameters training continues from, what a checkpoint keeps: a "bf16"
   * training fleet's f32 master weights, else getParameters. setParameters of
   * these restores both copies.
   */
  getMasterParameters(z: number): Promise<Float32Array> {
    return this.f.gather(this.f.master ?? this.f.params, z);
  }

  /** Model z's gradients (after computeGradients or trainStep) in the logical layout. */
  getGradients(z: number): Promise<Float32Array> {
    this.checkTraining();
    return this.f.gather(this.f.grads!, z);
  }

  /** Model z's Adam moments in the logical layout (checkpoints). */
  async getOptimizerState(z: number): Promise<{ m: Float32Array; v: Float32Array }> {
    this.checkTraining();
    return { m: await this.f.gather(this.f.adamM!, z), v: await this.f.gather(this.f.adamV!, z) };
  }

  /** Restores model z's Adam moments (after setParameters, which clears them). */
  setOptimizerState(z: number, state: { m: Float32Array; v: Float32Array }) {
    this.checkTraining();
    this.f.scatter(this.f.adamM!, z, state.m, "m");
    this.f.scatter(this.f.adamV!, z, state.v, "v");
  }

  destroy() {
    this.f.destroy();
  }

  // ---- host side -------------------------------------------------------------

  private checkTraining() {
    if (!this.options.training) throw new Error("this fleet was created without training");
  }

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
    const S = this.T, P = this.P, sequences = this.K * this.B;
    const inputs = P === S ? tokens : new Uint32Array(sequences * P);
    const targets = new Uint32Array(sequences * P);
    for (let i = 0; i < sequences; i++) {
      const seq = tokens.subarray(i * S, (i + 1) * S);
      if (inputs !== tokens) inputs.set(seq.subarray(0, P), i * P);
      // An evaluation fleet's last position predicts nothing: its target stays 0, unread.
      targets.set(seq.subarray(1, Math.min(P + 1, S)), i * P);
    }
    this.f.write("tokens", inputs);
    this.f.write("targets", targets);
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
    this.f.write("order", order);
    this.f.write("offsets", offsets);
  }

  private run(...opLists: Op[][]) {
    const enc = this.f.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (const ops of opLists) Kernels.encode(pass, ops);
    pass.end();
    this.f.device.queue.submit([enc.finish()]);
  }
}

/**
 * The model, as its family's kernels: forward as in GPT-2, then, for
 * training, backward in reverse and the optimizer. Backward's ops are built
 * in the order that its partial sums' regions are taken (the head's dwte
 * first, then each block from the last, then the head), which fixes the
 * generated summing kernel (../software/partial_sums.ts); they run head
 * first.
 */
async function buildSteps(
  family: KernelFamily,
  f: FleetBuffers,
  o: FleetOptions,
): Promise<Steps> {
  const layers = o.config.layers;
  const body = [await family.encoderForward()]; // resid.0 [B·T, C]
  for (let l = 0; l < layers; l++) body.push(...await family.layerForward(l)); // resid.l+1
  const head = await family.headForward(); // lnf [B·T, C], logits [B·T, V]
  const steps: Steps = {
    forward: [...body, ...head],
    evalLoss: await family.evalLoss(),
    lossReduce: await family.lossReduce(),
    train: [],
    optimizer: [],
  };
  if (!o.training) return steps;
  const dwte = family.headWeightGrad();
  const blocks: Op[] = [];
  for (let l = layers - 1; l >= 0; l--) blocks.push(...await family.layerBackward(l));
  const trainHead = await family.trainHead(head, dwte); // dres = d loss / d resid.L
  steps.train = [...body, ...trainHead, ...blocks, ...await family.finishBackward()];
  steps.optimizer = await optimizerOps(f, o.optimizer, o.precision);
  return steps;
}
