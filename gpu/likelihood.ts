// Negative log-likelihood of whole sequences on the GPU, in bits, over
// tokens 2..S (the first token has no prefix to predict it from).
import type { GptFleet } from "./fleet/gpt_fleet.ts";

export interface SequenceNll {
  /** Per sequence: Σ_{t=2..S} -log2 p(x_t | x_<t). */
  bits: Float64Array;
  /** Per token (when asked): [N, S-1] values in bits, row-major. */
  tokenBits?: Float32Array;
}

/**
 * NLL of each model's own sequences: sets[z] holds N_z sequences (tokens
 * [N_z * S]) scored by model z of the fleet; all models run in the same
 * dispatches. Batches of fleet.B sequences; short batches are padded with
 * token 0 and the padding ignored. Pass fewer sets than models to leave the
 * remaining models idle.
 */
export async function fleetSequenceNll(
  fleet: GptFleet,
  sets: Uint32Array[],
  perToken = false,
  /**
   * Checked before every batch: an aborted request stops here (an AbortSignal, or a job's
   * host, whose throwIfAborted throws once the job is cancelled or the service stops).
   */
  signal?: Pick<AbortSignal, "throwIfAborted">,
): Promise<SequenceNll[]> {
  const S = fleet.T, B = fleet.B, K = fleet.K;
  if (sets.length > K) throw new RangeError(`${sets.length} sequence sets for a fleet of ${K}`);
  const counts = sets.map((tokens, z) => {
    if (tokens.length % S !== 0) {
      throw new RangeError(
        `sequences of model ${z}: ${tokens.length} tokens is not a multiple of seqLen ${S}`,
      );
    }
    return tokens.length / S;
  });
  const out: SequenceNll[] = counts.map((n) => ({
    bits: new Float64Array(n),
    tokenBits: perToken ? new Float32Array(n * (S - 1)) : undefined,
  }));
  const batch = new Uint32Array(K * B * S);
  const most = Math.max(0, ...counts);
  for (let start = 0; start < most; start += B) {
    signal?.throwIfAborted();
    batch.fill(0);
    sets.forEach((tokens, z) => {
      const n = Math.max(0, Math.min(B, counts[z] - start));
      batch.set(tokens.subarray(start * S, (start + n) * S), z * B * S);
    });
    const nats = await fleet.tokenNll(batch);
    sets.forEach((_, z) => {
      const n = Math.max(0, Math.min(B, counts[z] - start));
      const { bits, tokenBits } = out[z];
      for (let i = 0; i < n; i++) {
        let sum = 0;
        const row = (z * B + i) * S;
        for (let t = 0; t < S - 1; t++) {
          const b = nats[row + t] / Math.LN2;
          sum += b;
          if (tokenBits) tokenBits[(start + i) * (S - 1) + t] = b;
        }
        bits[start + i] = sum;
      }
    });
  }
  return out;
}

/** NLL of one set of sequences under model 0 of the fleet. */
export async function sequenceNll(
  fleet: GptFleet,
  tokens: Uint32Array,
  perToken = false,
  signal?: Pick<AbortSignal, "throwIfAborted">,
): Promise<SequenceNll> {
  return (await fleetSequenceNll(fleet, [tokens], perToken, signal))[0];
}
