// Shapes of POST /v1/models/{id}/likelihood (zod v4).
import { z } from "zod";

export const LikelihoodRequest = z.object({
  datasetId: z.string().optional().describe("Score a stored dataset..."),
  sequences: z.array(z.array(z.number().int().min(0))).min(1).max(100_000).optional().describe(
    "...or these sequences (each exactly seqLen token ids).",
  ),
  perToken: z.boolean().default(false).describe("Also return each token's NLL in bits."),
}).refine((r) => (r.datasetId === undefined) !== (r.sequences === undefined), {
  message: "give exactly one of datasetId or sequences",
  path: ["datasetId"],
}).meta({
  id: "LikelihoodRequest",
  example: { sequences: [[1, 2, 3, 4, 5, 6, 7, 8]], perToken: true },
});
export type LikelihoodRequest = z.infer<typeof LikelihoodRequest>;

export const LikelihoodResponse = z.object({
  modelId: z.string(),
  count: z.number().int(),
  seqLen: z.number().int(),
  tokensCounted: z.literal("2..S").describe(
    "The first token has no prefix to predict it from, so each sequence counts S-1 tokens.",
  ),
  bits: z.array(z.number()).describe("Per sequence: -log2 p(x_2..x_S | x_1), in bits."),
  totalBits: z.number(),
  bitsPerToken: z.number().describe("totalBits / (count · (S-1))."),
  perToken: z.array(z.array(z.number())).optional().describe(
    "Per sequence, S-1 values: -log2 p(x_t | x_<t) for t = 2..S.",
  ),
}).meta({
  id: "LikelihoodResponse",
  example: {
    modelId: "mdl_01jz3k5q7r8s9t0v1w2x",
    count: 1,
    seqLen: 8,
    tokensCounted: "2..S",
    bits: [20.9],
    totalBits: 20.9,
    bitsPerToken: 2.99,
  },
});
export type LikelihoodResponse = z.infer<typeof LikelihoodResponse>;
