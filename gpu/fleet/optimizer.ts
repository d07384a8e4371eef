// The optimizer step of every model of a fleet (shaders/optimizer.wgsl):
// AdamW or SGD over chunks of each (tensor, model) slice, with weight decay
// on the matrices and embeddings only. Each model's lr, betas and bias
// corrections come from the hyper buffer, written before every step.
import { gridFor, Kernels, type Op } from "../kernels.ts";
import type { Precision } from "../../lib/model/schemas.ts";
import type { TensorRole } from "../../lib/model/layout.ts";
import type { FleetBuffers } from "./buffers.ts";
import { WG } from "./op_builder.ts";

export type OptimizerKind = "adamw" | "sgd";

/** One model's optimizer settings for one step. */
export interface StepHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
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

/**
 * The step's ops. bf16-pure rounds the only copy in place; bf16 updates the
 * f32 master weights, then rounds them into the parameters (round_bf16.wgsl).
 */
export async function optimizerOps(
  f: FleetBuffers,
  optimizer: OptimizerKind,
  precision: Precision,
): Promise<Op[]> {
  const kernels = Kernels.forDevice(f.device);
  // One descriptor per chunk of one (tensor, model) slice: {start, count, model, decay}.
  const descs: number[] = [];
  for (const t of f.tensors) {
    for (let z = 0; z < f.K; z++) {
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
  const descBuf = f.buffer("optimizer_chunks", descs.length);
  f.device.queue.writeBuffer(descBuf, 0, new Uint32Array(descs));
  const code = await kernels.source("optimizer", {
    ADAMW: optimizer === "adamw",
    BF16: precision === "bf16-pure",
    CHUNK: OPT_CHUNK,
    GX: gx,
    WG,
  }, ["bf16_round"]);
  const ops = [
    kernels.op("optimizer", kernels.kernel(code, "optimizer"), {
      params: { buffer: f.master ?? f.params },
      grads: { buffer: f.grads! },
      m1: { buffer: f.adamM! },
      m2: { buffer: f.adamV! },
      descs: { buffer: descBuf },
      hyper: { buffer: f.hyper! },
    }, [gx, gy, 1]),
  ];
  if (f.master) {
    const N4 = f.paramFloats / 4; // gpuParamLayout's total is a multiple of 64 floats
    const [rx, ry] = gridFor(N4, WG);
    const round = await kernels.source("round_bf16", { N4, GX: rx, WG }, ["bf16_round"]);
    ops.push(
      kernels.op("round_bf16", kernels.kernel(round, "round_bf16"), {
        master: { buffer: f.master },
        weights: { buffer: f.params },
      }, [rx, ry, 1]),
    );
  }
  return ops;
}

/** The hyper buffer's contents for one step: each model's settings and Adam's bias corrections. */
export function hyperValues(hyper: StepHyper[], step: number): Float32Array<ArrayBuffer> {
  const h = new Float32Array(hyper.length * 8);
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
  return h;
}
