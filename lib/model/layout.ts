// The logical parameter layout: every tensor of one model, in one flat
// Float32Array, in this order. Matrices use the Hugging Face GPT-2 Conv1D
// layout [in, out] (y = x·W + b), so export needs no transposes.
// wte is [V, d] and is tied: logits = h·wteᵀ.
import type { ModelConfig } from "./schemas.ts";

export type TensorRole =
  | "wte"
  | "wpe"
  | "ln1_w"
  | "ln1_b"
  | "qkv_w"
  | "qkv_b"
  | "attproj_w"
  | "attproj_b"
  | "ln2_w"
  | "ln2_b"
  | "fc_w"
  | "fc_b"
  | "fcproj_w"
  | "fcproj_b"
  | "lnf_w"
  | "lnf_b";

export interface TensorSpec {
  /** Hugging Face GPT-2 name, e.g. "transformer.h.0.attn.c_attn.weight". */
  name: string;
  role: TensorRole;
  /** Block index for per-layer tensors, -1 otherwise. */
  layer: number;
  shape: number[];
  size: number;
  /** Offset (in floats) inside one model's compact parameter vector. */
  offset: number;
}

export function tensorLayout(c: ModelConfig): TensorSpec[] {
  const d = c.dModel, V = c.vocabSize, S = c.seqLen;
  const specs: TensorSpec[] = [];
  let offset = 0;
  const add = (name: string, role: TensorRole, layer: number, shape: number[]) => {
    const size = shape.reduce((a, b) => a * b, 1);
    specs.push({ name, role, layer, shape, size, offset });
    offset += size;
  };
  add("transformer.wte.weight", "wte", -1, [V, d]);
  add("transformer.wpe.weight", "wpe", -1, [S, d]);
  for (let l = 0; l < c.layers; l++) {
    const p = `transformer.h.${l}.`;
    add(p + "ln_1.weight", "ln1_w", l, [d]);
    add(p + "ln_1.bias", "ln1_b", l, [d]);
    add(p + "attn.c_attn.weight", "qkv_w", l, [d, 3 * d]);
    add(p + "attn.c_attn.bias", "qkv_b", l, [3 * d]);
    add(p + "attn.c_proj.weight", "attproj_w", l, [d, d]);
    add(p + "attn.c_proj.bias", "attproj_b", l, [d]);
    add(p + "ln_2.weight", "ln2_w", l, [d]);
    add(p + "ln_2.bias", "ln2_b", l, [d]);
    add(p + "mlp.c_fc.weight", "fc_w", l, [d, 4 * d]);
    add(p + "mlp.c_fc.bias", "fc_b", l, [4 * d]);
    add(p + "mlp.c_proj.weight", "fcproj_w", l, [4 * d, d]);
    add(p + "mlp.c_proj.bias", "fcproj_b", l, [d]);
  }
  add("transformer.ln_f.weight", "lnf_w", -1, [d]);
  add("transformer.ln_f.bias", "lnf_b", -1, [d]);
  return specs;
}

/** Finds one tensor by role and layer. */
export function findTensor(specs: TensorSpec[], role: TensorRole, layer = -1): TensorSpec {
  const t = specs.find((s) => s.role === role && s.layer === layer);
  if (!t) throw new Error(`no tensor ${role} in layer ${layer}`);
  return t;
}
