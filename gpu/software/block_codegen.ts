// Generates a transformer block's fused row kernels for small models on CPU
// rasterizers (row_codegen.ts says why fusing pays there): everything of a
// block but attention itself and the weight gradients (the attention
// projection in kernels of its own, at the end of this file).
//
// The attention input, per row of model z, with x = the residual stream
// (resid), Wq = qkv_w [C, 3C]:
//   forward:  y = layernorm1(x); qkv = y · Wq + bq
//             writes y, mean, rstd (for backward) and qkv: the work of
//             layernorm_forward and the qkv matmul.
//   backward: dy = dqkv · Wqᵀ; dres += layernorm1'(dy)
//             writes dres and the partial sums of the layernorm's
//             parameter gradients (Σ dy * n, Σ dy per group of rows;
//             split_sum.ts adds the groups up): the work of the qkv.dx matmul,
//             layernorm_backward and layernorm_param_grads.
//
// The MLP, per row of model z, with x = the residual stream after attention
// (resid_mid), W1 = fc_w [C, 4C], W2 = fcproj_w [4C, C]:
//   forward:  y = layernorm2(x); h = y · W1 + b1; out = x + gelu(h) · W2 + b2
//             writes y, mean, rstd, h (for backward) and out (the next
//             residual stream): the work of layernorm_forward, the fc
//             matmul and the fcproj matmul (gelu applied as it reads h).
//   backward: u = dres (d loss / d out); dh = (u · W2ᵀ) ⊙ gelu'(h);
//             dy = dh · W1ᵀ; dres = u + layernorm2'(dy)
//             writes dh (fc's weight gradient reads it), dres in place and
//             the layernorm's parameter-gradient partials (as above): the
//             work of the fcproj.dx and fc.dx matmuls, layernorm_backward and
//             layernorm_param_grads. fcproj's weight gradient reads u, so it
//             runs before this kernel.
// GELU is GPT-2's tanh form, as the matmuls compute it (gelu_wgsl.ts).
//
// Layouts: x, y, out, u [K, BT, C/4] vec4; qkv, dqkv [K, BT, 3C/4] and h,
// dh [K, BT, C] vec4 (3C and 4C floats); mean, rstd [K, BT]; partials
// [K, scratch] vec4, group i's 2C floats (dw, then db) at i · 2C; each
// parameter a block [K, stride].
import { GELU_WGSL } from "../gelu_wgsl.ts";
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

export interface MlpShape extends RowKernelFrame {
  /** Model width, a multiple of 4; the hidden width is 4C. */
  C: number;
  /** Floats between models in each parameter's block. */
  strides: { ln: number; fcW: number; fcB: number; projW: number; projB: number };
}

export interface QkvShape extends RowKernelFrame {
  /** Model width, a multiple of 4. */
  C: number;
  /** Floats between models in each parameter's block. */
  strides: { ln: number; qkvW: number; qkvB: number };
}

/**
 * Widest C fused. LLVM's compile time grows steeply with the weights a
 * kernel holds (an MLP kernel holds 8C²): at C 16 a cold compile already
 * takes tens of seconds (docs/performance.md, "Fused kernels for small
 * models", and "Notes from source comments", fused kernels' compile times).
 */
export const MAX_FUSED_BLOCK = 16;

export function blockFusable(C: number): boolean {
  return C % 4 === 0 && C <= MAX_FUSED_BLOCK;
}

function check(s: MlpShape | QkvShape) {
  if (!blockFusable(s.C)) throw new RangeError(`no fused block kernels for C=${s.C}`);
  for (const [name, v] of Object.entries(s.strides)) {
    if (v % 4 !== 0) throw new RangeError(`stride ${name}=${v} is not a multiple of 4`);
  }
}

export function qkvForward(s: QkvShape): RowKernel {
  check(s);
  const { C } = s, st = s.strides;
  return rowKernel(s, {
    bindings: [
      read("x"),
      read("lnw"),
      read("lnb"),
      read("qkvw"),
      read("qkvb"),
      write("yOut"),
      write("meanOut", "f32"),
      write("rstdOut", "f32"),
      write("qkvOut"),
    ],
    prologue: [
      ...loadRow("g", "lnw", C, modelOffset(st.ln)),
      ...loadRow("gb", "lnb", C, modelOffset(st.ln)),
      ...loadMatrix("w_", "qkvw", C, 3 * C, modelOffset(st.qkvW)),
      ...loadRow("b_", "qkvb", 3 * C, modelOffset(st.qkvB)),
    ],
    body: [
      `let base = r * ${C / 4}u;`,
      ...layerNormForwardStored("g", "gb", C),
      ...rowTimesMatrix("q", "y", "w_", C, 3 * C, (j) => [`b_${j}`]),
      ...storeRow("qkvOut", "q", 3 * C, `r * ${(3 * C) / 4}u`),
    ],
  });
}

export function qkvBackward(s: QkvShape): RowKernel {
  check(s);
  const { C } = s, st = s.strides;
  const params = layerNormParamPartials("dy", "n", C, "partials");
  return rowKernel(s, {
    bindings: [
      write("dres"),
      read("dqkv"),
      read("x"),
      read("mean", "f32"),
      read("rstd", "f32"),
      read("lnw"),
      read("qkvw"),
      write("partials"),
    ],
    prologue: [
      ...loadRow("g", "lnw", C, modelOffset(st.ln)),
      ...loadMatrix("w_", "qkvw", C, 3 * C, modelOffset(st.qkvW)),
    ],
    accumulators: params.accumulators,
    body: [
      `let base = r * ${C / 4}u;`,
      ...loadRow("dq", "dqkv", 3 * C, `r * ${(3 * C) / 4}u`),
      // dy = dqkv · Wqᵀ (Wq is [C][3C]).
      ...rowTimesTransposed("dy", "dq", "w_", 3 * C, C),
      ...layerNormInputGradient(C, false),
      ...params.accumulate,
    ],
    epilogue: params.store,
  });
}

/**
 * The layernorm's input gradient (dy in scope) from its saved mean and
 * rstd, as layernorm_backward.wgsl, added into the residual stream's
 * gradient dres (binding "dres", `base` in scope; its row is `u`, loaded
 * here unless `uLoaded`).
 */
function layerNormInputGradient(C: number, uLoaded: boolean): string[] {
  return [
    ...(uLoaded ? [] : loadRow("u", "dres", C, "base")),
    ...loadRow("x", "x", C, "base"),
    `let mu = mean[r];`,
    `let rs = rstd[r];`,
    ...range(C / 4).map((j) => `let n${j} = (x${j} - mu) * rs;`),
    ...layerNormBackward("b", "dy", "g", "n", "rs", C),
    ...range(C / 4).map((j) => `dres[base + ${j}u] = u${j} + bdx${j};`),
  ];
}

export function mlpForward(s: MlpShape): RowKernel {
  check(s);
  const { C } = s, H = 4 * C, st = s.strides;
  return rowKernel(s, {
    pairRows: true,
    bindings: [
      read("x"),
      read("lnw"),
      read("lnb"),
      read("fcw"),
      read("fcb"),
      read("projw"),
      read("projb"),
      write("yOut"),
      write("meanOut", "f32"),
      write("rstdOut", "f32"),
      write("hOut"),
      write("out"),
    ],
    helpers: GELU_WGSL,
    prologue: [
      ...loadRow("g", "lnw", C, modelOffset(st.ln)),
      ...loadRow("gb", "lnb", C, modelOffset(st.ln)),
      ...loadMatrix("w1_", "fcw", C, H, modelOffset(st.fcW)),
      ...loadRow("b1_", "fcb", H, modelOffset(st.fcB)),
      ...loadMatrix("w2_", "projw", H, C, modelOffset(st.projW)),
      ...loadRow("b2_", "projb", C, modelOffset(st.projB)),
    ],
    body: [
      `let base = r * ${C / 4}u;`,
      `let hbase = r * ${H / 4}u;`,
      ...layerNormForwardStored("g", "gb", C),
      ...rowTimesMatrix("h", "y", "w1_", C, H, (j) => [`b1_${j}`]),
      ...storeRow("hOut", "h", H, "hbase"),
      ...range(H / 4).map((j) => `let a${j} = gelu4(h${j});`),
      ...rowTimesMatrix("o", "a", "w2_", H, C, (j) => [`x${j}`, `b2_${j}`]),
      ...storeRow("out", "o", C, "base"),
    ],
  });
}

export function mlpBackward(s: MlpShape): RowKernel {
  check(s);
  const { C } = s, H = 4 * C, st = s.strides;
  const params = layerNormParamPartials("dy", "n", C, "partials");
  return rowKernel(s, {
    bindings: [
      write("dres"),
      read("h"),
      read("x"),
      read("mean", "f32"),
      read("rstd", "f32"),
      read("lnw"),
      read("fcw"),
      read("projw"),
      write("dhOut"),
      write("partials"),
    ],
    helpers: GELU_WGSL,
    prologue: [
      ...loadRow("g", "lnw", C, modelOffset(st.ln)),
      ...loadMatrix("w1_", "fcw", C, H, modelOffset(st.fcW)),
      ...loadMatrix("w2_", "projw", H, C, modelOffset(st.projW)),
    ],
    accumulators: params.accumulators,
    body: [
      `let base = r * ${C / 4}u;`,
      `let hbase = r * ${H / 4}u;`,
      ...loadRow("u", "dres", C, "base"),
      ...loadRow("h", "h", H, "hbase"),
      // dA = u · W2ᵀ (W2 is [4C][C]), then through gelu.
      ...rowTimesTransposed("da", "u", "w2_", C, H),
      ...range(H / 4).map((j) => `let dh${j} = da${j} * geluGrad4(h${j});`),
      ...storeRow("dhOut", "dh", H, "hbase"),
      // dy = dh · W1ᵀ (W1 is [C][4C]).
      ...rowTimesTransposed("dy", "dh", "w1_", H, C),
      ...layerNormInputGradient(C, true),
      ...params.accumulate,
    ],
    epilogue: params.store,
  });
}

export interface ProjShape extends RowKernelFrame {
  /** Model width, a multiple of 4. */
  C: number;
  /** Floats between models in each parameter's block. */
  strides: { w: number; b: number };
}

/**
 * The attention projection with the residual, per row of model z, with
 * a = the attention output, x = the residual stream, Wp = attproj_w [C, C]:
 * out = x + a · Wp + bp. It holds C² weights, so it stays a kernel of its
 * own: joined to the MLP kernels it made them hold more and run slower
 * (docs/performance.md, "Fused kernels for small models").
 */
export function projForward(s: ProjShape): RowKernel {
  checkProj(s);
  const { C } = s;
  return rowKernel(s, {
    bindings: [read("a"), read("x"), read("pw"), read("pb"), write("out")],
    prologue: [
      ...loadMatrix("w_", "pw", C, C, modelOffset(s.strides.w)),
      ...loadRow("b_", "pb", C, modelOffset(s.strides.b)),
    ],
    body: [
      `let base = r * ${C / 4}u;`,
      ...loadRow("a", "a", C, "base"),
      ...loadRow("x", "x", C, "base"),
      ...rowTimesMatrix("o", "a", "w_", C, C, (j) => [`x${j}`, `b_${j}`]),
      ...storeRow("out", "o", C, "base"),
    ],
  });
}

/** The projection's input gradient: da = dres · Wpᵀ (dres, the residual stream's gradient). */
export function projBackward(s: ProjShape): RowKernel {
  checkProj(s);
  const { C } = s;
  return rowKernel(s, {
    bindings: [read("dres"), read("pw"), write("da")],
    prologue: loadMatrix("w_", "pw", C, C, modelOffset(s.strides.w)),
    body: [
      `let base = r * ${C / 4}u;`,
      ...loadRow("u", "dres", C, "base"),
      ...rowTimesTransposed("d", "u", "w_", C, C),
      ...storeRow("da", "d", C, "base"),
    ],
  });
}

function checkProj(s: ProjShape) {
  if (!blockFusable(s.C)) throw new RangeError(`no fused projection for C=${s.C}`);
  for (const [name, v] of Object.entries(s.strides)) {
    if (v % 4 !== 0) throw new RangeError(`stride ${name}=${v} is not a multiple of 4`);
  }
}
