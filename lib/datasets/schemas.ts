// Request and response shapes for /v1/datasets (zod v4; `.meta({id})` makes
// each one a named component in the OpenAPI document).
import { z } from "zod";
import {
  formatPath,
  MAX_DATASET_TOKENS,
  MAX_SEQ_LEN,
  MAX_VOCAB_SIZE,
  TokenValidationError,
  validateSequences,
} from "./tokens.ts";

const VocabSize = z.number().int().min(2).max(MAX_VOCAB_SIZE).describe(
  "Number of token ids (V); tokens are integers in [0, V).",
);
const SeqLen = z.number().int().min(2).max(MAX_SEQ_LEN).describe("Tokens per sequence (S).");
const Count = z.number().int().min(1).max(MAX_DATASET_TOKENS / 2).describe(
  "Number of sequences (N).",
);
const Seed = z.number().int().min(0).max(0xffffffff).describe(
  "PRNG seed, an integer in [0, 2^32); the same request gives the same tokens.",
);

export const UniformDatasetRequest = z.object({
  kind: z.literal("uniform"),
  vocabSize: VocabSize,
  seqLen: SeqLen,
  count: Count,
  seed: Seed.default(0),
}).superRefine((r, ctx) => {
  if (r.count * r.seqLen > MAX_DATASET_TOKENS) {
    ctx.addIssue({
      code: "custom",
      path: ["count"],
      message: `count*seqLen = ${r.count * r.seqLen} exceeds ${MAX_DATASET_TOKENS} tokens`,
    });
  }
}).describe(
  "N sequences of S tokens drawn independently and uniformly from V symbols (seeded).",
).meta({
  id: "UniformDatasetRequest",
  example: { kind: "uniform", vocabSize: 2048, seqLen: 64, count: 4096, seed: 0 },
});

export const TokensDatasetRequest = z.object({
  kind: z.literal("tokens"),
  vocabSize: VocabSize,
  sequences: z.array(z.array(z.number())).min(1).describe(
    "N ≥ 1 sequences, all of the same length S ≥ 2, of integer token ids in [0, vocabSize).",
  ),
}).superRefine((r, ctx) => {
  if (!Number.isInteger(r.vocabSize) || r.vocabSize < 2 || r.vocabSize > MAX_VOCAB_SIZE) return;
  try {
    validateSequences(r.sequences, r.vocabSize);
  } catch (e) {
    if (!(e instanceof TokenValidationError)) throw e;
    ctx.addIssue({ code: "custom", path: e.path, message: e.detail });
  }
}).describe("Your own token ids.").meta({
  id: "TokensDatasetRequest",
  example: { kind: "tokens", vocabSize: 16, sequences: [[1, 2, 3, 4], [5, 6, 7, 8]] },
});

/**
 * `POST /v1/datasets` body, discriminated by `kind`.
 * Extension point: a new kind (the text-corpus issue adds `kind: "text"`)
 * adds its request schema to this list, its name to `DatasetKind`, and a
 * case to `buildDataset` in dataset.ts (the `never` check there fails to
 * compile until it does).
 */
export const DatasetCreateRequest = z.discriminatedUnion("kind", [
  UniformDatasetRequest,
  TokensDatasetRequest,
  // TextDatasetRequest,  <- `kind: "text"` goes here
]).meta({
  id: "DatasetCreateRequest",
  example: { kind: "uniform", vocabSize: 2048, seqLen: 64, count: 4096, seed: 0 },
});
export type DatasetCreateRequest = z.infer<typeof DatasetCreateRequest>;
export type UniformDatasetRequest = z.infer<typeof UniformDatasetRequest>;
export type TokensDatasetRequest = z.infer<typeof TokensDatasetRequest>;

/** Kinds of dataset records; add "text" with its request schema. */
export const DatasetKind = z.enum(["uniform", "tokens"]).meta({ id: "DatasetKind" });
export type DatasetKind = z.infer<typeof DatasetKind>;

/** A dataset as stored (record body) and returned (plus id, createdAt). */
export const Dataset = z.object({
  id: z.string().describe("ds_ + 20 base32 characters, sortable by creation time."),
  kind: DatasetKind,
  count: z.number().int().describe("Number of sequences (N)."),
  seqLen: z.number().int().describe("Tokens per sequence (S)."),
  vocabSize: z.number().int().describe("Vocabulary size (V)."),
  entropyBits: z.number().optional().describe(
    "Uniform datasets: H = N·S·log2 V bits, all S tokens (the paper's convention).",
  ),
  entropyBitsPredicted: z.number().optional().describe(
    "Uniform datasets: N·(S-1)·log2 V bits, tokens 2..S only — the most a model can " +
      "memorize as memcap measures it (the first token has no prefix).",
  ),
  seed: z.number().int().optional().describe("Uniform datasets: the PRNG seed."),
  createdAt: z.string().describe("ISO 8601 creation time."),
}).meta({
  id: "Dataset",
  example: {
    id: "ds_01jz3k5q7r8s9t0v1w2x",
    kind: "uniform",
    count: 4096,
    seqLen: 64,
    vocabSize: 2048,
    entropyBits: 2883584,
    entropyBitsPredicted: 2838528,
    seed: 0,
    createdAt: "2025-06-01T12:00:00.000Z",
  },
});
export type Dataset = z.infer<typeof Dataset>;

/** What the store keeps as the record body (id and createdAt live on the record). */
export type DatasetBody = Omit<Dataset, "id" | "createdAt">;

/** `GET /v1/datasets/{id}/sequences?offset&limit`. */
export const DatasetSequencesQuery = z.object({
  offset: z.coerce.number().int().min(0).default(0).describe("First sequence index."),
  limit: z.coerce.number().int().min(1).max(1000).default(100).describe(
    "Sequences to return, 1..1000 (default 100).",
  ),
});
export type DatasetSequencesQuery = z.infer<typeof DatasetSequencesQuery>;

export const DatasetSequences = z.object({
  id: z.string(),
  offset: z.number().int(),
  limit: z.number().int(),
  total: z.number().int().describe("Sequences in the dataset (N)."),
  sequences: z.array(z.array(z.number().int())),
}).meta({
  id: "DatasetSequences",
  example: {
    id: "ds_01jz3k5q7r8s9t0v1w2x",
    offset: 0,
    limit: 2,
    total: 4096,
    sequences: [[17, 2040, 5], [911, 3, 1022]],
  },
});
export type DatasetSequences = z.infer<typeof DatasetSequences>;

export { formatPath };
