// Memorization in bits (Morris et al. 2025, docs/method.md, "Definitions").
//
// Every quantity here is a code length in bits over tokens 2..S of a sequence
// of S tokens: the first token has no prefix, so a model never predicts it and
// memcap leaves it out of every sum. The paper appears to count all S tokens
// in H(X); `paperConvention.datasetBits` gives that figure. Memorized bits are
// not scaled: the paper's plateau is flat over N, which a free first token (a
// share growing with N) would not be (docs/method.md).
//
// Per sample x, with NLL_θ(x) the trained model's code length, NLL_ref(x) the
// reference's and U the uniform code length (S-1)·log2 V:
//
//   unintended     = max(0, NLL_ref - NLL_θ)          H(x|θ̂) - H(x|θ,θ̂)
//   total          = max(0, U - min(NLL_θ, NLL_ref))  H(x) - H(x|θ,θ̂), H(x) ≈ U
//   generalization = total - unintended
//
// H(x|θ,θ̂) ≈ -log2 max(p(x|θ), p(x|θ̂)) = min of the two code lengths: an
// encoder that holds both models sends one bit to pick the better (ignored).
// With the uniform reference (NLL_ref = U) total = unintended and
// generalization = 0: on random tokens nothing can be generalized.
// generalization ≥ 0 whenever the reference codes x no worse than the uniform
// code (NLL_ref ≤ U); it goes negative only for a reference worse than uniform.
import type { MemorizationReference, MemorizationResult } from "./schemas.ts";

/** Uniform code length of one sequence in bits: (S-1)·log2 V (tokens 2..S). */
export function uniformSequenceBits(seqLen: number, vocabSize: number): number {
  if (!Number.isInteger(seqLen) || seqLen < 2) {
    throw new RangeError(`seqLen: ${seqLen} is not an integer ≥ 2`);
  }
  if (!Number.isInteger(vocabSize) || vocabSize < 2) {
    throw new RangeError(`vocabSize: ${vocabSize} is not an integer ≥ 2`);
  }
  return (seqLen - 1) * Math.log2(vocabSize);
}

/** S/(S-1): the factor from memcap's tokens-2..S sums to the paper's all-S-tokens sums. */
export function paperConventionFactor(seqLen: number): number {
  if (!Number.isInteger(seqLen) || seqLen < 2) {
    throw new RangeError(`seqLen: ${seqLen} is not an integer ≥ 2`);
  }
  return seqLen / (seqLen - 1);
}

/** Per-sample code lengths in bits, one value per sequence. */
export type BitsArray = Float64Array | readonly number[];

export interface MemorizationInput {
  /** NLL of each sample under the trained model θ, bits over tokens 2..S. */
  modelBits: BitsArray;
  /** NLL of each sample under the reference θ̂, bits over tokens 2..S. */
  referenceBits: BitsArray;
  /** Uniform code length of one sample, bits: (S-1)·log2 V (see uniformSequenceBits). */
  uniformBits: number;
  /** Tokens per sequence (S); used only for the paper's S/(S-1) convention. */
  seqLen: number;
}

/** Dataset-level sums in bits. */
export interface MemorizationSums {
  totalBits: number;
  unintendedBits: number;
  generalizationBits: number;
  /** N·uniformBits: the dataset's code length under the uniform code. */
  datasetBits: number;
}

export interface MemorizationBits extends MemorizationSums {
  /** Samples (N). */
  count: number;
  seqLen: number;
  /** Per-sample values in bits, tokens 2..S. */
  perSample: { total: Float64Array; unintended: Float64Array; generalization: Float64Array };
  /** Every sum × S/(S-1), the paper's apparent all-S-tokens convention. */
  paperConvention: { datasetBits: number };
}

/**
 * Total, unintended and generalization bits per sample and summed over the
 * dataset (formulas at the top of this file). Sums of per-sample values are a
 * lower bound on dataset-level memorization. Throws a RangeError naming the
 * field on mismatched lengths or non-finite values.
 */
export function memorizationFromBits(input: MemorizationInput): MemorizationBits {
  const { modelBits, referenceBits, uniformBits, seqLen } = input;
  const n = modelBits.length;
  if (referenceBits.length !== n) {
    throw new RangeError(
      `referenceBits: ${referenceBits.length} values for ${n} samples in modelBits`,
    );
  }
  if (!Number.isFinite(uniformBits) || uniformBits < 0) {
    throw new RangeError(`uniformBits: ${uniformBits} is not a finite number ≥ 0`);
  }
  const factor = paperConventionFactor(seqLen);
  const total = new Float64Array(n);
  const unintended = new Float64Array(n);
  const generalization = new Float64Array(n);
  const sumT = new Sum(), sumU = new Sum(), sumG = new Sum();
  for (let i = 0; i < n; i++) {
    const m = modelBits[i], r = referenceBits[i];
    if (!Number.isFinite(m)) throw new RangeError(`modelBits[${i}]: ${m} is not finite`);
    if (!Number.isFinite(r)) throw new RangeError(`referenceBits[${i}]: ${r} is not finite`);
    const u = Math.max(0, r - m);
    const t = Math.max(0, uniformBits - Math.min(m, r));
    total[i] = t;
    unintended[i] = u;
    generalization[i] = t - u;
    sumT.add(t);
    sumU.add(u);
    sumG.add(t - u);
  }
  const sums: MemorizationSums = {
    totalBits: sumT.value,
    unintendedBits: sumU.value,
    generalizationBits: sumG.value,
    datasetBits: n * uniformBits,
  };
  return {
    ...sums,
    count: n,
    seqLen,
    perSample: { total, unintended, generalization },
    paperConvention: { datasetBits: sums.datasetBits * factor },
  };
}

/** Neumaier-compensated sum: exact enough for millions of per-sample values. */
class Sum {
  private s = 0;
  private c = 0;
  add(x: number) {
    const t = this.s + x;
    this.c += Math.abs(this.s) >= Math.abs(x) ? (this.s - t) + x : (x - t) + this.s;
    this.s = t;
  }
  get value(): number {
    return this.s + this.c;
  }
}

// ---------------------------------------------------------------------------
// The HTTP body of POST /v1/memorization (its shapes are lib/memorization/schemas.ts)

/** The HTTP body for a computed result (typed arrays become plain arrays). */
export function toMemorizationResult(
  m: MemorizationBits,
  meta: { reference: MemorizationReference; modelId?: string; datasetId?: string },
): MemorizationResult {
  return {
    ...(meta.modelId !== undefined ? { modelId: meta.modelId } : {}),
    ...(meta.datasetId !== undefined ? { datasetId: meta.datasetId } : {}),
    reference: meta.reference,
    count: m.count,
    seqLen: m.seqLen,
    tokensCounted: "2..S",
    totalBits: m.totalBits,
    unintendedBits: m.unintendedBits,
    generalizationBits: m.generalizationBits,
    datasetBits: m.datasetBits,
    perSample: {
      total: Array.from(m.perSample.total),
      unintended: Array.from(m.perSample.unintended),
      generalization: Array.from(m.perSample.generalization),
    },
    paperConvention: { ...m.paperConvention },
  };
}
