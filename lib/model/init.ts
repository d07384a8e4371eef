// GPT-2 initialisation, seeded: weights N(0, 0.02), residual projections
// (attn.c_proj, mlp.c_proj) N(0, 0.02/sqrt(2L)), biases 0, LayerNorm 1/0.
import { bf16Weights } from "./config.ts";
import type { ModelConfig, Precision } from "./schemas.ts";
import { tensorLayout } from "./layout.ts";
import { Rng } from "../prng.ts";
import { roundToBf16 } from "../bf16.ts";

export function initialParameters(c: ModelConfig, seed: number, precision: Precision = "fp32") {
  const specs = tensorLayout(c);
  const last = specs[specs.length - 1];
  const params = new Float32Array(last.offset + last.size);
  const rng = new Rng(seed);
  const residualStd = 0.02 / Math.sqrt(2 * c.layers);
  for (const t of specs) {
    const view = params.subarray(t.offset, t.offset + t.size);
    switch (t.role) {
      case "ln1_w":
      case "ln2_w":
      case "lnf_w":
        view.fill(1);
        break;
      case "attproj_w":
      case "fcproj_w":
        for (let i = 0; i < view.length; i++) view[i] = rng.normal() * residualStd;
        break;
      case "wte":
      case "wpe":
      case "qkv_w":
      case "fc_w":
        for (let i = 0; i < view.length; i++) view[i] = rng.normal() * 0.02;
        break;
      default:
        break; // biases stay 0
    }
  }
  // Both bf16 modes start at bf16 values ("bf16": its master weights start there too).
  if (bf16Weights(precision)) roundToBf16(params);
  return params;
}
