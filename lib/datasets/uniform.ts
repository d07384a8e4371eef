// Seeded uniform-random token datasets: the synthetic experiment of the
// paper, where every token is drawn independently and uniformly from V
// symbols, so nothing can be generalised and the data's information content
// is known exactly.
import { setImmediate } from "node:timers";
import { Rng } from "../prng.ts";
import { allocateEncoded, type Dataset, type DatasetShape } from "./codec.ts";

export interface UniformSpec extends DatasetShape {
  /** Any integer in [0, 2^32); the same seed gives the same tokens everywhere. */
  seed: number;
}

/**
 * Fills `out` (length N*S) with tokens: one Rng seeded with `seed`, one
 * `rng.int(V)` per token, sequence by sequence, position by position.
 */
export function fillUniform(spec: UniformSpec, out: Uint16Array | Uint32Array): void {
  const n = spec.count * spec.seqLen;
  if (out.length !== n) {
    throw new RangeError(`fillUniform: out has ${out.length} entries, need ${n}`);
  }
  const rng = new Rng(spec.seed);
  const v = spec.vocabSize;
  for (let i = 0; i < n; i++) out[i] = rng.int(v);
}

/** The dataset as N*S token ids, row-major. */
export function generateUniform(spec: UniformSpec): Dataset {
  const tokens = new Uint32Array(spec.count * spec.seqLen);
  fillUniform(spec, tokens);
  return { vocabSize: spec.vocabSize, seqLen: spec.seqLen, count: spec.count, tokens };
}

/** Tokens generated between two turns of the event loop by generateUniformAsync (~10 ms). */
const ASYNC_CHUNK_TOKENS = 1 << 18;

/**
 * generateUniform without holding the thread: the same tokens, made in chunks with a turn of
 * the event loop between them, so a process stays responsive (messages, heartbeats, a cancel)
 * while it generates a large dataset; `check` runs before every chunk and may throw to stop
 * (a job's throwIfAborted).
 */
export async function generateUniformAsync(
  spec: UniformSpec,
  check?: () => void,
): Promise<Dataset> {
  const n = spec.count * spec.seqLen;
  const tokens = new Uint32Array(n);
  const rng = new Rng(spec.seed);
  const v = spec.vocabSize;
  for (let start = 0; start < n; start += ASYNC_CHUNK_TOKENS) {
    check?.();
    const end = Math.min(n, start + ASYNC_CHUNK_TOKENS);
    for (let i = start; i < end; i++) tokens[i] = rng.int(v);
    if (end < n) await new Promise((r) => setImmediate(r));
  }
  return { vocabSize: spec.vocabSize, seqLen: spec.seqLen, count: spec.count, tokens };
}

/** The dataset straight into its encoded form (codec.ts), one buffer only. */
export function generateUniformEncoded(spec: UniformSpec): Uint8Array {
  const { bytes, tokens } = allocateEncoded(spec);
  fillUniform(spec, tokens);
  return bytes;
}

/** H(dataset) = N·S·log2 V bits: all S tokens (the paper's convention). */
export function uniformEntropyBits(s: DatasetShape): number {
  return s.count * s.seqLen * Math.log2(s.vocabSize);
}

/**
 * N·(S-1)·log2 V bits: tokens 2..S only, the ones a model predicts from a
 * prefix. This is the most a model can memorize of the dataset as memcap
 * measures it (the first token of a sequence has no prefix).
 */
export function uniformPredictableBits(s: DatasetShape): number {
  return s.count * (s.seqLen - 1) * Math.log2(s.vocabSize);
}
