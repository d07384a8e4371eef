// Seeded minibatches: each epoch visits every sequence once in a fresh
// shuffled order; a batch that crosses an epoch boundary continues into the
// next shuffle. With batchSize = dataset size every batch is the whole
// dataset (in a shuffled order, which does not change the mean loss).
import { Rng } from "../prng.ts";

export class BatchSampler {
  private rng: Rng;
  private order: Uint32Array;
  private pos: number;

  constructor(readonly count: number, readonly batchSize: number, seed: number) {
    if (count < 1) throw new RangeError("BatchSampler: empty dataset");
    this.rng = new Rng(seed);
    this.order = new Uint32Array(count);
    this.pos = count; // forces a shuffle on first use
  }

  /**
   * Everything the sampler will draw from here, as words: [pos, rng state (4), order (count)].
   * A checkpoint keeps them, so a resumed run continues the batch order without replaying it
   * (which costs steps × batchSize draws).
   */
  state(): Uint32Array {
    const out = new Uint32Array(5 + this.count);
    out[0] = this.pos;
    out.set(this.rng.words(), 1);
    out.set(this.order, 5);
    return out;
  }

  /** The sampler `state()` was taken from, as it stood then. */
  static fromState(count: number, batchSize: number, state: Uint32Array): BatchSampler {
    if (state.length !== 5 + count) {
      throw new RangeError(`sampler state of ${state.length} words is not for ${count} sequences`);
    }
    const s = new BatchSampler(count, batchSize, 0);
    s.pos = state[0];
    s.rng = Rng.fromWords(Array.from(state.subarray(1, 5)));
    s.order.set(state.subarray(5));
    return s;
  }

  /** The next batchSize sequence indices. */
  next(): Uint32Array {
    const out = new Uint32Array(this.batchSize);
    for (let i = 0; i < this.batchSize; i++) {
      if (this.pos >= this.count) {
        for (let j = 0; j < this.count; j++) this.order[j] = j;
        this.rng.shuffle(this.order);
        this.pos = 0;
      }
      out[i] = this.order[this.pos++];
    }
    return out;
  }
}

/** Copies the chosen sequences (each seqLen tokens) of `tokens` into `out` at `at`. */
export function gatherSequences(
  tokens: Uint32Array,
  seqLen: number,
  indices: Uint32Array,
  out: Uint32Array,
  at = 0,
): void {
  for (let i = 0; i < indices.length; i++) {
    const s = indices[i] * seqLen;
    out.set(tokens.subarray(s, s + seqLen), at + i * seqLen);
  }
}
