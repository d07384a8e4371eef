// Tests of the float64 CPU reference model: its gradients against central
// finite differences, its forward pass against a second, deliberately naive
// implementation written from the model's definition, and sanity checks.
import assert from "node:assert/strict";
import { parameterCount } from "../../lib/model/config.ts";
import type { ModelConfig } from "../../lib/model/schemas.ts";
import { tensorLayout } from "../../lib/model/layout.ts";
import { initialParameters } from "../../lib/model/init.ts";
import { Rng } from "../../lib/prng.ts";
import { cpuForward, cpuLossAndGrad, layoutLength } from "../../lib/model/gpt_reference.ts";

const TINY: ModelConfig = { vocabSize: 7, seqLen: 5, layers: 2, dModel: 8, heads: 2 };

function randomTokens(config: ModelConfig, batch: number, seed: number): Uint32Array {
  const rng = new Rng(seed);
  const tokens = new Uint32Array(batch * config.seqLen);
  for (let i = 0; i < tokens.length; i++) tokens[i] = rng.int(config.vocabSize);
  return tokens;
}

/** GPT-2 init plus N(0, std) noise on every entry, so that no gradient is tiny. */
function noisyParams(config: ModelConfig, seed: number, std: number): Float64Array {
  const params = Float64Array.from(initialParameters(config, seed));
  const rng = new Rng(seed + 1);
  for (let i = 0; i < params.length; i++) params[i] += rng.normal() * std;
  return params;
}

Deno.test("parameterCount equals the length of the tensor layout", () => {
  const configs: ModelConfig[] = [
    TINY,
    { vocabSize: 2048, seqLen: 64, layers: 1, dModel: 32, heads: 4 },
    { vocabSize: 50, seqLen: 3, layers: 3, dModel: 12, heads: 3 },
  ];
  for (const c of configs) {
    assert.equal(layoutLength(c), parameterCount(c));
    assert.equal(initialParameters(c, 1).length, parameterCount(c));
  }
  assert.equal(parameterCount(configs[1]), 80_352); // the paper's Table 1
});

Deno.test("gradient of every tensor matches central finite differences", () => {
  const B = 2;
  const params = noisyParams(TINY, 11, 0.3);
  const tokens = randomTokens(TINY, B, 12);
  const { loss, grad } = cpuLossAndGrad(TINY, params, tokens, B);
  assert.ok(Math.abs(loss - cpuForward(TINY, params, tokens, B).loss) < 1e-14);

  const eps = 1e-5;
  const rng = new Rng(13);
  const lossAt = (i: number, value: number): number => {
    const saved = params[i];
    params[i] = value;
    const l = cpuForward(TINY, params, tokens, B).loss;
    params[i] = saved;
    return l;
  };
  for (const t of tensorLayout(TINY)) {
    // whole tensor: every entry by finite differences
    const fd = new Float64Array(t.size);
    for (let j = 0; j < t.size; j++) {
      const i = t.offset + j;
      fd[j] = (lossAt(i, params[i] + eps) - lossAt(i, params[i] - eps)) / (2 * eps);
    }
    const g = grad.subarray(t.offset, t.offset + t.size);
    let diff2 = 0, norm2 = 0;
    for (let j = 0; j < t.size; j++) {
      diff2 += (g[j] - fd[j]) ** 2;
      norm2 += g[j] ** 2;
    }
    assert.ok(norm2 > 1e-8, `${t.name}: gradient unexpectedly ~0 (|g|^2 = ${norm2})`);
    const rel = Math.sqrt(diff2 / norm2);
    assert.ok(rel < 1e-7, `${t.name}: whole-tensor relative error ${rel}`);
    // pointwise: a few random entries, relative tolerance with a tiny floor
    for (let k = 0; k < Math.min(6, t.size); k++) {
      const j = rng.int(t.size);
      const err = Math.abs(g[j] - fd[j]);
      const tol = 1e-6 * Math.max(Math.abs(g[j]), Math.abs(fd[j])) + 1e-10;
      assert.ok(err <= tol, `${t.name}[${j}]: analytic ${g[j]} vs numeric ${fd[j]}`);
    }
  }
});

Deno.test("untrained loss is close to ln(V); tokenNll agrees with loss and logits", () => {
  const config: ModelConfig = { vocabSize: 64, seqLen: 16, layers: 2, dModel: 32, heads: 4 };
  const B = 3, T = config.seqLen, V = config.vocabSize;
  const params = initialParameters(config, 5);
  const tokens = randomTokens(config, B, 6);
  const out = cpuForward(config, params, tokens, B);
  assert.equal(out.logits.length, B * T * V);
  assert.equal(out.tokenNll.length, B * (T - 1));
  assert.ok(Math.abs(out.loss - Math.log(V)) < 0.05, `loss ${out.loss} vs ln V ${Math.log(V)}`);

  let sum = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T - 1; t++) {
      const row = (b * T + t) * V;
      let z = 0;
      for (let v = 0; v < V; v++) z += Math.exp(out.logits[row + v]);
      const want = Math.log(z) - out.logits[row + tokens[b * T + t + 1]];
      const got = out.tokenNll[b * (T - 1) + t];
      assert.ok(Math.abs(got - want) < 1e-12, `nll[${b},${t}] ${got} vs ${want}`);
      sum += got;
    }
  }
  assert.ok(Math.abs(sum / (B * (T - 1)) - out.loss) < 1e-12);
  assert.ok(Math.abs(cpuLossAndGrad(config, params, tokens, B).loss - out.loss) < 1e-12);
  // Float32Array and Float64Array params holding the same values agree exactly.
  assert.equal(cpuForward(config, Float64Array.from(params), tokens, B).loss, out.loss);
});

// ---------------------------------------------------------------------------
// A second forward pass, one position and one head at a time over number[]
// vectors, written straight from the model definition.

function naiveLogits(c: ModelConfig, params: Float64Array, tokens: Uint32Array, B: number) {
  const d = c.dModel, T = c.seqLen, V = c.vocabSize, hs = d / c.heads;
  const tensor = (role: string, layer = -1) => {
    const t = tensorLayout(c).find((s) => s.role === role && s.layer === layer)!;
    return Array.from(params.subarray(t.offset, t.offset + t.size));
  };
  const wte = tensor("wte"), wpe = tensor("wpe");
  const row = (m: number[], r: number, n: number) => m.slice(r * n, (r + 1) * n);
  const linear = (x: number[], w: number[], b: number[]) =>
    b.map((bj, j) => bj + x.reduce((s, xi, i) => s + xi * w[i * b.length + j], 0));
  const layerNorm = (x: number[], w: number[], b: number[]) => {
    const mu = x.reduce((s, v) => s + v, 0) / x.length;
    const vr = x.reduce((s, v) => s + (v - mu) ** 2, 0) / x.length;
    return x.map((v, i) => ((v - mu) / Math.sqrt(vr + 1e-5)) * w[i] + b[i]);
  };
  const gelu = (u: number) =>
    0.5 * u * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (u + 0.044715 * u ** 3)));
  const logits: number[][] = [];
  for (let b = 0; b < B; b++) {
    let xs = [...Array(T).keys()].map((t) => {
      const e = row(wte, tokens[b * T + t], d), p = row(wpe, t, d);
      return e.map((v, i) => v + p[i]);
    });
    for (let l = 0; l < c.layers; l++) {
      const qkv = xs.map((x) =>
        linear(
          layerNorm(x, tensor("ln1_w", l), tensor("ln1_b", l)),
          tensor("qkv_w", l),
          tensor("qkv_b", l),
        )
      );
      const ys = xs.map((_, t) => {
        const y: number[] = [];
        for (let h = 0; h < c.heads; h++) {
          const q = qkv[t].slice(h * hs, (h + 1) * hs);
          const scores = qkv.slice(0, t + 1).map((r) =>
            r.slice(d + h * hs, d + (h + 1) * hs).reduce((s, k, i) => s + k * q[i], 0) /
            Math.sqrt(hs)
          );
          const z = scores.reduce((s, v) => s + Math.exp(v), 0);
          for (let i = 0; i < hs; i++) {
            y.push(
              scores.reduce((s, v, t2) => s + (Math.exp(v) / z) * qkv[t2][2 * d + h * hs + i], 0),
            );
          }
        }
        return y;
      });
      xs = xs.map((x, t) => {
        const a = linear(ys[t], tensor("attproj_w", l), tensor("attproj_b", l));
        const x2 = x.map((v, i) => v + a[i]);
        const m = layerNorm(x2, tensor("ln2_w", l), tensor("ln2_b", l));
        const h = linear(m, tensor("fc_w", l), tensor("fc_b", l)).map(gelu);
        const f = linear(h, tensor("fcproj_w", l), tensor("fcproj_b", l));
        return x2.map((v, i) => v + f[i]);
      });
    }
    for (const x of xs) {
      const f = layerNorm(x, tensor("lnf_w"), tensor("lnf_b"));
      logits.push(
        [...Array(V).keys()].map((v) => f.reduce((s, fi, i) => s + fi * wte[v * d + i], 0)),
      );
    }
  }
  return logits.flat();
}

Deno.test("forward matches a naive per-position implementation of the definition", () => {
  const B = 2;
  const params = noisyParams(TINY, 21, 0.3);
  const tokens = randomTokens(TINY, B, 22);
  const got = cpuForward(TINY, params, tokens, B).logits;
  const want = naiveLogits(TINY, params, tokens, B);
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(got[i] - want[i]) < 1e-12, `logits[${i}] ${got[i]} vs ${want[i]}`);
  }
});

Deno.test("attention is causal and activations have the documented shapes", () => {
  const B = 2, T = TINY.seqLen, V = TINY.vocabSize, d = TINY.dModel, H = TINY.heads;
  const params = noisyParams(TINY, 31, 0.3);
  const tokens = randomTokens(TINY, B, 32);
  const base = cpuForward(TINY, params, tokens, B);
  const changed = tokens.slice();
  for (let b = 0; b < B; b++) changed[b * T + T - 1] = (tokens[b * T + T - 1] + 1) % V;
  const other = cpuForward(TINY, params, changed, B);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let v = 0; v < V; v++) {
        const i = (b * T + t) * V + v;
        if (t < T - 1) assert.equal(other.logits[i], base.logits[i]);
      }
    }
    const last = (b * T + T - 1) * V;
    assert.notEqual(other.logits[last], base.logits[last]);
  }

  const { acts } = base;
  assert.equal(acts.layers.length, TINY.layers);
  const a = acts.layers[0];
  assert.equal(a.qkv.length, B * T * 3 * d);
  assert.equal(a.att.length, B * H * T * T);
  assert.equal(a.fcPre.length, B * T * 4 * d);
  assert.equal(acts.xFinal, acts.layers[TINY.layers - 1].xOut);
  for (let r = 0; r < B * H * T; r++) {
    const t = r % T;
    let s = 0;
    for (let t2 = 0; t2 < T; t2++) {
      const p = a.att[r * T + t2];
      if (t2 > t) assert.equal(p, 0);
      s += p;
    }
    assert.ok(Math.abs(s - 1) < 1e-12);
  }
});

Deno.test("a few gradient steps lower the loss; bad inputs are refused", () => {
  const B = 2;
  const params = noisyParams(TINY, 41, 0.1);
  const tokens = randomTokens(TINY, B, 42);
  const first = cpuLossAndGrad(TINY, params, tokens, B).loss;
  let loss = first;
  for (let step = 0; step < 20; step++) {
    const r = cpuLossAndGrad(TINY, params, tokens, B);
    loss = r.loss;
    for (let i = 0; i < params.length; i++) params[i] -= 0.5 * r.grad[i];
  }
  assert.ok(loss < first - 0.3, `loss ${first} -> ${loss}`);

  assert.throws(() => cpuForward(TINY, params, tokens.subarray(1), B), RangeError);
  assert.throws(() => cpuForward(TINY, params.subarray(1), tokens, B), RangeError);
  const bad = tokens.slice();
  bad[3] = TINY.vocabSize;
  assert.throws(() => cpuLossAndGrad(TINY, params, bad, B), RangeError);
});
