// The shape of a GPT-2 model as memcap trains it: tied embeddings, learned
// positions (n_positions = seqLen), pre-LayerNorm blocks, GELU-tanh MLP of 4d. The shape
// and precision schemas are lib/model/schemas.ts; here is what follows from them.
import { ModelConfig, type Precision } from "./schemas.ts";

/** Whether a model of this precision holds bfloat16 values (bf16 and bf16-pure). */
export function bf16Weights(p: Precision): boolean {
  return p !== "fp32";
}

/** Whether training keeps float32 master weights beside the model's bf16 weights ("bf16"). */
export function keepsMasterWeights(p: Precision): boolean {
  return p === "bf16";
}

/** GPT-2 parameter count with tied embeddings: V*d + S*d + L*(12d^2+13d) + 2d. */
export function parameterCount(c: ModelConfig): number {
  const d = c.dModel;
  return c.vocabSize * d + c.seqLen * d + c.layers * (12 * d * d + 13 * d) + 2 * d;
}

/** Throws an Error naming the field when a config is not a valid model shape. */
export function checkModelConfig(c: unknown): ModelConfig {
  const parsed = ModelConfig.safeParse(c);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RangeError(`config.${issue.path.join(".")}: ${issue.message}`);
  }
  return parsed.data;
}
