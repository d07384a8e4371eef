// The shape of a GPT-2 model as memcap trains it: tied embeddings, learned
// positions (n_positions = seqLen), pre-LayerNorm blocks, GELU-tanh MLP of 4d.
import { z } from "zod";

export const ModelConfig = z.object({
  vocabSize: z.number().int().min(2).max(1 << 20).describe("Number of token ids (V)."),
  seqLen: z.number().int().min(2).max(4096).describe("Tokens per sequence (S) = n_positions."),
  layers: z.number().int().min(1).max(64).describe("Transformer blocks (L)."),
  dModel: z.number().int().min(1).max(8192).describe("Residual width (d)."),
  heads: z.number().int().min(1).max(256).describe("Attention heads; must divide dModel."),
}).superRefine((c, ctx) => {
  if (c.dModel % c.heads !== 0) {
    ctx.addIssue({
      code: "custom",
      path: ["heads"],
      message: `dModel (${c.dModel}) must be divisible by heads (${c.heads})`,
    });
  }
}).meta({
  id: "ModelConfig",
  example: { vocabSize: 2048, seqLen: 64, layers: 2, dModel: 64, heads: 4 },
});
export type ModelConfig = z.infer<typeof ModelConfig>;

export const Precision = z.enum(["fp32", "bf16"]).describe(
  "fp32: parameters are float32. bf16: every parameter is rounded to the nearest bfloat16 " +
    "value (ties to even) at initialisation and after every optimizer step; arithmetic, " +
    "gradients and optimizer moments stay float32.",
);
export type Precision = z.infer<typeof Precision>;

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
