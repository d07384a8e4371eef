// Checkpoints of training models: parameters, Adam moments, the batch
// sampler's state and the step, as one safetensors artifact, so a restarted
// service resumes a job where its last checkpoint left it. A run saves its one
// model; a capacity sweep saves every model still training in its current fleet.
// The parameters saved are the ones training continues from: a "bf16" (mixed
// precision) model's f32 master weights, whose bf16 rounding is the model, so
// a resumed model continues bit-identically to an uninterrupted one.
import type { GptFleet } from "../fleet/gpt_fleet.ts";
import { Precision } from "../../lib/model/schemas.ts";
import type { JobHost } from "../../lib/engine_interface.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  float32Bytes,
  type NamedTensor,
  tensorToFloat32,
} from "../../lib/safetensors.ts";

export const CHECKPOINT_ARTIFACT = "checkpoint.safetensors";

/** One model's training state. */
export interface ModelState {
  /** GptFleet.getMasterParameters: a "bf16" model's f32 master weights, else its parameters. */
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
  /** BatchSampler.state() at the checkpoint's step (absent in checkpoints made before it). */
  sampler?: Uint32Array;
}

export interface Checkpoint extends ModelState {
  step: number;
  /** The fleet's precision (absent in checkpoints made before it was saved). */
  precision?: Precision;
  /** Anything else the job needs to continue (JSON-serializable). */
  extra: Record<string, unknown>;
}

export interface FleetCheckpoint {
  step: number;
  /** The fleet's precision (absent in checkpoints made before it was saved). */
  precision?: Precision;
  /** Models in the order they were captured. */
  models: ModelState[];
  extra: Record<string, unknown>;
}

/** Reads model z's parameters (the master copy, if any) and Adam moments back from the GPU. */
export async function readModelState(
  fleet: GptFleet,
  z: number,
  sampler?: Uint32Array,
): Promise<ModelState> {
  return {
    params: await fleet.getMasterParameters(z),
    ...(await fleet.getOptimizerState(z)),
    sampler,
  };
}

/** Writes a model's parameters (the master copy, if any) and moments into slot z of a fleet. */
export function writeModelState(fleet: GptFleet, z: number, s: ModelState) {
  fleet.setParameters(z, s.params);
  fleet.setOptimizerState(z, { m: s.m, v: s.v });
}

// Tensor names: "params", "adam_m", "adam_v" and "batch_sampler" (U32) for model 0
// (the run format), with a "<i>." prefix for models i > 0 of a fleet checkpoint.
const prefix = (i: number) => (i === 0 ? "" : `${i}.`);

function encode(
  states: ModelState[],
  step: number,
  precision: Precision,
  extra: Record<string, unknown>,
) {
  const t = (name: string, a: Float32Array): NamedTensor => ({
    name,
    dtype: "F32",
    shape: [a.length],
    data: float32Bytes(a),
  });
  const tensors = states.flatMap((s, i) => [
    t(`${prefix(i)}params`, s.params),
    t(`${prefix(i)}adam_m`, s.m),
    t(`${prefix(i)}adam_v`, s.v),
    ...(s.sampler
      ? [{
        name: `${prefix(i)}batch_sampler`,
        dtype: "U32" as const,
        shape: [s.sampler.length],
        data: new Uint8Array(s.sampler.buffer, s.sampler.byteOffset, s.sampler.byteLength),
      }]
      : []),
  ]);
  return encodeSafetensors(tensors, {
    step: String(step),
    precision,
    models: String(states.length),
    extra: JSON.stringify(extra),
  });
}

export function parseFleetCheckpoint(bytes: Uint8Array): FleetCheckpoint {
  const { tensors, metadata } = decodeSafetensors(bytes);
  const get = (name: string) => {
    const t = tensors.get(name);
    if (!t) throw new Error(`checkpoint: tensor ${name} is missing`);
    return tensorToFloat32(t);
  };
  const count = Number(metadata.models ?? 1);
  const sampler = (name: string) => {
    const t = tensors.get(name);
    if (!t) return undefined;
    if (t.dtype !== "U32") throw new Error(`checkpoint: ${name} is ${t.dtype}, not U32`);
    return new Uint32Array(t.data.slice().buffer); // a copy: the bytes may be unaligned
  };
  const models = Array.from({ length: count }, (_, i) => ({
    params: get(`${prefix(i)}params`),
    m: get(`${prefix(i)}adam_m`),
    v: get(`${prefix(i)}adam_v`),
    sampler: sampler(`${prefix(i)}batch_sampler`),
  }));
  const precision = metadata.precision === undefined
    ? undefined
    : Precision.parse(metadata.precision);
  return {
    step: Number(metadata.step),
    ...(precision ? { precision } : {}),
    models,
    extra: JSON.parse(metadata.extra ?? "{}"),
  };
}

export async function captureCheckpoint(
  fleet: GptFleet,
  z: number,
  step: number,
  extra: Record<string, unknown>,
  sampler?: Uint32Array,
): Promise<Uint8Array> {
  return encode([await readModelState(fleet, z, sampler)], step, fleet.options.precision, extra);
}

export function parseCheckpoint(bytes: Uint8Array): Checkpoint {
  const { step, precision, models, extra } = parseFleetCheckpoint(bytes);
  return { step, ...(precision ? { precision } : {}), ...models[0], extra };
}

/** Every model of the fleet, in slot order, with its sampler's state. */
export async function captureFleetCheckpoint(
  fleet: GptFleet,
  step: number,
  extra: Record<string, unknown>,
  samplers: Uint32Array[],
): Promise<Uint8Array> {
  const states: ModelState[] = [];
  for (let z = 0; z < fleet.K; z++) states.push(await readModelState(fleet, z, samplers[z]));
  return encode(states, step, fleet.options.precision, extra);
}

/**
 * ctx.throwIfAborted(), except that when the abort is the service stopping (not a cancel)
 * `save` runs first, so the restarted job continues from here. The abort is told by its
 * name: across the engine-process boundary it arrives as a plain Error.
 */
export async function throwIfAbortedSaving(
  ctx: Pick<JobHost, "throwIfAborted">,
  save: () => Promise<void>,
): Promise<void> {
  try {
    ctx.throwIfAborted();
  } catch (e) {
    if ((e as Error).name === "JobInterruptedError") await save();
    throw e;
  }
}
