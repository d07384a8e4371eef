// Sizes of every GPU buffer a fleet needs, computed before any GPU work so a
// model too large for the adapter is refused with a clear message.
import { keepsMasterWeights, parameterCount } from "../lib/model/config.ts";
import type { ModelConfig, Precision } from "../lib/model/schemas.ts";
import { tensorLayout, type TensorSpec } from "../lib/model/layout.ts";
import { SPLIT_SCRATCH_FLOATS } from "./split_sum.ts";
import { usesJointAttention } from "./attention_codegen.ts";
import { SOFTWARE_TUNING } from "./matmul/shape.ts";
import {
  weightGradFits,
  weightGradScratch,
  type WeightGradShape,
} from "./software/weight_grad_codegen.ts";
import { rowPartials } from "./software/row_codegen.ts";
import { blockFusable } from "./software/block_codegen.ts";
import { headFusable } from "./software/head_codegen.ts";

export interface GpuTensor {
  spec: TensorSpec;
  /** Offset in floats of this tensor's block (K models, each `stride` floats). */
  blockOffset: number;
  /** Floats between the same tensor of consecutive models (multiple of 4). */
  stride: number;
}

export interface FleetShape {
  config: ModelConfig;
  fleetSize: number;
  batchSize: number;
  training: boolean;
  /**
   * The weights' precision (default "fp32"): a "bf16" training fleet also keeps the
   * optimizer's f32 master weights, one more parameter-sized buffer.
   */
  precision?: Precision;
  /** The kernel family (gpt_fleet.ts); sizes are checked for "hardware" when absent. */
  kernels?: "software" | "hardware";
  /** The software family's fused kernels for small models (default true; gpt_fleet.ts). */
  fuse?: boolean;
}

/**
 * Positions per sequence a fleet computes (its rows are B times these). The
 * last position of a sequence predicts nothing (no token follows it) and no
 * other position attends to it (attention is causal), so in training it has
 * no loss and no gradient: training fleets leave it out, 1/S of every
 * kernel's rows, as PyTorch's `logits(tokens[:, :-1])` does. Evaluation
 * fleets compute all S (greedy decoding reads the last position's logits).
 * The config's schema keeps S at 2 or more, so a training fleet has rows.
 */
export function positionsOf(s: FleetShape): number {
  return s.training ? s.config.seqLen - 1 : s.config.seqLen;
}

/** Positions per sequence that predict a token, the loss's count: all but the last. */
export function targetsOf(s: FleetShape): number {
  return s.config.seqLen - 1;
}

/** Whether a fleet runs the fused row kernels and row-split weight gradients (gpt_fleet.ts). */
export function fusesSmallModels(s: FleetShape): boolean {
  return s.kernels === "software" && (s.fuse ?? true);
}

/** The row-split weight gradient's shape for a dW of M × N, or undefined where it does not serve. */
export function rowSplitShape(
  s: FleetShape,
  M: number,
  N: number,
  geluA: boolean,
  colSums: boolean,
): WeightGradShape | undefined {
  if (!fusesSmallModels(s) || !weightGradFits(M, N)) return undefined;
  return {
    BT: s.batchSize * positionsOf(s),
    fleet: s.fleetSize,
    M,
    N,
    geluA,
    colSums,
    threads: SOFTWARE_TUNING.threads,
    maxWorkgroupsPerDim: SOFTWARE_TUNING.maxWorkgroupsPerDim,
  };
}

/** The fused row kernels' frame (row_codegen.ts) without its scratch. */
export function rowFrameOf(s: FleetShape) {
  return {
    BT: s.batchSize * positionsOf(s),
    T: positionsOf(s),
    targets: targetsOf(s),
    fleet: s.fleetSize,
    threads: SOFTWARE_TUNING.threads,
    maxWorkgroupsPerDim: SOFTWARE_TUNING.maxWorkgroupsPerDim,
  };
}

/**
 * Floats a region of `need` floats per model takes in a fleet's partials
 * scratch (a storage binding starts at a multiple of 256 bytes).
 */
export function partialsRegionFloats(fleetSize: number, need: number): number {
  return Math.ceil((fleetSize * Math.ceil(need / 4) * 4) / 64) * 64;
}

/**
 * The partial sums' scratch of a training fleet with fused kernels: a
 * region for each producer of a step (each weight gradient the row-split
 * kernel serves, each fused layernorm's parameter gradients), all alive
 * until the one summing op at the end of backward. `lnStride`: a fused
 * layernorm's floats per model; `floats`: the buffer's (0: none).
 */
export function partialsLayout(s: FleetShape): { lnStride: number; floats: number } {
  if (!s.training || !fusesSmallModels(s)) return { lnStride: 0, floats: 0 };
  const { dModel: C, vocabSize: V, layers } = s.config;
  const perLayer = [
    rowSplitShape(s, 4 * C, C, true, true),
    rowSplitShape(s, C, 4 * C, false, true),
    rowSplitShape(s, C, C, false, true),
    rowSplitShape(s, C, 3 * C, false, true),
  ].filter((x) => x !== undefined).map(weightGradScratch);
  const lnStride = Math.ceil((rowPartials(rowFrameOf(s)) * 2 * C) / 4) * 4;
  if (blockFusable(C)) perLayer.push(lnStride, lnStride);
  const needs = Array.from({ length: layers }, () => perLayer).flat();
  const dwte = rowSplitShape(s, V, C, false, false);
  if (dwte) needs.push(weightGradScratch(dwte));
  if (headFusable(C, V)) needs.push(lnStride);
  const floats = needs.reduce((n, need) => n + partialsRegionFloats(s.fleetSize, need), 0);
  return { lnStride, floats };
}

/**
 * Per-model floats of the scratch for split reductions (split_sum.ts): the
 * hardware kernels split the weight gradients' reduction over B·T rows once
 * that is long; the software kernels never do.
 */
export function splitScratchFloats(s: FleetShape): number {
  const rows = s.batchSize * positionsOf(s);
  return s.training && s.kernels !== "software" && rows >= SPLIT_MIN_ROWS
    ? SPLIT_SCRATCH_FLOATS
    : 0;
}
/** Rows (B·T) below which no reduction is split: two slices of 256 at least (matmul/generic.ts). */
const SPLIT_MIN_ROWS = 512;

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/** Tensor-major parameter layout: tensor i of every model sits in one block. */
export function gpuParamLayout(
  config: ModelConfig,
  fleetSize: number,
  offsetAlignBytes = 256,
): { tensors: GpuTensor[]; totalFloats: number } {
  const align = Math.max(64, offsetAlignBytes / 4);
  let cursor = 0;
  const tensors = tensorLayout(config).map((spec) => {
    const stride = roundUp(spec.size, 4);
    const blockOffset = roundUp(cursor, align);
    cursor = blockOffset + fleetSize * stride;
    return { spec, blockOffset, stride };
  });
  return { tensors, totalFloats: roundUp(cursor, align) };
}

/** One GPU buffer of a fleet: its name and size in floats (or u32s). */
export interface BufferSpec {
  name: string;
  floats: number;
}

/**
 * Activations kept per layer l for backward, one buffer each (named
 * `${name}.${l}`, see layerActivation); `resid` has layers + 1 of them:
 * resid.0 is the embedding, resid.l+1 what layer l writes.
 */
export type LayerActivation =
  | "resid"
  | "ln1"
  | "ln1_mean"
  | "ln1_rstd"
  | "qkv"
  | "lse"
  | "atty"
  | "resid_mid"
  | "ln2"
  | "ln2_mean"
  | "ln2_rstd"
  | "fch";

/**
 * The fleet's other buffers, one each: the head's activations, a step's
 * inputs, backward's working gradients (reused by every layer) and scratch.
 */
export type FleetActivation =
  | "lnf"
  | "lnf_mean"
  | "lnf_rstd"
  | "logits"
  | "losses"
  | "mean_loss"
  | "tokens"
  | "targets"
  | "dres"
  | "dln"
  | "datty"
  | "dqkv"
  | "attD"
  | "dfch"
  | "order"
  | "offsets"
  | "split_scratch"
  | "partials";

/** The buffer name of layer l's activation. */
export function layerActivation(name: LayerActivation, l: number): string {
  return `${name}.${l}`;
}

/**
 * Every buffer a fleet allocates besides the parameter-sized ones. The engine
 * allocates exactly these, so the memory check and the allocation agree.
 * Per-layer activations are kept for backward; the d* buffers are backward
 * scratch reused by every layer.
 */
export function activationBuffers(s: FleetShape): BufferSpec[] {
  const { config: c, fleetSize: K, batchSize: B } = s;
  const T = positionsOf(s), C = c.dModel, V = c.vocabSize, NH = c.heads, BT = B * T;
  const rowStats = K * B * NH * T; // one float per (model, sequence, head, position)
  const out: BufferSpec[] = [];
  const add = (name: FleetActivation, floats: number) => out.push({ name, floats });
  const addLayer = (name: LayerActivation, l: number, floats: number) =>
    out.push({ name: layerActivation(name, l), floats });
  for (let l = 0; l <= c.layers; l++) addLayer("resid", l, K * BT * C);
  for (let l = 0; l < c.layers; l++) {
    addLayer("ln1", l, K * BT * C);
    addLayer("ln1_mean", l, K * BT);
    addLayer("ln1_rstd", l, K * BT);
    addLayer("qkv", l, K * BT * 3 * C);
    addLayer("lse", l, rowStats);
    addLayer("atty", l, K * BT * C);
    addLayer("resid_mid", l, K * BT * C);
    addLayer("ln2", l, K * BT * C);
    addLayer("ln2_mean", l, K * BT);
    addLayer("ln2_rstd", l, K * BT);
    addLayer("fch", l, K * BT * 4 * C);
  }
  add("lnf", K * BT * C);
  add("lnf_mean", K * BT);
  add("lnf_rstd", K * BT);
  add("logits", K * BT * V);
  add("losses", K * BT);
  add("mean_loss", K);
  add("tokens", K * BT); // the input token of each row
  add("targets", K * BT); // the token it predicts (any value where none follows)
  if (s.training) {
    add("dres", K * BT * C);
    add("dln", K * BT * C);
    add("datty", K * BT * C);
    add("dqkv", K * BT * 3 * C);
    // The two-kernel attention backward's row sums; the joint one needs none.
    if (!usesJointAttention(s.kernels ?? "hardware", T)) add("attD", rowStats);
    add("dfch", K * BT * 4 * C);
    add("order", K * BT);
    add("offsets", K * (V + 1));
    add("split_scratch", K * splitScratchFloats(s));
    const partials = partialsLayout(s).floats;
    if (partials > 0) add("partials", partials);
  }
  return out;
}

/** All buffers of a fleet, parameter-sized ones included. */
export function fleetBuffers(s: FleetShape): BufferSpec[] {
  const params = gpuParamLayout(s.config, s.fleetSize).totalFloats;
  const out: BufferSpec[] = [{ name: "parameters", floats: params }];
  if (s.training) {
    out.push(
      { name: "gradients", floats: params },
      { name: "adam_m", floats: params },
      { name: "adam_v", floats: params },
    );
    if (keepsMasterWeights(s.precision ?? "fp32")) out.push({ name: "master", floats: params });
  }
  return out.concat(activationBuffers(s));
}

/** Total GPU bytes of a fleet. */
export function fleetBytes(s: FleetShape): number {
  return fleetBuffers(s).reduce((a, b) => a + 4 * Math.max(b.floats, 4), 0);
}

export interface AdapterLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

/** The kernel family that suits an adapter: "software" on CPU rasterizers, else "hardware". */
export function kernelFamilyFor(software: boolean): "software" | "hardware" {
  return software ? "software" : "hardware";
}

/**
 * Throws a RangeError naming the buffer and the limit when a fleet cannot fit
 * on an adapter as GpuInfo / GpuSummary describe it; without `kernels`, sized
 * for the family its fleets would run (it decides their scratch).
 */
export function checkFleetFitsOn(
  adapter: { software: boolean; limits: Record<string, number> },
  shape: FleetShape,
  memoryBudgetBytes?: number,
) {
  const kernels = shape.kernels ?? kernelFamilyFor(adapter.software);
  checkFleetFits({ ...shape, kernels }, {
    maxBufferSize: adapter.limits.maxBufferSize,
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
  }, memoryBudgetBytes);
}

function checkFleetFits(s: FleetShape, limits: AdapterLimits, memoryBudgetBytes?: number) {
  const cap = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  const mib = (b: number) => (b / 2 ** 20).toFixed(1) + " MiB";
  const where = `(${
    parameterCount(s.config)
  } parameters, batchSize ${s.batchSize}, fleet of ${s.fleetSize})`;
  for (const buf of fleetBuffers(s)) {
    if (buf.floats * 4 > cap) {
      throw new RangeError(
        `model too large for this GPU adapter: the ${buf.name} buffer needs ${
          mib(buf.floats * 4)
        } ` +
          `but the adapter allows ${mib(cap)} per buffer ${where}; lower batchSize, vocabSize, ` +
          "seqLen or dModel",
      );
    }
  }
  if (memoryBudgetBytes !== undefined) {
    const total = fleetBytes(s);
    if (total > memoryBudgetBytes) {
      throw new RangeError(
        `model too large for the GPU memory budget: needs ${mib(total)}, the budget is ${
          mib(memoryBudgetBytes)
        } ${where}`,
      );
    }
  }
}
