// Generates the fused training head of small models for CPU rasterizers:
// one kernel for what is otherwise six (final layernorm, tied lm head,
// softmax cross-entropy and, backward, dlnf = dlogits · wte and the
// layernorm's input gradient). Per row bt of model z (x = the residual
// stream after the last block):
//   mean, rstd of x[bt]; n = (x - mean) * rstd; y = n * lnf_w + lnf_b
//   logits[v] = y · wte[v]                                 (never stored)
//   loss[bt]  = logsumexp(logits) - logits[target]         (nats)
//   dlogits   = (softmax(logits) - onehot(target)) * INV_COUNT
//   dy        = dlogits · wte                              (= d loss / d y)
//   g = dy * lnf_w; dx = rstd * (g - mean(g) - n * mean(g * n))
// It serves training fleets, which compute only the positions that predict
// a token (memory_plan.ts positionsOf), so every row has a target. It
// writes what the rest of the step reads: y and dlogits (the lm head's
// weight gradient), mean and rstd, dx (the residual stream's gradient), the
// losses, and the partial sums of the layernorm's parameter gradients,
// Σ dy * n and Σ dy per group of rows (split_sum.ts adds the
// groups up). Numerically it is the unfused kernels' arithmetic.
//
// Unfused, each row's logits are stored and loaded twice and every matmul
// reloads its weights per block of outputs (~140 vec4 accesses per row at
// V 64, C 16); fused (row_codegen.ts), a lane holds wte and the layernorm
// parameters in registers and touches storage 32 times per row.
//
// Layouts: x, y, dx [K, BT, C/4] vec4; dlogits [K, BT, V/4] vec4; mean,
// rstd, losses [K, BT]; targets [K, BT] (the token row bt predicts);
// partials [K, scratch] vec4, group i's 2C floats (dw, then db) at i · 2C;
// lnf_w, lnf_b [K, LN_STRIDE] and wte [K, WTE_STRIDE] (rows [V, C]) are
// blocks of the parameter buffer.
import {
  layerNormBackward,
  layerNormForwardStored,
  layerNormParamPartials,
  loadMatrix,
  loadRow,
  modelOffset,
  range,
  read,
  type RowKernel,
  rowKernel,
  type RowKernelFrame,
  rowTimesMatrix,
  rowTimesTransposed,
  storeRow,
  write,
} from "./row_codegen.ts";

export interface HeadShape extends RowKernelFrame {
  /** Model width and vocabulary: multiples of 4. */
  C: number;
  V: number;
  /** Floats between models in the lnf_w / lnf_b and wte blocks. */
  lnStride: number;
  wteStride: number;
}

/**
 * Largest V · C fused. The code holds V · C / 4 weight vectors and 2 V C
 * fmas per row, and LLVM's compile time grows steeply with them
 * (docs/performance.md, "Notes from source comments", fused kernels'
 * compile times).
 */
export const MAX_FUSED_HEAD = 64 * 16;

/** Whether the fused head serves this shape (the software family decides the rest). */
export function headFusable(C: number, V: number): boolean {
  return C % 4 === 0 && V % 4 === 0 && V * C <= MAX_FUSED_HEAD;
}

export function trainHead(s: HeadShape): RowKernel {
  const { C, V } = s;
  if (!headFusable(C, V)) throw new RangeError(`no fused head for C=${C}, V=${V}`);
  if (s.targets !== s.T) {
    throw new RangeError(`fused head: every row needs a target (${s.targets} of ${s.T} positions)`);
  }
  const C4 = C / 4, V4 = V / 4;
  const qs = range(V4);
  const ids = (q: number) => `vec4<u32>(${range(4).map((i) => `${4 * q + i}u`).join(", ")})`;
  const maxOf = qs.map((q) => `l${q}`).reduce((a, b) => `max(${a}, ${b})`);
  const params = layerNormParamPartials("dy", "n", C, "partials");
  return rowKernel(s, {
    pairRows: true,
    bindings: [
      read("targets", "u32"),
      read("x"),
      read("lnw"),
      read("lnb"),
      read("wte"),
      write("yOut"),
      write("meanOut", "f32"),
      write("rstdOut", "f32"),
      write("dlogits"),
      write("dx"),
      write("losses", "f32"),
      write("partials"),
    ],
    prologue: [
      ...loadRow("g", "lnw", C, modelOffset(s.lnStride)),
      ...loadRow("h", "lnb", C, modelOffset(s.lnStride)),
      ...loadMatrix("e", "wte", V, C, modelOffset(s.wteStride)),
    ],
    accumulators: params.accumulators,
    body: [
      `let base = r * ${C4}u;`,
      ...layerNormForwardStored("g", "h", C),
      // Logits, four vocabulary entries per vec4 (wte is [V][C]).
      ...rowTimesTransposed("l", "y", "e", C, V),
      // Softmax cross-entropy, as cross_entropy.wgsl.
      `let tgt = targets[r];`,
      `let mv = ${maxOf};`,
      `let m = max(max(mv.x, mv.y), max(mv.z, mv.w));`,
      ...qs.map((q) => `let p${q} = exp(l${q} - m);`),
      `let s = dot(${qs.map((q) => `p${q}`).join(" + ")}, one);`,
      ...qs.map((q) => `let t${q} = ${ids(q)} == vec4<u32>(tgt);`),
      `let targetLogit = ${qs.map((q) => `dot(select(zero, l${q}, t${q}), one)`).join(" + ")};`,
      `losses[r] = log(s) - (targetLogit - m);`,
      `let scale = dims.invCount / s;`,
      `let onehot = vec4<f32>(dims.invCount);`,
      ...qs.map((q) => `let dl${q} = p${q} * scale - select(zero, onehot, t${q});`),
      ...storeRow("dlogits", "dl", V, `r * ${V4}u`),
      // dy = dlogits · wte, then the layernorm's input gradient.
      ...rowTimesMatrix("dy", "dl", "e", V, C),
      ...layerNormBackward("b", "dy", "g", "n", "rstd", C),
      ...storeRow("dx", "bdx", C, "base"),
      ...params.accumulate,
    ],
    epilogue: params.store,
  });
}
