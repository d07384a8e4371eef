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
import { TOKENIZER_NAMES, utf8Length } from "./text_tokenizer.ts";

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

/** Most UTF-8 bytes of uploaded text (`{kind:"text", text}`): 8 MiB. */
export const MAX_TEXT_BYTES = 8 * 1024 * 1024;

const Tokenizer = z.enum(TOKENIZER_NAMES).describe(
  "`gpt2`: GPT-2's byte-level BPE (r50k_base, 50,257 ids); `byte`: UTF-8 bytes (256 ids). " +
    "Either way the ids are then compacted (see `vocabulary`).",
);

export const TextDatasetRequest = z.object({
  kind: z.literal("text"),
  corpus: z.enum(["brown"]).optional().describe(
    "A built-in corpus: `brown`, the Brown corpus (500 documents, ~1.16M words, POS tags " +
      "stripped). Give `corpus` or `text`, not both.",
  ),
  text: z.string().optional().describe(
    `Your own text, at most ${MAX_TEXT_BYTES} bytes of UTF-8 (8 MiB). Give \`corpus\` or ` +
      "`text`, not both.",
  ),
  documentSeparator: z.enum(["none", "blankLine"]).default("none").describe(
    "Uploaded text only: `none` (default) makes the text one document; `blankLine` splits it " +
      "into documents at blank lines. Sequences never cross documents.",
  ),
  tokenizer: Tokenizer,
  seqLen: SeqLen.describe(
    "Tokens per sequence (S). Each document is cut into consecutive sequences of S tokens; " +
      "its short tail is dropped.",
  ),
  count: Count.optional().describe(
    "Sequences to take, the first `count` of the split (default: the whole split).",
  ),
  seed: Seed.default(0).describe(
    "Seed of the shuffle of the pool. The pool (deduplicated, compacted, shuffled) depends " +
      "only on (corpus or text, tokenizer, seqLen, seed).",
  ),
  split: z.enum(["train", "heldout"]).default("train").describe(
    "`train` (default): the first `count` of the pool without its last `heldOut` sequences, " +
      "so train sets of growing `count` are nested prefixes. `heldout`: the first `count` " +
      "of the last `heldOut` sequences, disjoint from every train set of the same pool.",
  ),
  heldOut: z.number().int().min(0).max(MAX_DATASET_TOKENS / 2).optional().describe(
    "Size of the held-out pool: the last `heldOut` sequences of the shuffled pool " +
      "(default: 10% of the pool, at most 1024). Use the same value for the train and " +
      "heldout datasets of one experiment.",
  ),
}).superRefine((r, ctx) => {
  if ((r.corpus === undefined) === (r.text === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: r.text === undefined ? ["corpus"] : ["text"],
      message: r.text === undefined
        ? 'give a corpus ("brown") or your own text'
        : "give corpus or text, not both",
    });
  }
  if (r.text !== undefined) {
    const bytes = r.text.length > MAX_TEXT_BYTES / 3 ? utf8Length(r.text) : r.text.length;
    if (bytes > MAX_TEXT_BYTES) {
      ctx.addIssue({
        code: "custom",
        path: ["text"],
        message: `text is ${bytes} bytes of UTF-8; at most ${MAX_TEXT_BYTES} (8 MiB) are accepted`,
      });
    }
  } else if (r.documentSeparator !== "none") {
    ctx.addIssue({
      code: "custom",
      path: ["documentSeparator"],
      message: "applies to uploaded text only",
    });
  }
}).describe(
  "Fixed-length token sequences of text: the Brown corpus or your own text, tokenized, cut " +
    "into sequences of S tokens, exactly deduplicated, the vocabulary compacted to the ids " +
    "that occur, shuffled (seeded) and split into disjoint train and held-out pools.",
).meta({
  id: "TextDatasetRequest",
  example: { kind: "text", corpus: "brown", tokenizer: "gpt2", seqLen: 64, count: 4096, seed: 0 },
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
  TextDatasetRequest,
]).meta({
  id: "DatasetCreateRequest",
  example: { kind: "uniform", vocabSize: 2048, seqLen: 64, count: 4096, seed: 0 },
});
export type DatasetCreateRequest = z.infer<typeof DatasetCreateRequest>;
export type UniformDatasetRequest = z.infer<typeof UniformDatasetRequest>;
export type TokensDatasetRequest = z.infer<typeof TokensDatasetRequest>;
export type TextDatasetRequest = z.infer<typeof TextDatasetRequest>;

/** Kinds of dataset records. */
export const DatasetKind = z.enum(["uniform", "tokens", "text"]).meta({ id: "DatasetKind" });
export type DatasetKind = z.infer<typeof DatasetKind>;

/** The `vocabulary` of a text dataset. */
export const TextVocabularyInfo = z.object({
  tokenizer: z.enum(TOKENIZER_NAMES),
  size: z.number().int().describe(
    "V', the compacted vocabulary (= vocabSize): the tokenizer ids that occur in the pool.",
  ),
  compacted: z.literal(true).describe(
    "Token ids are compact: id i stands for the i-th smallest tokenizer id in the pool " +
      "(GET /v1/datasets/{id}/vocabulary lists them).",
  ),
  tokenizerVocabSize: z.number().int().describe("Ids of the tokenizer itself (50257, 256)."),
  hash: z.string().describe(
    "Fingerprint of the compact vocabulary. Datasets with equal hashes use the same ids " +
      "(all splits of one pool do), so a model trained on one can be evaluated on the other.",
  ),
}).describe("Text datasets: how token ids map to the tokenizer's.").meta({
  id: "TextVocabularyInfo",
  example: {
    tokenizer: "gpt2",
    size: 26135,
    compacted: true,
    tokenizerVocabSize: 50257,
    hash: "0f3a9c21d4e5b6",
  },
});

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
  seed: z.number().int().optional().describe(
    "Uniform datasets: the PRNG seed. Text datasets: the seed of the pool's shuffle.",
  ),
  corpus: z.enum(["brown", "upload"]).optional().describe(
    "Text datasets: the source, `brown` or `upload` (text sent with the request).",
  ),
  split: z.enum(["train", "heldout"]).optional().describe("Text datasets: the split taken."),
  poolSize: z.number().int().optional().describe(
    "Text datasets: unique sequences in the pool (train + held-out) after deduplication.",
  ),
  heldOut: z.number().int().optional().describe(
    "Text datasets: size of the held-out pool (the last `heldOut` sequences of the pool).",
  ),
  duplicatesDropped: z.number().int().optional().describe(
    "Text datasets: sequences dropped from the pool as exact duplicates of an earlier one.",
  ),
  documents: z.number().int().optional().describe("Text datasets: documents in the source."),
  sourceTokens: z.number().int().optional().describe(
    "Text datasets: tokens in the source before cutting into sequences.",
  ),
  vocabulary: TextVocabularyInfo.optional(),
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
  decode: z.enum(["true", "false", "1", "0"]).optional()
    .transform((v) => v === undefined ? undefined : v === "true" || v === "1")
    .describe(
      "Text datasets: `true` adds `texts`, the text of each sequence (compact ids mapped " +
        "back to the tokenizer's, then decoded). Other datasets answer 422.",
    ),
});
export type DatasetSequencesQuery = z.infer<typeof DatasetSequencesQuery>;

export const DatasetSequences = z.object({
  id: z.string(),
  offset: z.number().int(),
  limit: z.number().int(),
  total: z.number().int().describe("Sequences in the dataset (N)."),
  sequences: z.array(z.array(z.number().int())),
  texts: z.array(z.string()).optional().describe(
    "With `decode=true`: the text of each sequence. A multi-byte character cut at a " +
      "sequence's edge shows as U+FFFD.",
  ),
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

/** `GET /v1/datasets/{id}/vocabulary`: the compact vocabulary of a text dataset. */
export const DatasetVocabulary = z.object({
  id: z.string(),
  tokenizer: z.enum(TOKENIZER_NAMES),
  size: z.number().int().describe("V' (= the dataset's vocabSize)."),
  tokenizerVocabSize: z.number().int(),
  hash: z.string(),
  ids: z.array(z.number().int()).describe(
    "ids[i] is the tokenizer id of compact id i (ascending).",
  ),
}).meta({
  id: "DatasetVocabulary",
  example: {
    id: "ds_01jz3k5q7r8s9t0v1w2x",
    tokenizer: "gpt2",
    size: 4,
    tokenizerVocabSize: 50257,
    hash: "0f3a9c21d4e5b6",
    ids: [11, 13, 262, 286],
  },
});
export type DatasetVocabulary = z.infer<typeof DatasetVocabulary>;

export { formatPath };
