// Shapes of POST /v1/predict (zod v4): memorization and membership-inference F1
// predicted from sizes alone (lib/privacy/scaling_law.ts does the math).
import { z } from "zod";
import {
  LAW_PRECISIONS,
  type LawConstants,
  PAPER_CONSTANTS,
  PAPER_SOURCE,
  predict,
  type PredictInput,
} from "./scaling_law.ts";

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
