// Greedy decoding on the GPU for extraction (docs/method.md, "Text experiment"): from the first p
// tokens of each sequence, append the argmax token (ties to the lowest id) until S tokens.
//
// One forward pass per decoded position over a whole batch. Positions after the one being
// predicted hold 0s: causal attention keeps them out of the logits read, and 0s (not the
// true tokens) make sure nothing of the real suffix is even in the buffer. Each step reads
// back only the logits row at position t-1 of every sequence (one host sync per step).
import type { GptFleet } from "./fleet/gpt_fleet.ts";
import { argmax, checkPrefixLengths } from "../lib/privacy/extraction.ts";

/**
 * For each prefix length p: [N, S] sequences, tokens 0..p-1 copied from `tokens`, p..S-1
 * decoded greedily by model 0 of the fleet, in batches of fleet.B (short batches padded
 * with token 0 and the padding ignored).
 */
export async function greedyDecode(
  fleet: GptFleet,
  tokens: Uint32Array,
  prefixLengths: readonly number[],
  /** Checked before every decoding step: an aborted request stops here. */
  signal?: AbortSignal,
): Promise<Uint32Array[]> {
  const S = fleet.T, B = fleet.B, K = fleet.K, V = fleet.config.vocabSize;
  if (tokens.length % S !== 0) {
    throw new RangeError(`tokens: ${tokens.length} ids is not a multiple of seqLen ${S}`);
  }
  checkPrefixLengths(prefixLengths, S);
  const n = tokens.length / S;
  const batch = new Uint32Array(K * B * S); // models 1..K-1, if any, stay idle on 0s
  const out: Uint32Array[] = [];
  for (const p of prefixLengths) {
    const decoded = new Uint32Array(n * S);
    for (let start = 0; start < n; start += B) {
      const m = Math.min(B, n - start);
      batch.fill(0);
      for (let i = 0; i < m; i++) {
        const row = (start + i) * S;
        batch.set(tokens.subarray(row, row + p), i * S);
      }
      for (let t = p; t < S; t++) {
        signal?.throwIfAborted();
        const logits = await fleet.logitsAt(batch, t - 1); // position t-1 predicts t
        for (let i = 0; i < m; i++) batch[i * S + t] = argmax(logits, i * V, V);
      }
      decoded.set(batch.subarray(0, m * S), start * S);
    }
    out.push(decoded);
  }
  return out;
}
