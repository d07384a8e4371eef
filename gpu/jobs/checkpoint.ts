// Checkpoints of a training fleet's model: parameters, Adam moments and the
// step, as one safetensors artifact, so a restarted service resumes a run
// where its last checkpoint left it.
import type { GptFleet } from "../gpt_fleet.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  float32Bytes,
  tensorToFloat32,
} from "../../lib/safetensors.ts";

export const CHECKPOINT_ARTIFACT = "checkpoint.safetensors";

export interface Checkpoint {
  step: number;
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
  /** Anything else the job needs to continue (JSON-serializable). */
  extra: Record<string, unknown>;
}

export async function captureCheckpoint(
  fleet: GptFleet,
  z: number,
  step: number,
  extra: Record<string, unknown>,
): Promise<Uint8Array> {
  const params = await fleet.getParameters(z);
  const { m, v } = await fleet.getOptimizerState(z);
  const t = (name: string, a: Float32Array) => ({
    name,
    dtype: "F32" as const,
    shape: [a.length],
    data: float32Bytes(a),
  });
  return encodeSafetensors([t("params", params), t("adam_m", m), t("adam_v", v)], {
    step: String(step),
    extra: JSON.stringify(extra),
  });
}

export function parseCheckpoint(bytes: Uint8Array): Checkpoint {
  const { tensors, metadata } = decodeSafetensors(bytes);
  const get = (name: string) => {
    const t = tensors.get(name);
    if (!t) throw new Error(`checkpoint: tensor ${name} is missing`);
    return tensorToFloat32(t);
  };
  return {
    step: Number(metadata.step),
    params: get("params"),
    m: get("adam_m"),
    v: get("adam_v"),
    extra: JSON.parse(metadata.extra ?? "{}"),
  };
}

/** Loads a checkpoint into model z of the fleet (parameters, then moments). */
export function restoreCheckpoint(fleet: GptFleet, z: number, c: Checkpoint) {
  fleet.setParameters(z, c.params);
  fleet.setOptimizerState(z, { m: c.m, v: c.v });
}
