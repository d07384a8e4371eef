// The memcap GPT-2 model in one file: a plain float64 CPU implementation,
// forward and backward, that says what the GPU kernels (gpu/fleet/,
// gpu/software/) compute. The parity tests hold every kernel family to it
// (tests/gpu/gpt_fleet_test.ts) and it to PyTorch (tests/lib/
// pytorch_parity_test.ts); the service itself trains on the GPU kernels.
//
// Each layer type is a pair of functions over flat row-major arrays:
// `xxxForward` writes its outputs, `xxxBackward` ADDS into its gradient
// arrays (callers zero them), so one parameter may collect gradient from
// several places (the tied wte does). Shapes are written in comments;
// B = batch, T = seqLen, N = B*T rows, C = dModel, NH = heads, hs = C/NH,
// V = vocabSize. Matrices use the Conv1D layout [in, out]: y = x·W + b.
//
// The model: x = wte[tok] + wpe[t]; per block
//   x = x + attproj(attention(qkv(LN1(x))));  x = x + fcproj(gelu(fc(LN2(x))));
// logits = LNf(x)·wteᵀ; position t predicts token t+1 for t < T-1, and the
// loss is the mean token NLL (nats) over the B*(T-1) predictions.
import type { ModelConfig } from "./schemas.ts";
import { tensorLayout } from "./layout.ts";

export const LN_EPS = 1e-5;
const GELU_K = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;

// ---------------------------------------------------------------------------
// Parameters: named float64 views into one flat vector (the logical layout).

export interface LayerParams {
  ln1_w: Float64Array; // [C]
  ln1_b: Float64Array; // [C]
  qkv_w: Float64Array; // [C, 3C]
  qkv_b: Float64Array; // [3C]
  attproj_w: Float64Array; // [C, C]
  attproj_b: Float64Array; // [C]
  ln2_w: Float64Array; // [C]
  ln2_b: Float64Array; // [C]
  fc_w: Float64Array; // [C, 4C]
  fc_b: Float64Array; // [4C]
  fcproj_w: Float64Array; // [4C, C]
  fcproj_b: Float64Array; // [C]
}

export interface ModelParams {
  wte: Float64Array; // [V, C], also the (tied) output projection
  wpe: Float64Array; // [T, C]
  layers: LayerParams[];
  lnf_w: Float64Array; // [C]
  lnf_b: Float64Array; // [C]
}

/** Total floats in one model's parameter vector, from the layout. */
export function layoutLength(config: ModelConfig): number {
  const specs = tensorLayout(config);
  const last = specs[specs.length - 1];
  return last.offset + last.size;
}

/** Named views (no copies) of every tensor inside `flat`, per tensorLayout. */
export function paramViews(config: ModelConfig, flat: Float64Array): ModelParams {
  const total = layoutLength(config);
  if (flat.length !== total) {
    throw new RangeError(`params: expected ${total} floats, got ${flat.length}`);
  }
  const layers: Record<string, Float64Array>[] = [];
  for (let l = 0; l < config.layers; l++) layers.push({});
  const top: Record<string, Float64Array> = {};
  for (const t of tensorLayout(config)) {
    const view = flat.subarray(t.offset, t.offset + t.size);
    if (t.layer >= 0) layers[t.layer][t.role] = view;
    else top[t.role] = view;
  }
  return {
    wte: top.wte,
    wpe: top.wpe,
    layers: layers as unknown as LayerParams[],
    lnf_w: top.lnf_w,
    lnf_b: top.lnf_b,
  };
}

// ---------------------------------------------------------------------------
// Encoder: token embedding + position embedding.

/** out[N, C] = wte[tokens[b,t]] + wpe[t]. */
export function encoderForward(
  out: Float64Array,
  tokens: Uint32Array,
  wte: Float64Array,
  wpe: Float64Array,
  B: number,
  T: number,
  C: number,
): void {
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const row = (b * T + t) * C;
      const tokRow = tokens[b * T + t] * C;
      const posRow = t * C;
      for (let i = 0; i < C; i++) out[row + i] = wte[tokRow + i] + wpe[posRow + i];
    }
  }
}

/** dwte[V, C] and dwpe[T, C] += scatter of dout[N, C]. */
export function encoderBackward(
  dwte: Float64Array,
  dwpe: Float64Array,
  dout: Float64Array,
  tokens: Uint32Array,
  B: number,
  T: number,
  C: number,
): void {
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const row = (b * T + t) * C;
      const tokRow = tokens[b * T + t] * C;
      const posRow = t * C;
      for (let i = 0; i < C; i++) {
        dwte[tokRow + i] += dout[row + i];
        dwpe[posRow + i] += dout[row + i];
      }
    }
  }
}

// ---------------------------------------------------------------------------
// LayerNorm over the last axis, biased variance, eps = 1e-5.

/** out[N, C] = (inp - mean) * rstd * w + b; also saves mean[N], rstd[N]. */
export function layernormForward(
  out: Float64Array,
  mean: Float64Array,
  rstd: Float64Array,
  inp: Float64Array,
  w: Float64Array,
  b: Float64Array,
  N: number,
  C: number,
): void {
  for (let n = 0; n < N; n++) {
    const row = n * C;
    let m = 0;
    for (let i = 0; i < C; i++) m += inp[row + i];
    m /= C;
    let v = 0;
    for (let i = 0; i < C; i++) {
      const d = inp[row + i] - m;
      v += d * d;
    }
    v /= C;
    const s = 1 / Math.sqrt(v + LN_EPS);
    for (let i = 0; i < C; i++) out[row + i] = (inp[row + i] - m) * s * w[i] + b[i];
    mean[n] = m;
    rstd[n] = s;
  }
}

/**
 * dinp[N, C], dw[C], db[C] += gradients of layernormForward given dout[N, C].
 * With xhat = (inp - mean) * rstd and g = dout * w:
 *   dinp = rstd * (g - mean(g) - xhat * mean(g * xhat)).
 */
export function layernormBackward(
  dinp: Float64Array,
  dw: Float64Array,
  db: Float64Array,
  dout: Float64Array,
  inp: Float64Array,
  w: Float64Array,
  mean: Float64Array,
  rstd: Float64Array,
  N: number,
  C: number,
): void {
  for (let n = 0; n < N; n++) {
    const row = n * C;
    const m = mean[n], s = rstd[n];
    let gMean = 0, gxMean = 0;
    for (let i = 0; i < C; i++) {
      const xhat = (inp[row + i] - m) * s;
      const g = dout[row + i] * w[i];
      gMean += g;
      gxMean += g * xhat;
    }
    gMean /= C;
    gxMean /= C;
    for (let i = 0; i < C; i++) {
      const xhat = (inp[row + i] - m) * s;
      const g = dout[row + i] * w[i];
      dw[i] += dout[row + i] * xhat;
      db[i] += dout[row + i];
      dinp[row + i] += s * (g - gMean - xhat * gxMean);
    }
  }
}

// ---------------------------------------------------------------------------
// Matmul with bias, Conv1D layout: out[n, o] = sum_i inp[n, i] * w[i, o] + bias[o].

/** out[N, OC] = inp[N, C] · w[C, OC] + bias[OC]. */
export function matmulForward(
  out: Float64Array,
  inp: Float64Array,
  w: Float64Array,
  bias: Float64Array,
  N: number,
  C: number,
  OC: number,
): void {
  for (let n = 0; n < N; n++) {
    const outRow = n * OC, inRow = n * C;
    for (let o = 0; o < OC; o++) out[outRow + o] = bias[o];
    for (let i = 0; i < C; i++) {
      const x = inp[inRow + i];
      const wRow = i * OC;
      for (let o = 0; o < OC; o++) out[outRow + o] += x * w[wRow + o];
    }
  }
}

/** dinp[N, C] += dout · wᵀ;  dw[C, OC] += inpᵀ · dout;  dbias[OC] += column sums of dout. */
export function matmulBackward(
  dinp: Float64Array,
  dw: Float64Array,
  dbias: Float64Array,
  dout: Float64Array,
  inp: Float64Array,
  w: Float64Array,
  N: number,
  C: number,
  OC: number,
): void {
  for (let n = 0; n < N; n++) {
    const outRow = n * OC, inRow = n * C;
    for (let o = 0; o < OC; o++) dbias[o] += dout[outRow + o];
    for (let i = 0; i < C; i++) {
      const x = inp[inRow + i];
      const wRow = i * OC;
      let acc = 0;
      for (let o = 0; o < OC; o++) {
        const g = dout[outRow + o];
        acc += g * w[wRow + o];
        dw[wRow + o] += x * g;
      }
      dinp[inRow + i] += acc;
    }
  }
}

// ---------------------------------------------------------------------------
// Causal multi-head self-attention.
// qkv[N, 3C] holds q in columns [0, C), k in [C, 2C), v in [2C, 3C); head h
// uses columns h*hs .. (h+1)*hs of each. att[B, NH, T, T] holds the softmax
// probabilities p[t, t'] (zero for t' > t). out[N, C] concatenates the heads
// in the same column order.

/** out[N, C], att[B, NH, T, T] from qkv[N, 3C]. */
export function attentionForward(
  out: Float64Array,
  att: Float64Array,
  qkv: Float64Array,
  B: number,
  T: number,
  C: number,
  NH: number,
): void {
  const hs = C / NH;
  const scale = 1 / Math.sqrt(hs);
  const C3 = 3 * C;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const q = (b * T + t) * C3 + h * hs;
        const attRow = ((b * NH + h) * T + t) * T;
        // scores and their max over the causal window t' <= t
        let max = -Infinity;
        for (let t2 = 0; t2 <= t; t2++) {
          const k = (b * T + t2) * C3 + C + h * hs;
          let dot = 0;
          for (let i = 0; i < hs; i++) dot += qkv[q + i] * qkv[k + i];
          const score = dot * scale;
          att[attRow + t2] = score;
          if (score > max) max = score;
        }
        let sum = 0;
        for (let t2 = 0; t2 <= t; t2++) {
          const e = Math.exp(att[attRow + t2] - max);
          att[attRow + t2] = e;
          sum += e;
        }
        for (let t2 = 0; t2 <= t; t2++) att[attRow + t2] /= sum;
        for (let t2 = t + 1; t2 < T; t2++) att[attRow + t2] = 0;
        // y_t = sum_t' p[t, t'] v_t'
        const y = (b * T + t) * C + h * hs;
        for (let i = 0; i < hs; i++) out[y + i] = 0;
        for (let t2 = 0; t2 <= t; t2++) {
          const v = (b * T + t2) * C3 + 2 * C + h * hs;
          const p = att[attRow + t2];
          for (let i = 0; i < hs; i++) out[y + i] += p * qkv[v + i];
        }
      }
    }
  }
}

/** dqkv[N, 3C] += gradient of attentionForward given dout[N, C]. */
export function attentionBackward(
  dqkv: Float64Array,
  dout: Float64Array,
  qkv: Float64Array,
  att: Float64Array,
  B: number,
  T: number,
  C: number,
  NH: number,
): void {
  const hs = C / NH;
  const scale = 1 / Math.sqrt(hs);
  const C3 = 3 * C;
  const dp = new Float64Array(T); // d loss / d p[t, t'] for one row t
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const q = (b * T + t) * C3 + h * hs;
        const y = (b * T + t) * C + h * hs;
        const attRow = ((b * NH + h) * T + t) * T;
        // through y_t = sum p v:  dp = dy·v_t',  dv_t' += p dy
        let pdp = 0; // sum_t' p[t, t'] dp[t']
        for (let t2 = 0; t2 <= t; t2++) {
          const v = (b * T + t2) * C3 + 2 * C + h * hs;
          const p = att[attRow + t2];
          let dot = 0;
          for (let i = 0; i < hs; i++) {
            dot += dout[y + i] * qkv[v + i];
            dqkv[v + i] += p * dout[y + i];
          }
          dp[t2] = dot;
          pdp += p * dot;
        }
        // through the softmax: dscore = p (dp - sum p dp); score = q·k * scale
        for (let t2 = 0; t2 <= t; t2++) {
          const k = (b * T + t2) * C3 + C + h * hs;
          const dscore = att[attRow + t2] * (dp[t2] - pdp) * scale;
          for (let i = 0; i < hs; i++) {
            dqkv[q + i] += dscore * qkv[k + i];
            dqkv[k + i] += dscore * qkv[q + i];
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// GELU, tanh approximation: gelu(u) = 0.5 u (1 + tanh(sqrt(2/pi) (u + 0.044715 u^3))).

/** gelu(u). */
export function gelu(u: number): number {
  return 0.5 * u * (1 + Math.tanh(GELU_K * (u + GELU_C * u * u * u)));
}

/** gelu'(u). */
export function geluGrad(u: number): number {
  const th = Math.tanh(GELU_K * (u + GELU_C * u * u * u));
  return 0.5 * (1 + th) + 0.5 * u * (1 - th * th) * GELU_K * (1 + 3 * GELU_C * u * u);
}

/** out[n] = gelu(inp[n]) for n < count. */
export function geluForward(out: Float64Array, inp: Float64Array, count: number): void {
  for (let n = 0; n < count; n++) out[n] = gelu(inp[n]);
}

/** dinp[n] += gelu'(inp[n]) * dout[n] for n < count. */
export function geluBackward(
  dinp: Float64Array,
  inp: Float64Array,
  dout: Float64Array,
  count: number,
): void {
  for (let n = 0; n < count; n++) dinp[n] += geluGrad(inp[n]) * dout[n];
}

// ---------------------------------------------------------------------------
// Residual add.

/** out[n] = a[n] + b[n] for n < count. */
export function residualForward(
  out: Float64Array,
  a: Float64Array,
  b: Float64Array,
  count: number,
): void {
  for (let n = 0; n < count; n++) out[n] = a[n] + b[n];
}

// ---------------------------------------------------------------------------
// Tied output projection: logits[n, v] = f[n, :] · wte[v, :].

/** logits[N, V] = f[N, C] · wte[V, C]ᵀ. */
export function logitsForward(
  logits: Float64Array,
  f: Float64Array,
  wte: Float64Array,
  N: number,
  C: number,
  V: number,
): void {
  for (let n = 0; n < N; n++) {
    for (let v = 0; v < V; v++) {
      let dot = 0;
      for (let i = 0; i < C; i++) dot += f[n * C + i] * wte[v * C + i];
      logits[n * V + v] = dot;
    }
  }
}

/** df[N, C] += dlogits · wte;  dwte[V, C] += dlogitsᵀ · f. */
export function logitsBackward(
  df: Float64Array,
  dwte: Float64Array,
  dlogits: Float64Array,
  f: Float64Array,
  wte: Float64Array,
  N: number,
  C: number,
  V: number,
): void {
  for (let n = 0; n < N; n++) {
    for (let v = 0; v < V; v++) {
      const g = dlogits[n * V + v];
      if (g === 0) continue;
      for (let i = 0; i < C; i++) {
        df[n * C + i] += g * wte[v * C + i];
        dwte[v * C + i] += g * f[n * C + i];
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Next-token cross-entropy. Row (b, t) of logits predicts tokens[b, t+1] for
// t < T-1; the last position of each sequence has no target.

/** tokenNll[B*(T-1)] (nats) = logsumexp(logits[b,t,:]) - logits[b,t,tokens[b,t+1]]. */
export function crossEntropyForward(
  tokenNll: Float64Array,
  logits: Float64Array,
  tokens: Uint32Array,
  B: number,
  T: number,
  V: number,
): void {
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T - 1; t++) {
      const row = (b * T + t) * V;
      tokenNll[b * (T - 1) + t] = logSumExp(logits, row, V) - logits[row + tokens[b * T + t + 1]];
    }
  }
}

/**
 * dlogits[N, V] += scale * (softmax(logits[b,t,:]) - onehot(tokens[b,t+1])) for
 * t < T-1 (rows t = T-1 get nothing). scale = 1/(B*(T-1)) for the mean loss.
 */
export function crossEntropyBackward(
  dlogits: Float64Array,
  logits: Float64Array,
  tokens: Uint32Array,
  B: number,
  T: number,
  V: number,
  scale: number,
): void {
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T - 1; t++) {
      const row = (b * T + t) * V;
      const lse = logSumExp(logits, row, V);
      for (let v = 0; v < V; v++) dlogits[row + v] += Math.exp(logits[row + v] - lse) * scale;
      dlogits[row + tokens[b * T + t + 1]] -= scale;
    }
  }
}

function logSumExp(a: Float64Array, start: number, count: number): number {
  let max = -Infinity;
  for (let i = 0; i < count; i++) if (a[start + i] > max) max = a[start + i];
  let sum = 0;
  for (let i = 0; i < count; i++) sum += Math.exp(a[start + i] - max);
  return max + Math.log(sum);
}

// ---------------------------------------------------------------------------
// The whole model.

/** Activations of one transformer block (N = B*T rows). */
export interface LayerActs {
  /** LN1 output, [N, C]. */
  ln1: Float64Array;
  /** LN1 row mean and 1/sqrt(var + eps), [N] each. */
  ln1Mean: Float64Array;
  ln1Rstd: Float64Array;
  /** ln1 · qkv_w + qkv_b, [N, 3C]: q | k | v. */
  qkv: Float64Array;
  /** Attention probabilities, [B, NH, T, T]; zero above the diagonal. */
  att: Float64Array;
  /** Attention output before the projection, heads concatenated, [N, C]. */
  atty: Float64Array;
  /** atty · attproj_w + attproj_b, [N, C]. */
  attproj: Float64Array;
  /** Residual stream after the attention branch, [N, C]. */
  xAfterAttn: Float64Array;
  /** LN2 output, [N, C], and its row mean / rstd, [N]. */
  ln2: Float64Array;
  ln2Mean: Float64Array;
  ln2Rstd: Float64Array;
  /** ln2 · fc_w + fc_b (pre-activation), [N, 4C]. */
  fcPre: Float64Array;
  /** gelu(fcPre), [N, 4C]. */
  gelu: Float64Array;
  /** gelu · fcproj_w + fcproj_b, [N, C]. */
  fcproj: Float64Array;
  /** Residual stream after the MLP branch = the block's output, [N, C]. */
  xOut: Float64Array;
}

/** All activations of one forward pass. */
export interface Acts {
  /** wte[tok] + wpe[t], the residual stream entering block 0, [N, C]. */
  encoded: Float64Array;
  layers: LayerActs[];
  /** Residual stream after the last block, [N, C] (= layers[L-1].xOut). */
  xFinal: Float64Array;
  /** Final LayerNorm output, [N, C], and its row mean / rstd, [N]. */
  lnf: Float64Array;
  lnfMean: Float64Array;
  lnfRstd: Float64Array;
  /** lnf · wteᵀ, [N, V]. */
  logits: Float64Array;
  /** Next-token NLL in nats, [B, T-1]. */
  tokenNll: Float64Array;
}

export interface CpuForwardResult {
  logits: Float64Array; // [B*T*V]
  tokenNll: Float64Array; // nats, [B*(T-1)]
  loss: number; // mean of tokenNll
  acts: Acts;
}

function checkInputs(config: ModelConfig, tokens: Uint32Array, batch: number): void {
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch: bad value ${batch}`);
  if (config.dModel % config.heads !== 0) {
    throw new RangeError(`heads: ${config.heads} does not divide dModel ${config.dModel}`);
  }
  const want = batch * config.seqLen;
  if (tokens.length !== want) {
    throw new RangeError(`tokens: expected ${want} ids (batch*seqLen), got ${tokens.length}`);
  }
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] >= config.vocabSize) {
      throw new RangeError(`tokens[${i}] = ${tokens[i]} is not below vocabSize`);
    }
  }
}

function toFloat64(config: ModelConfig, params: ArrayLike<number>): Float64Array {
  const total = layoutLength(config);
  if (params.length !== total) {
    throw new RangeError(`params: expected ${total} floats, got ${params.length}`);
  }
  return Float64Array.from(params);
}

function forwardPass(
  config: ModelConfig,
  p: ModelParams,
  tokens: Uint32Array,
  B: number,
): Acts {
  const T = config.seqLen, C = config.dModel, V = config.vocabSize, NH = config.heads;
  const N = B * T;
  const encoded = new Float64Array(N * C);
  encoderForward(encoded, tokens, p.wte, p.wpe, B, T, C);
  const layers: LayerActs[] = [];
  let x: Float64Array = encoded;
  for (const lp of p.layers) {
    const a: LayerActs = {
      ln1: new Float64Array(N * C),
      ln1Mean: new Float64Array(N),
      ln1Rstd: new Float64Array(N),
      qkv: new Float64Array(N * 3 * C),
      att: new Float64Array(B * NH * T * T),
      atty: new Float64Array(N * C),
      attproj: new Float64Array(N * C),
      xAfterAttn: new Float64Array(N * C),
      ln2: new Float64Array(N * C),
      ln2Mean: new Float64Array(N),
      ln2Rstd: new Float64Array(N),
      fcPre: new Float64Array(N * 4 * C),
      gelu: new Float64Array(N * 4 * C),
      fcproj: new Float64Array(N * C),
      xOut: new Float64Array(N * C),
    };
    layernormForward(a.ln1, a.ln1Mean, a.ln1Rstd, x, lp.ln1_w, lp.ln1_b, N, C);
    matmulForward(a.qkv, a.ln1, lp.qkv_w, lp.qkv_b, N, C, 3 * C);
    attentionForward(a.atty, a.att, a.qkv, B, T, C, NH);
    matmulForward(a.attproj, a.atty, lp.attproj_w, lp.attproj_b, N, C, C);
    residualForward(a.xAfterAttn, x, a.attproj, N * C);
    layernormForward(a.ln2, a.ln2Mean, a.ln2Rstd, a.xAfterAttn, lp.ln2_w, lp.ln2_b, N, C);
    matmulForward(a.fcPre, a.ln2, lp.fc_w, lp.fc_b, N, C, 4 * C);
    geluForward(a.gelu, a.fcPre, N * 4 * C);
    matmulForward(a.fcproj, a.gelu, lp.fcproj_w, lp.fcproj_b, N, 4 * C, C);
    residualForward(a.xOut, a.xAfterAttn, a.fcproj, N * C);
    layers.push(a);
    x = a.xOut;
  }
  const lnf = new Float64Array(N * C);
  const lnfMean = new Float64Array(N);
  const lnfRstd = new Float64Array(N);
  layernormForward(lnf, lnfMean, lnfRstd, x, p.lnf_w, p.lnf_b, N, C);
  const logits = new Float64Array(N * V);
  logitsForward(logits, lnf, p.wte, N, C, V);
  const tokenNll = new Float64Array(B * (T - 1));
  crossEntropyForward(tokenNll, logits, tokens, B, T, V);
  return { encoded, layers, xFinal: x, lnf, lnfMean, lnfRstd, logits, tokenNll };
}

function mean(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
}

/**
 * Forward pass in float64. tokens: [B, T] row-major with T = config.seqLen;
 * params in the logical layout (Float32Array or Float64Array).
 */
export function cpuForward(
  config: ModelConfig,
  params: ArrayLike<number>,
  tokens: Uint32Array,
  batch: number,
): CpuForwardResult {
  checkInputs(config, tokens, batch);
  const p = paramViews(config, toFloat64(config, params));
  const acts = forwardPass(config, p, tokens, batch);
  return { logits: acts.logits, tokenNll: acts.tokenNll, loss: mean(acts.tokenNll), acts };
}

/**
 * Mean next-token loss (nats) and its gradient with respect to every
 * parameter, in the same flat layout as params.
 */
export function cpuLossAndGrad(
  config: ModelConfig,
  params: ArrayLike<number>,
  tokens: Uint32Array,
  batch: number,
): { loss: number; grad: Float64Array } {
  checkInputs(config, tokens, batch);
  const flat = toFloat64(config, params);
  const p = paramViews(config, flat);
  const acts = forwardPass(config, p, tokens, batch);
  const grad = new Float64Array(flat.length);
  const g = paramViews(config, grad);

  const B = batch, T = config.seqLen, C = config.dModel, V = config.vocabSize;
  const NH = config.heads, N = B * T;

  const dlogits = new Float64Array(N * V);
  crossEntropyBackward(dlogits, acts.logits, tokens, B, T, V, 1 / (B * (T - 1)));
  const dlnf = new Float64Array(N * C);
  logitsBackward(dlnf, g.wte, dlogits, acts.lnf, p.wte, N, C, V);
  // dx: gradient of the residual stream, walked back block by block.
  const dx = new Float64Array(N * C);
  layernormBackward(
    dx,
    g.lnf_w,
    g.lnf_b,
    dlnf,
    acts.xFinal,
    p.lnf_w,
    acts.lnfMean,
    acts.lnfRstd,
    N,
    C,
  );
  for (let l = config.layers - 1; l >= 0; l--) {
    const a = acts.layers[l], lp = p.layers[l], lg = g.layers[l];
    const xIn = l === 0 ? acts.encoded : acts.layers[l - 1].xOut;
    // xOut = xAfterAttn + fcproj(gelu(fc(LN2(xAfterAttn)))): dx feeds both terms.
    const dgelu = new Float64Array(N * 4 * C);
    matmulBackward(dgelu, lg.fcproj_w, lg.fcproj_b, dx, a.gelu, lp.fcproj_w, N, 4 * C, C);
    const dfcPre = new Float64Array(N * 4 * C);
    geluBackward(dfcPre, a.fcPre, dgelu, N * 4 * C);
    const dln2 = new Float64Array(N * C);
    matmulBackward(dln2, lg.fc_w, lg.fc_b, dfcPre, a.ln2, lp.fc_w, N, C, 4 * C);
    layernormBackward(
      dx,
      lg.ln2_w,
      lg.ln2_b,
      dln2,
      a.xAfterAttn,
      lp.ln2_w,
      a.ln2Mean,
      a.ln2Rstd,
      N,
      C,
    );
    // now dx = d loss / d xAfterAttn; xAfterAttn = xIn + attproj(attention(qkv(LN1(xIn)))).
    const datty = new Float64Array(N * C);
    matmulBackward(datty, lg.attproj_w, lg.attproj_b, dx, a.atty, lp.attproj_w, N, C, C);
    const dqkv = new Float64Array(N * 3 * C);
    attentionBackward(dqkv, datty, a.qkv, a.att, B, T, C, NH);
    const dln1 = new Float64Array(N * C);
    matmulBackward(dln1, lg.qkv_w, lg.qkv_b, dqkv, a.ln1, lp.qkv_w, N, C, 3 * C);
    layernormBackward(dx, lg.ln1_w, lg.ln1_b, dln1, xIn, lp.ln1_w, a.ln1Mean, a.ln1Rstd, N, C);
    // now dx = d loss / d xIn
  }
  encoderBackward(g.wte, g.wpe, dx, tokens, B, T, C);
  return { loss: mean(acts.tokenNll), grad };
}
