// The shape of a GPT-2 model as memcap trains it (tied embeddings, learned
// positions (n_positions = seqLen), pre-LayerNorm blocks, GELU-tanh MLP of 4d) and the
// precision of its weights, as requests name them (zod v4; `.meta({id})` makes ModelConfig
// a named component in the OpenAPI document). What follows from a shape (parameter count,
// validation) is lib/model/config.ts.
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

export const Precision = z.enum(["fp32", "bf16", "bf16-pure"]).describe(
  "fp32: parameters are float32. bf16: mixed precision: the optimizer keeps float32 master " +
    "weights and float32 Adam moments, and the model's weights are the master weights rounded " +
    "to the nearest bfloat16 value (ties to even) in every forward, backward and evaluation, so " +
    "the model (likelihoods, exported weights) holds only bfloat16 values. bf16-pure: the only " +
    "copy of each parameter is rounded to bfloat16 at initialisation and after every optimizer " +
    "step (an update below half a bfloat16 step is lost); gradients and moments stay float32.",
);
export type Precision = z.infer<typeof Precision>;
