// Extraction by greedy decoding (docs/method.md, "Text experiment"): the pure parts. The engine
// decodes; this file picks the argmax, checks prefix lengths, samples the sequences and
// counts how much of each true suffix came back.
//
// Indices: a sequence has S tokens, 1-based in the docs, 0-based in arrays. With a prefix
// of p tokens (array positions 0..p-1) the model decodes positions p..S-1, S-p tokens; the
// logits at position i predict the token at i+1.

/**
 * Index of the largest of row[offset .. offset+length): ties go to the lowest index, so
 * greedy decoding is deterministic whatever order a GPU summed in. NaN never wins.
 */
export function argmax(row: ArrayLike<number>, offset = 0, length = row.length - offset): number {
  let best = 0, bestValue = -Infinity;
  for (let i = 0; i < length; i++) {
    const x = row[offset + i];
    if (x > bestValue) { // strict: an equal later value keeps the earlier id
      best = i;
      bestValue = x;
    }
  }
  return best;
}

/** The paper's default prefix is half the sequence (32 of 64 tokens). */
export function defaultPrefixLength(seqLen: number): number {
  return Math.max(1, Math.floor(seqLen / 2));
}

/**
 * Throws a RangeError naming `prefixLengths[i]` unless every length is an integer in
 * 1..S-1 and none repeats (a repeat would decode the same thing twice).
 */
export function checkPrefixLengths(prefixLengths: readonly number[], seqLen: number): void {
  const seen = new Set<number>();
  prefixLengths.forEach((p, i) => {
    if (!Number.isInteger(p) || p < 1 || p > seqLen - 1) {
      throw new RangeError(
        `prefixLengths[${i}]: ${p} is outside 1..${seqLen - 1} (seqLen ${seqLen} minus 1: ` +
          `at least one token must be left to decode)`,
      );
    }
    if (seen.has(p)) throw new RangeError(`prefixLengths[${i}]: ${p} is listed twice`);
    seen.add(p);
  });
}

/** The first min(max, N) sequences of tokens [N, S]: a deterministic sample, no copy. */
export function firstSequences(tokens: Uint32Array, seqLen: number, max: number): Uint32Array {
  const n = Math.min(Math.floor(tokens.length / seqLen), Math.max(0, Math.floor(max)));
  return tokens.subarray(0, n * seqLen);
}

export interface SuffixMatch {
  sequences: number;
  /** Sequences whose whole decoded suffix equals the true one. */
  exactMatches: number;
  /** exactMatches / sequences (0 when there are none). */
  exactMatchRate: number;
  /** Mean over sequences of the fraction of suffix positions decoded right. */
  tokenMatchRate: number;
  /** Indices of the exactly matched (extracted) sequences, ascending. */
  extracted: number[];
}

/**
 * Compares decoded [N, S] with the truth [N, S] on positions p..S-1 (tokens p+1..S).
 * Positions are compared one by one, not after the first miss: a decode that slips once
 * and then recovers still scores the tokens it got right.
 */
export function matchSuffixes(
  truth: Uint32Array,
  decoded: Uint32Array,
  seqLen: number,
  prefixLength: number,
): SuffixMatch {
  if (decoded.length !== truth.length) {
    throw new RangeError(`decoded: ${decoded.length} tokens, the truth ${truth.length}`);
  }
  checkPrefixLengths([prefixLength], seqLen);
  const n = truth.length / seqLen, suffix = seqLen - prefixLength;
  const extracted: number[] = [];
  let tokenFractions = 0;
  for (let i = 0; i < n; i++) {
    let same = 0;
    for (let t = prefixLength; t < seqLen; t++) {
      if (decoded[i * seqLen + t] === truth[i * seqLen + t]) same++;
    }
    tokenFractions += same / suffix;
    if (same === suffix) extracted.push(i);
  }
  return {
    sequences: n,
    exactMatches: extracted.length,
    exactMatchRate: n ? extracted.length / n : 0,
    tokenMatchRate: n ? tokenFractions / n : 0,
    extracted,
  };
}

export interface ExtractedExample {
  index: number;
  /** The shortest requested prefix from which greedy decoding gave the whole sequence back. */
  prefixLength: number;
  tokens: number[];
}

/**
 * Up to `max` distinct extracted sequences. Shorter prefixes are searched first: a sequence
 * recovered from less context is the stronger evidence of memorization.
 */
export function pickExamples(
  byPrefix: { prefixLength: number; extracted: number[] }[],
  truth: Uint32Array,
  seqLen: number,
  max = 5,
): ExtractedExample[] {
  const out: ExtractedExample[] = [];
  const taken = new Set<number>();
  const ordered = [...byPrefix].sort((a, b) => a.prefixLength - b.prefixLength);
  for (const { prefixLength, extracted } of ordered) {
    for (const index of extracted) {
      if (out.length >= max) return out;
      if (taken.has(index)) continue;
      taken.add(index);
      out.push({
        index,
        prefixLength,
        tokens: Array.from(truth.subarray(index * seqLen, (index + 1) * seqLen)),
      });
    }
  }
  return out;
}
