// The optimizer kernel against a float64 CPU AdamW / SGD, element by element:
// per-model learning rates and weight decay in one fleet, decay on matrices
// and embeddings only, bias corrections by step, bf16 (the f32 master weights
// updated, the model's weights their bf16 rounding) and bf16-pure (the only
// copy rounded) precision, and tensors
// whose sizes are not multiples of 4 (d = 6), whose last vec4 reaches into
// the padding between slices. Each step is checked from the GPU's own state
// before it (parameters, moments, gradients read back), so one rounding
// difference cannot carry over into the next step's comparison.
import assert from "node:assert/strict";
import { getGpu } from "../../gpu/device.ts";
import { GptFleet, type StepHyper } from "../../gpu/fleet/gpt_fleet.ts";
import type { ModelConfig, Precision } from "../../lib/model/schemas.ts";
import { tensorLayout } from "../../lib/model/layout.ts";
import { bf16Round } from "../../lib/bf16.ts";
import { Rng } from "../../lib/prng.ts";
import { noisyParams, randomTokens } from "./helpers.ts";

const config: ModelConfig = { vocabSize: 7, seqLen: 5, layers: 1, dModel: 6, heads: 3 };
// B = 3: at B = 2 (B·(S-1) = 8 rows, V = 7) Mesa 22.3.6's llvmpipe crashes compiling the
// scalar cross-entropy kernel (a segmentation fault, at HEAD before bf16-pure too).
const B = 3;

/** GPT-2's convention: weight decay on matrices and embeddings, not on biases or LayerNorm. */
function decayMask(c: ModelConfig): boolean[] {
  const mask: boolean[] = [];
  for (const t of tensorLayout(c)) {
    const decayed = t.shape.length === 2; // wte, wpe and the four layer matrices
    for (let i = 0; i < t.size; i++) mask.push(decayed);
  }
  return mask;
}

interface State {
  p: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

/** One update in float64 from float32 inputs (PyTorch's AdamW; SGD without momentum). */
function cpuStep(
  kind: "adamw" | "sgd",
  s: State,
  g: Float32Array,
  h: StepHyper,
  step: number,
  decay: boolean[],
): State {
  const p = new Float32Array(s.p.length), m = new Float32Array(s.m.length);
  const v = new Float32Array(s.v.length);
  // The kernel reads its hyper-parameters as f32, and the bias corrections
  // 1 - beta^step as the host computes them (float64, then f32).
  const f = Math.fround, lr = f(h.lr), b1 = f(h.beta1), b2 = f(h.beta2), eps = f(h.eps);
  const bc1 = f(1 - h.beta1 ** step), bc2 = f(1 - h.beta2 ** step);
  for (let i = 0; i < p.length; i++) {
    const wd = decay[i] ? f(h.weightDecay) : 0;
    if (kind === "sgd") {
      p[i] = s.p[i] - lr * (g[i] + wd * s.p[i]);
      continue;
    }
    const a = b1 * s.m[i] + (1 - b1) * g[i];
    const b = b2 * s.v[i] + (1 - b2) * g[i] * g[i];
    p[i] = s.p[i] * (1 - lr * wd) - lr * (a / bc1) / (Math.sqrt(b / bc2) + eps);
    m[i] = a;
    v[i] = b;
  }
  return { p, m, v };
}

const cases: { optimizer: "adamw" | "sgd"; precision: Precision }[] = [
  { optimizer: "adamw", precision: "fp32" },
  { optimizer: "adamw", precision: "bf16" },
  { optimizer: "adamw", precision: "bf16-pure" },
  { optimizer: "sgd", precision: "fp32" },
];

for (const { optimizer, precision } of cases) {
  Deno.test(`the ${optimizer} kernel (${precision}) matches a CPU update, element by element`, async () => {
    const gpu = await getGpu();
    const K = 2;
    const fleet = await GptFleet.create(gpu, {
      config,
      fleetSize: K,
      batchSize: B,
      precision,
      optimizer,
      training: true,
    });
    try {
      // Two models with their own learning rate, decay and betas.
      const hyper: StepHyper[] = [
        { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-6, weightDecay: 0.1 },
        { lr: 0.003, beta1: 0.8, beta2: 0.999, eps: 1e-8, weightDecay: 0.5 },
      ];
      for (let z = 0; z < K; z++) fleet.setParameters(z, noisyParams(config, 30 + z));
      const decay = decayMask(config);
      const tokens = randomTokens(new Rng(3), K * B * config.seqLen, config.vocabSize);
      for (let step = 1; step <= 3; step++) {
        const before: State[] = [], grads: Float32Array[] = [];
        for (let z = 0; z < K; z++) {
          const { m, v } = await fleet.getOptimizerState(z);
          // The copy the optimizer updates: a bf16 model's master weights.
          before.push({ p: await fleet.getMasterParameters(z), m, v });
        }
        fleet.computeGradients(tokens); // the step below computes the same ones
        for (let z = 0; z < K; z++) grads.push(await fleet.getGradients(z));
        fleet.trainStep(tokens, hyper);
        for (let z = 0; z < K; z++) {
          const want = cpuStep(optimizer, before[z], grads[z], hyper[z], step, decay);
          const got = await fleet.getMasterParameters(z);
          const weights = await fleet.getParameters(z);
          const lr = hyper[z].lr;
          let moved = 0;
          for (let i = 0; i < got.length; i++) {
            const at = `model ${z}, step ${step}, parameter ${i}`;
            if (precision === "bf16-pure") {
              // The f32 results may differ in their last bits, which can tip
              // the rounding to the neighbouring bf16 value: one bf16 step.
              const w = bf16Round(want.p[i]);
              assert.equal(got[i], bf16Round(got[i]), `${at}: ${got[i]} is not a bf16 value`);
              const ulp = 2 ** (Math.floor(Math.log2(Math.abs(w) || 1e-30)) - 7);
              assert.ok(Math.abs(got[i] - w) <= ulp, `${at}: ${got[i]} vs ${w}`);
            } else {
              // Relative to the terms: the decayed weight and the step (at
              // most a few lr: |m̂| / √v̂ stays small for these betas).
              const tol = 1e-6 * (Math.abs(before[z].p[i]) + 10 * lr);
              assert.ok(Math.abs(got[i] - want.p[i]) <= tol, `${at}: ${got[i]} vs ${want.p[i]}`);
            }
            // bf16: the model's weights are the master's rounding, exactly; else the same copy.
            const model = precision === "bf16" ? bf16Round(got[i]) : got[i];
            assert.equal(weights[i], model, `${at}: weight ${weights[i]} vs ${model}`);
            if (got[i] !== before[z].p[i]) moved++;
          }
          assert.ok(moved > got.length / 2, `model ${z}, step ${step}: only ${moved} moved`);
          if (optimizer !== "adamw") continue;
          const { m, v } = await fleet.getOptimizerState(z);
          const { beta1: b1, beta2: b2 } = hyper[z];
          for (let i = 0; i < m.length; i++) {
            const at = `model ${z}, step ${step}, moment ${i}`;
            // Relative to the terms summed: b1·m and (1-b1)·g may cancel.
            const mScale = b1 * Math.abs(before[z].m[i]) + (1 - b1) * Math.abs(grads[z][i]);
            const vScale = b2 * before[z].v[i] + (1 - b2) * grads[z][i] ** 2;
            assert.ok(
              Math.abs(m[i] - want.m[i]) <= 1e-6 * mScale,
              `${at}: ${m[i]} vs ${want.m[i]}`,
            );
            assert.ok(
              Math.abs(v[i] - want.v[i]) <= 1e-6 * vScale,
              `${at}: ${v[i]} vs ${want.v[i]}`,
            );
          }
        }
      }
    } finally {
      fleet.destroy();
    }
  });
}
