// Shapes of POST /v1/extraction (zod v4) and the step from decoded sequences to the response
// (lib/privacy/extraction.ts does the counting).
import { z } from "zod";
import { type ExtractedExample, matchSuffixes, pickExamples } from "./extraction.ts";

/** Default and largest number of sequences decoded per dataset. */
export const DEFAULT_MAX_SEQUENCES = 1024;
export const MAX_SEQUENCES = 100_000;
/** Extracted training sequences shown in a response. */
export const MAX_EXAMPLES = 5;

export const ExtractionRequest = z.object({
  modelId: z.string().describe("The model to extract from."),
  trainDatasetId: z.string().describe("The sequences it was trained on."),
  heldOutDatasetId: z.string().optional().describe(
    "Sequences from the same distribution it never saw: the rate a model reaches by " +
      "generalization alone. Same vocabSize and seqLen as the model.",
  ),
  prefixLengths: z.array(z.int().min(1)).min(1).max(1024).optional().describe(
    "Tokens given before decoding, each in 1..S-1, no repeats (default [⌊S/2⌋]; the paper " +
      "uses 32 of 64).",
  ),
  maxSequences: z.int().min(1).max(MAX_SEQUENCES).default(DEFAULT_MAX_SEQUENCES).describe(
    "Decode only the first this many sequences of each dataset.",
  ),
}).meta({
  id: "ExtractionRequest",
  example: {
    modelId: "mdl_01jz3k5q7r8s9t0v1w2x",
    trainDatasetId: "ds_01jz3k5q7r8s9t0v1w2x",
    heldOutDatasetId: "ds_01jz3k5q7r8s9t0v1w2y",
    prefixLengths: [4],
    maxSequences: 1024,
  },
});
export type ExtractionRequest = z.infer<typeof ExtractionRequest>;

const Rates = z.object({
  sequences: z.int().describe("Sequences decoded."),
  exactMatchRate: z.number().describe(
    "Fraction whose greedily decoded suffix equals the true suffix, token for token.",
  ),
  tokenMatchRate: z.number().describe(
    "Mean over sequences of the fraction of suffix positions decoded right (positions are " +
      "compared one by one, so a decode that slips once still scores what it got right).",
  ),
});
type Rates = z.infer<typeof Rates>;

const ExtractionRow = z.object({
  prefixLength: z.int(),
  train: Rates,
  heldOut: Rates.nullable().describe("null without a heldOutDatasetId."),
});

const ExtractionResultShape = z.object({
  modelId: z.string(),
  trainDatasetId: z.string(),
  heldOutDatasetId: z.string().nullable(),
  seqLen: z.int(),
  decoding: z.literal("greedy").describe(
    "Argmax at every step, ties to the lowest token id; the model's own outputs are fed back.",
  ),
  results: z.array(ExtractionRow).describe("One row per prefix length, in request order."),
  examples: z.array(z.object({
    index: z.int().describe("Position in the training dataset."),
    prefixLength: z.int().describe("The shortest requested prefix that extracted it."),
    tokens: z.array(z.int()).describe("The whole training sequence (S token ids)."),
  })).describe(`Up to ${MAX_EXAMPLES} extracted training sequences.`),
});
export type ExtractionResult = z.infer<typeof ExtractionResultShape>;

export interface DecodedSet {
  /** The true sequences decoded, [N, S]. */
  truth: Uint32Array;
  /** One per prefix length: [N, S] as the engine returned them. */
  decoded: Uint32Array[];
}

function rates(m: { sequences: number; exactMatchRate: number; tokenMatchRate: number }): Rates {
  return {
    sequences: m.sequences,
    exactMatchRate: m.exactMatchRate,
    tokenMatchRate: m.tokenMatchRate,
  };
}

/** The response from what the engine decoded for the training (and held-out) sequences. */
export function extractionResult(
  ids: { modelId: string; trainDatasetId: string; heldOutDatasetId?: string },
  seqLen: number,
  prefixLengths: readonly number[],
  train: DecodedSet,
  heldOut: DecodedSet | null,
): ExtractionResult {
  const trainMatches = prefixLengths.map((p, k) =>
    matchSuffixes(train.truth, train.decoded[k], seqLen, p)
  );
  const examples: ExtractedExample[] = pickExamples(
    prefixLengths.map((prefixLength, k) => ({
      prefixLength,
      extracted: trainMatches[k].extracted,
    })),
    train.truth,
    seqLen,
    MAX_EXAMPLES,
  );
  return {
    modelId: ids.modelId,
    trainDatasetId: ids.trainDatasetId,
    heldOutDatasetId: ids.heldOutDatasetId ?? null,
    seqLen,
    decoding: "greedy",
    results: prefixLengths.map((prefixLength, k) => ({
      prefixLength,
      train: rates(trainMatches[k]),
      heldOut: heldOut
        ? rates(matchSuffixes(heldOut.truth, heldOut.decoded[k], seqLen, prefixLength))
        : null,
    })),
    examples,
  };
}

// A worked example (computed, never stale): S = 4, prefix 2, two training sequences of which
// the first came back whole, and one held-out sequence of which half the suffix came back.
export const ExtractionResult = ExtractionResultShape.meta({
  id: "ExtractionResult",
  example: extractionResult(
    {
      modelId: "mdl_01jz3k5q7r8s9t0v1w2x",
      trainDatasetId: "ds_01jz3k5q7r8s9t0v1w2x",
      heldOutDatasetId: "ds_01jz3k5q7r8s9t0v1w2y",
    },
    4,
    [2],
    {
      truth: new Uint32Array([3, 1, 4, 1, 5, 9, 2, 6]),
      decoded: [new Uint32Array([3, 1, 4, 1, 5, 9, 2, 7])],
    },
    { truth: new Uint32Array([2, 7, 1, 8]), decoded: [new Uint32Array([2, 7, 1, 0])] },
  ),
});
