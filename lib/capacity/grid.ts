// The automatic dataset-size grid of a capacity sweep (`datasetSizes: "auto"`): it centres
// on the size N* whose uniform code length equals a guess of the capacity, alpha·params bits,
// and spans N*/4 .. 4·N*.
import { parameterCount } from "../model/config.ts";
import type { ModelConfig } from "../model/schemas.ts";

/** N·(S-1)·log2 V: bits of N uniform sequences of S tokens, tokens 2..S. */
export function datasetBits(count: number, seqLen: number, vocabSize: number): number {
  if (!Number.isInteger(count) || count < 0) {
    throw new RangeError(`count: ${count} is not an integer ≥ 0`);
  }
  if (!Number.isInteger(seqLen) || seqLen < 2) {
    throw new RangeError(`seqLen: ${seqLen} is not an integer ≥ 2`);
  }
  if (!Number.isInteger(vocabSize) || vocabSize < 2) {
    throw new RangeError(`vocabSize: ${vocabSize} is not an integer ≥ 2`);
  }
  return count * (seqLen - 1) * Math.log2(vocabSize);
}

export interface AutoSizeOptions {
  /** Grid points (default 7). */
  points?: number;
  /** Guessed bits per parameter (default 3.6, the paper's headline). */
  alpha?: number;
  /** The grid spans N* / span .. N*·span (default 4). */
  span?: number;
}

/**
 * N* = alpha·params / ((S-1)·log2 V), the dataset size (sequences, not
 * rounded) whose uniform code length equals the guessed capacity alpha·params
 * bits.
 */
export function predictedPlateauSize(config: ModelConfig, alpha = 3.6): number {
  if (!(alpha > 0)) throw new RangeError(`alpha: ${alpha} is not > 0`);
  return (alpha * parameterCount(config)) / datasetBits(1, config.seqLen, config.vocabSize);
}

/**
 * Dataset sizes (sequences) for a sweep: `points` sizes on a geometric grid
 * from N* / span to N*·span centred on N* (predictedPlateauSize), rounded to
 * integers ≥ 1, deduplicated, ascending (tiny models can give fewer than
 * `points` sizes after rounding).
 */
export function autoDatasetSizes(config: ModelConfig, opts: AutoSizeOptions = {}): number[] {
  const points = opts.points ?? 7;
  const span = opts.span ?? 4;
  if (!Number.isInteger(points) || points < 1) {
    throw new RangeError(`points: ${points} is not an integer ≥ 1`);
  }
  if (!(span >= 1)) throw new RangeError(`span: ${span} is not ≥ 1`);
  const nStar = predictedPlateauSize(config, opts.alpha ?? 3.6);
  const sizes = new Set<number>();
  for (let i = 0; i < points; i++) {
    // exponent from -1 to 1: N*·span^-1 .. N*·span^1
    const e = points === 1 ? 0 : (2 * i) / (points - 1) - 1;
    sizes.add(Math.max(1, Math.round(nStar * span ** e)));
  }
  return [...sizes].sort((a, b) => a - b);
}
