// TF-IDF of a sample against its dataset, as docs/method.md ("Text experiment") defines it:
//
//   tfidf(d) = (1/|d|) Σ_{w ∈ d} log(|D| / tf(w, D))
//
// Our reading, word for word:
// - d is one sample (a sequence of S token ids) and |d| its length in tokens, S.
// - Σ_{w ∈ d} runs over the token positions of d, so a token that occurs twice in d counts
//   twice; with the 1/|d| in front the score is a mean over positions.
// - tf(w, D) is how often token w occurs in the whole dataset D (all positions of all
//   samples, d included), and |D| the number of tokens in D, N·S. Then |D|/tf(w, D) is one
//   over w's relative frequency, and tfidf(d) is the mean surprisal of d's tokens under the
//   dataset's unigram distribution: high for samples made of rare tokens (the paper's
//   most-memorized samples: rare tokens, non-English text).
// - log is the natural logarithm (the paper names no base; a base only scales every score
//   by the same factor, which changes no ranking and no Spearman correlation).
// - All S tokens count, the first included: TF-IDF describes the text, not what a model
//   predicts, so the tokens-2..S convention of code lengths does not apply.
// Were |D| meant as the number of samples N instead, every score would shift by the same
// log S, so rankings and correlations would again be unchanged.

/** Occurrences of each token id over all of tokens (index = token id). */
export function tokenCounts(tokens: Uint32Array): Float64Array {
  let max = -1;
  for (let i = 0; i < tokens.length; i++) if (tokens[i] > max) max = tokens[i];
  const counts = new Float64Array(max + 1);
  for (let i = 0; i < tokens.length; i++) counts[tokens[i]]++;
  return counts;
}

/** Per-sample TF-IDF (formula above) of N samples, tokens [N, seqLen] row-major. */
export function tfidf(tokens: Uint32Array, seqLen: number): Float64Array {
  if (!Number.isInteger(seqLen) || seqLen < 1) {
    throw new RangeError(`seqLen: ${seqLen} is not a positive integer`);
  }
  if (tokens.length % seqLen !== 0) {
    throw new RangeError(`tokens: ${tokens.length} ids is not a multiple of seqLen ${seqLen}`);
  }
  const n = tokens.length / seqLen, total = tokens.length;
  const counts = tokenCounts(tokens);
  // Every token id present has tf ≥ 1, so each term is finite and ≥ 0.
  const weight = Array.from(counts, (tf) => (tf > 0 ? Math.log(total / tf) : 0));
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let t = 0; t < seqLen; t++) sum += weight[tokens[i * seqLen + t]];
    out[i] = sum / seqLen;
  }
  return out;
}
