// The TF-IDF view of a memorization result (POST /v1/memorization with `tfidf: true`):
// per-sample TF-IDF, its Spearman correlation with per-sample unintended memorization, and
// the most memorized samples. The paper finds those to be the high-TF-IDF ones (rare
// tokens); a positive correlation on text data is that finding.
import type { MemorizedSample } from "./schemas.ts";
import { tfidf } from "./tfidf.ts";
import { spearman } from "./spearman.ts";

/** Samples listed in topMemorized. */
export const TOP_MEMORIZED = 10;

export interface TfidfView {
  tfidf: number[];
  /** null when undefined (fewer than 2 samples, or either side constant). */
  spearmanTfidfUnintended: number | null;
  topMemorized: MemorizedSample[];
}

/**
 * From the dataset's tokens [N, S] and per-sample unintended bits: TF-IDF per sample, their
 * Spearman ρ, and the `top` samples with the most unintended bits (ties: lower index first;
 * samples with 0 bits are listed too when fewer than `top` have more).
 */
export function tfidfView(
  tokens: Uint32Array,
  seqLen: number,
  unintended: ArrayLike<number>,
  top = TOP_MEMORIZED,
): TfidfView {
  const scores = tfidf(tokens, seqLen);
  if (unintended.length !== scores.length) {
    throw new RangeError(`unintended: ${unintended.length} values for ${scores.length} samples`);
  }
  const rho = spearman(scores, unintended);
  const order = Array.from({ length: scores.length }, (_, i) => i)
    .sort((a, b) => unintended[b] - unintended[a] || a - b)
    .slice(0, top);
  return {
    tfidf: Array.from(scores),
    spearmanTfidfUnintended: Number.isNaN(rho) ? null : rho,
    topMemorized: order.map((index) => ({
      index,
      bits: unintended[index],
      tfidf: scores[index],
      tokens: Array.from(tokens.subarray(index * seqLen, (index + 1) * seqLen)),
    })),
  };
}
