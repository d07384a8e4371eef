// The request and response shapes of the privacy endpoints (zod v4; `.meta({id})` makes each
// a named component of the OpenAPI document): membership inference, extraction and the
// scaling-law prediction, with the steps that turn their results into responses; the file of
// fitted scaling-law constants; the most memorized samples of a memorization result.
import { z } from "zod";
import { pageSchema } from "../store/schemas.ts";
import { auc, bestF1, f1AtMemberCount, rocCurve, thinRoc, tprAtFpr } from "./membership.ts";
import { type ExtractedExample, matchSuffixes, pickExamples } from "./extraction.ts";
import {
  LAW_PRECISIONS,
  type LawConstants,
  PAPER_CONSTANTS,
  PAPER_SOURCE,
  predict,
  type PredictInput,
} from "./scaling_law.ts";

// ---- Membership inference: POST /v1/membership and its stored results (membership.ts does the math).
/** Most points of a stored ROC curve (keeps a record far under the store's size limit). */
export const MAX_ROC_POINTS = 256;

/** The false-positive rates TPR is reported at, as response keys. */
export const REPORTED_FPRS = ["0.01", "0.001"] as const;

const EXAMPLE_IDS = {
  modelId: "mdl_01jz3k5q7r8s9t0v1w2x",
  membersDatasetId: "ds_01jz3k5q7r8s9t0v1w2x",
  nonMembersDatasetId: "ds_01jz3k5q7r8s9t0v1w2y",
};

export const MembershipRequest = z.object({
  modelId: z.string().describe("The model attacked (usually trained on the members)."),
  membersDatasetId: z.string().describe("Sequences the model was trained on."),
  nonMembersDatasetId: z.string().describe(
    "Sequences from the same distribution it never saw; as many as the members.",
  ),
}).meta({ id: "MembershipRequest", example: EXAMPLE_IDS });
export type MembershipRequest = z.infer<typeof MembershipRequest>;

const AtThreshold = z.object({
  f1: z.number(),
  threshold: z.number().describe("NLL in bits; predict member when NLL ≤ threshold."),
});

const Group = z.object({
  meanBits: z.number().describe("Mean NLL in bits (tokens 2..S)."),
});

const MembershipResultShape = z.object({
  id: z.string().describe("Result id (mia_...)."),
  createdAt: z.string(),
  modelId: z.string(),
  membersDatasetId: z.string(),
  nonMembersDatasetId: z.string(),
  count: z.int().describe("Sequences per side (members = non-members)."),
  f1: z.number().describe(
    "F1 at the threshold that maximizes it, on the balanced set. Its floor is 2/3 (call " +
      "everything a member); compare `balanced.f1` (0.5 = chance) with the paper and /v1/predict.",
  ),
  threshold: z.number().describe("Best-F1 threshold: predict member when NLL ≤ threshold (bits)."),
  accuracy: z.number().describe("(TP + TN) / 2·count at the best-F1 threshold."),
  balanced: AtThreshold.describe(
    "Flag exactly `count` sequences (the lowest NLLs; ties at the cut split at random in " +
      "expectation): precision = recall = accuracy = F1; 0.5 = chance, 1 = perfect.",
  ),
  auc: z.number().describe("Area under the ROC; ties count half; 0.5 = chance."),
  tprAtFpr: z.object({ "0.01": z.number(), "0.001": z.number() }).describe(
    "TPR at the largest threshold whose FPR ≤ the key (with fewer than 1/key non-members: " +
      "no false positive at all).",
  ),
  roc: z.array(z.object({ fpr: z.number(), tpr: z.number() })).describe(
    `The ROC, thinned to at most ${MAX_ROC_POINTS} points, from (0,0) to (1,1).`,
  ),
  members: Group,
  nonMembers: Group,
});
export type MembershipResult = z.infer<typeof MembershipResultShape>;
/** What the store keeps (id and createdAt live on the record). */
export type MembershipBody = Omit<MembershipResult, "id" | "createdAt">;

function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

/** Every figure of a result from the two sides' NLLs in bits (lower = member). */
export function membershipBody(
  ids: MembershipRequest,
  memberBits: ArrayLike<number>,
  nonMemberBits: ArrayLike<number>,
): MembershipBody {
  const roc = rocCurve(memberBits, nonMemberBits);
  const best = bestF1(roc);
  const balanced = f1AtMemberCount(roc);
  return {
    ...ids,
    count: memberBits.length,
    f1: best.f1,
    threshold: best.threshold,
    accuracy: best.accuracy,
    balanced: { f1: balanced.f1, threshold: balanced.threshold },
    auc: auc(roc),
    tprAtFpr: {
      "0.01": tprAtFpr(roc, 0.01).tpr,
      "0.001": tprAtFpr(roc, 0.001).tpr,
    },
    roc: thinRoc(roc, MAX_ROC_POINTS),
    members: { meanBits: mean(memberBits) },
    nonMembers: { meanBits: mean(nonMemberBits) },
  };
}

// A worked example: 4 members and 4 non-members scored by a model that has memorized
// some of its training set (declared after membershipBody so it is computed, never stale).
export const MembershipResult = MembershipResultShape.meta({
  id: "MembershipResult",
  example: {
    id: "mia_01jz3k5q7r8s9t0v1w2x",
    createdAt: "2025-06-01T12:00:00.000Z",
    ...membershipBody(EXAMPLE_IDS, [3.1, 9.8, 9.8, 20.5], [9.8, 24.2, 27.9, 27.9]),
  },
});

export const MembershipPage = pageSchema(MembershipResult, "MembershipResultPage");

// ---- Extraction: POST /v1/extraction, and the step from decoded sequences to the response (extraction.ts does the counting).
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

// ---- Prediction: POST /v1/predict, memorization and membership-inference F1 from sizes alone (scaling_law.ts does the math).
// Bounds keep every derived figure finite (|D|·S·log2 V < 1e15·1e6·31).
const MAX_COUNT = 1e15;

export const PredictRequest = z.object({
  parameters: z.number().int().min(1).max(MAX_COUNT).describe(
    "Model parameters (GPT-2 with tied embeddings counts V·d + S·d + L·(12d²+13d) + 2d).",
  ),
  precision: z.enum(LAW_PRECISIONS).default("fp32").describe(
    "Weight precision whose α to use: fp32 or bf16 (the paper's Table 1 has these two).",
  ),
  seqLen: z.number().int().min(2).max(1_000_000).describe(
    "Tokens per sequence (S). Enters datasetBits and the membership law's x = " +
      "1000·|D|·S/(64·parameters); the paper's validation runs use S = 64.",
  ),
  vocabSize: z.number().int().min(2).max(2 ** 31).describe("Vocabulary size (V)."),
  datasetSequences: z.number().int().min(1).max(MAX_COUNT).describe(
    "Training sequences (|D|).",
  ),
  constants: z.enum(["paper", "fitted"]).default("paper").describe(
    '"paper": Morris et al. 2025; "fitted": memcap\'s own, from lib/privacy/' +
      "fitted_constants.json (written by `deno task experiment membership-law`; 409 until then).",
  ),
}).meta({
  id: "PredictRequest",
  example: {
    parameters: 1_560_000_000,
    precision: "fp32",
    seqLen: 64,
    vocabSize: 50257,
    datasetSequences: 18_900_000,
    constants: "paper",
  },
});
export type PredictRequest = z.infer<typeof PredictRequest>;

const Bits = (what: string) => z.number().describe(`${what} (bits).`);

export const PredictConstants = z.object({
  name: z.enum(["paper", "fitted"]),
  alpha: z.number().describe("Bits per parameter used, for the requested precision."),
  c1: z.number(),
  c2: z.number(),
  c3: z.number(),
  source: z.string(),
  version: z.number().int().optional().describe("fitted_constants.json version (fitted only)."),
  fittedAt: z.string().optional().describe("When they were fitted (fitted only)."),
  runs: z.number().int().optional().describe("Training runs behind the fit (fitted only)."),
}).meta({ id: "PredictConstants" });
export type PredictConstants = z.infer<typeof PredictConstants>;

const PredictResponseShape = z.object({
  capacityBits: Bits("α · parameters"),
  datasetBits: Bits("H(X) = |D|·(S-1)·log2 V, tokens 2..S"),
  paperConvention: z.object({
    datasetBits: Bits("|D|·S·log2 V"),
  }).describe("The paper's apparent all-S-tokens count, for comparison only."),
  expectedMemorizationBits: Bits("min(capacityBits, datasetBits)"),
  limitedBy: z.enum(["capacity", "data"]).describe(
    '"capacity" when the data holds more bits than the model can store.',
  ),
  membershipF1: z.number().describe(
    "Predicted loss-threshold membership F1 on a balanced set (0.5 = chance), clamped into " +
      "[0.5, 1].",
  ),
  membershipF1Law: z.number().describe(
    "The law's own value ½(1 + c1·σ(c2·(x + c3))), x = lawX: exceeds 1 for x < 1.41 with the " +
      "paper's constants.",
  ),
  clamped: z.boolean().describe("membershipF1 differs from membershipF1Law."),
  lawX: z.number().describe(
    "The membership law's variable x = 1000·|D|·S/(64·parameters) = 15.625 × " +
      "tokensPerParameter. It equals sequencesPerThousandParameters at S = 64 (the paper's " +
      "sequence length, where its constants were fitted) and is tied to tokens, not sequences, " +
      "so other sequence lengths stay comparable (S = 32 gives half).",
  ),
  sequencesPerThousandParameters: z.number().describe(
    "1000·|D|/parameters: the law's x only at S = 64 (see lawX).",
  ),
  tokensPerParameter: z.number().describe("|D|·S/parameters (all S tokens, as the paper counts)."),
  constants: PredictConstants,
});
export type PredictResponse = z.infer<typeof PredictResponseShape>;

/** The response for `input` under `c`, named and sourced by `meta`. */
export function predictResponse(
  input: PredictInput,
  c: LawConstants,
  meta: Omit<PredictConstants, "alpha" | "c1" | "c2" | "c3">,
): PredictResponse {
  const p = predict(input, c);
  return {
    ...p,
    constants: { ...meta, alpha: c.alpha[input.precision], c1: c.c1, c2: c.c2, c3: c.c3 },
  };
}

export const PAPER_META = { name: "paper", source: PAPER_SOURCE } as const;

// Declared after predictResponse so its example is computed, never stale.
export const PredictResponse = PredictResponseShape.meta({
  id: "PredictResponse",
  example: predictResponse(
    {
      parameters: 1_560_000_000,
      precision: "fp32",
      seqLen: 64,
      vocabSize: 50257,
      datasetSequences: 18_900_000,
    },
    PAPER_CONSTANTS,
    PAPER_META,
  ),
});

// ---- fitted_constants.json: memcap's own scaling-law constants, which POST /v1/predict uses
// with `constants: "fitted"` (fitted_constants.ts reads the file).
const Finite = z.number().refine(Number.isFinite, "must be finite");
const Alpha = z.number().positive().refine(Number.isFinite, "must be finite");

/** Version 1 of fitted_constants.json; a new shape gets a new version number. */
export const FittedConstantsFile = z.object({
  version: z.literal(1),
  fittedAt: z.iso.datetime({ offset: true }).describe("When the study fitted them (ISO 8601)."),
  source: z.string().min(1).describe("What produced them: study name, commit, adapter."),
  alpha: z.object({ fp32: Alpha, bf16: Alpha }).describe("Bits per parameter by precision."),
  c1: Finite.describe("Membership law ½(1 + c1·σ(c2·(x + c3))), x = 1000·|D|·S/(64·params)."),
  c2: Finite,
  c3: Finite,
  runs: z.number().int().min(1).describe("How many training runs the fit used."),
});
export type FittedConstantsFile = z.infer<typeof FittedConstantsFile>;

// ---- The most memorized samples of a memorization result's TF-IDF view (POST /v1/memorization
// with `tfidf: true`; memorized_samples.ts picks them).
export const MemorizedSample = z.object({
  index: z.int().describe("Position in the dataset."),
  bits: z.number().describe("Its unintended memorization in bits."),
  tfidf: z.number().describe("Its TF-IDF against the dataset."),
  tokens: z.array(z.int()).describe("Its token ids."),
});
export type MemorizedSample = z.infer<typeof MemorizedSample>;
