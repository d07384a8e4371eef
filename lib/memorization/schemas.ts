// HTTP shapes of POST /v1/memorization (zod v4; `.meta({id})` makes each a named component in
// the OpenAPI document). The quantities and their formulas are lib/memorization/memorization.ts.
import { z } from "zod";
import { MemorizedSample } from "../privacy/schemas.ts";

/** What the trained model is compared against. */
export const MemorizationReference = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("uniform") }).describe(
    "The uniform distribution over V tokens: NLL_ref = (S-1)·log2 V for every sample. The " +
      "true distribution of uniform synthetic data, so everything memorized is unintended.",
  ),
  z.object({
    kind: z.literal("model"),
    modelId: z.string().describe("A reference model (same vocabSize and seqLen)."),
  }).describe(
    "A reference model θ̂ of the data distribution (e.g. a larger model trained on a superset).",
  ),
]).meta({ id: "MemorizationReference", example: { kind: "uniform" } });
export type MemorizationReference = z.infer<typeof MemorizationReference>;

const Bits = (what: string) => z.number().describe(`${what} (bits).`);

const PaperConvention = z.object({
  datasetBits: Bits("N·S·log2 V: the dataset's bits counting all S tokens"),
}).describe(
  "The paper appears to count all S tokens of each sequence in H(X); memcap counts the S-1 " +
    "tokens a model predicts. Only H(X) is given that way: memorized bits are not scaled, " +
    "since the paper's plateau is flat over N, which a free first token would not be.",
);

export const MemorizationResult = z.object({
  modelId: z.string().optional().describe("The trained model θ."),
  datasetId: z.string().optional().describe("The samples measured."),
  reference: MemorizationReference,
  count: z.number().int().describe("Samples (N)."),
  seqLen: z.number().int().describe("Tokens per sample (S)."),
  tokensCounted: z.literal("2..S").describe(
    "Tokens each code length covers: 2..S, the first token has no prefix to predict it from.",
  ),
  totalBits: Bits(
    "Σ max(0, (S-1)·log2 V - min(NLL_θ, NLL_ref)): total memorization, H(x) taken as the " +
      "uniform code",
  ),
  unintendedBits: Bits("Σ max(0, NLL_ref - NLL_θ): unintended memorization"),
  generalizationBits: Bits(
    "totalBits - unintendedBits: intended memorization (0 against the uniform reference)",
  ),
  datasetBits: Bits("N·(S-1)·log2 V: the dataset under the uniform code, an upper bound"),
  perSample: z.object({
    total: z.array(z.number()),
    unintended: z.array(z.number()),
    generalization: z.array(z.number()),
    tfidf: z.array(z.number()).optional().describe(
      "With `tfidf: true`: each sample's TF-IDF, (1/S) Σ over its S token positions of " +
        "ln(|D| / tf(w, D)), tf counting the token's occurrences in the whole dataset and |D| " +
        "its N·S tokens (the mean surprisal under the dataset's unigram distribution).",
    ),
  }).optional().describe(
    "With `perSample: true`: per-sample values in bits (tfidf in nats), in dataset order.",
  ),
  paperConvention: PaperConvention,
  spearmanTfidfUnintended: z.number().nullable().optional().describe(
    "With `tfidf: true`: Spearman's ρ (average ranks for ties) between per-sample TF-IDF and " +
      "unintended bits; null where undefined (under 2 samples, or either side constant).",
  ),
  topMemorized: z.array(MemorizedSample).optional().describe(
    "With `tfidf: true`: the 10 samples with the most unintended bits, most first.",
  ),
  warnings: z.array(z.string()).optional().describe(
    "What makes these numbers hard to read, e.g. the uniform reference on data that is not " +
      "uniform random tokens.",
  ),
}).meta({
  id: "MemorizationResult",
  example: {
    modelId: "mdl_01jz3k5q7r8s9t0v1w2x",
    datasetId: "ds_01jz3k5q7r8s9t0v1w2x",
    reference: { kind: "uniform" },
    count: 2,
    seqLen: 16,
    tokensCounted: "2..S",
    totalBits: 150.5,
    unintendedBits: 150.5,
    generalizationBits: 0,
    datasetBits: 180,
    perSample: { total: [88, 62.5], unintended: [88, 62.5], generalization: [0, 0] },
    paperConvention: { datasetBits: 192 },
  },
});
export type MemorizationResult = z.infer<typeof MemorizationResult>;
