// What a kernel family provides: the model's forward and backward, in
// pieces that gpt_fleet.ts strings together. A family decides which kernels
// compute each piece; every family computes the same function (the parity
// tests hold each to the CPU reference). Shapes are per model: B sequences
// of P positions make the B·T rows, C = dModel, V = vocabSize; the fleet's K
// models are every kernel's workgroup z.
import type { Op } from "../kernels.ts";

export interface KernelFamily {
  /** resid.0 [B·T, C] = wte[tokens] + wpe[positions]. */
  encoderForward(): Promise<Op>;
  /** Block l: resid.l → resid.l+1 [B·T, C], keeping what its backward reads. */
  layerForward(l: number): Promise<Op[]>;
  /** The tied head: lnf [B·T, C] = layernorm(resid.L), logits [B·T, V] = lnf · wteᵀ. */
  headForward(): Promise<Op[]>;
  /** losses [B·T] = the cross-entropy of logits against targets (logits kept). */
  evalLoss(): Promise<Op>;
  /** mean_loss [1] = the mean of losses over the positions that predict a token. */
  lossReduce(): Promise<Op>;
  /**
   * dwte [V, C] = dlogitsᵀ · lnf, the head's part of the embedding gradient
   * (built first: see gpt_fleet.ts on the order ops are built in).
   */
  headWeightGrad(): Op[];
  /**
   * A training step's head, from resid.L: the loss, dlogits (in place of
   * logits), the final layernorm's gradients, `dwte`, and dres [B·T, C] =
   * d loss / d resid.L. `forwardHead`: headForward's ops.
   */
  trainHead(forwardHead: Op[], dwte: Op[]): Promise<Op[]>;
  /** Block l backward: dres = d/d resid.l+1 → d/d resid.l, and layer l's parameter gradients. */
  layerBackward(l: number): Promise<Op[]>;
  /** After the blocks: any partial gradients summed, then dwte += the embedding's part, dwpe. */
  finishBackward(): Promise<Op[]>;
}
