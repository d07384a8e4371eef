// Parity with PyTorch: a memcap safetensors export, loaded by the independent
// PyTorch GPT-2 in bench/pytorch_gpt.py, gives the same next-token NLL as the
// float64 CPU reference. Runs only where Debian's torch imports under
// /usr/bin/python3 and the test may spawn it (--allow-run); ignored otherwise.
import assert from "node:assert/strict";
import { exportWeights } from "../../lib/model/weights.ts";
import { parameterCount } from "../../lib/model/config.ts";
import type { ModelConfig, Precision } from "../../lib/model/schemas.ts";
import { tensorLayout } from "../../lib/model/layout.ts";
import { roundToBf16 } from "../../lib/bf16.ts";
import { Rng } from "../../lib/prng.ts";
import { cpuForward } from "../../lib/model/gpt_reference.ts";
import { learningRate } from "../../lib/training/schedule.ts";

const PYTHON = "/usr/bin/python3";
const SCRIPT = new URL("../../bench/pytorch_gpt.py", import.meta.url).pathname;

/** null when torch can be used, else why not. */
function torchUnavailable(): string | null {
  if (Deno.permissions.querySync({ name: "run", command: PYTHON }).state !== "granted") {
    return `needs --allow-run to start ${PYTHON}`;
  }
  try {
    const out = new Deno.Command(PYTHON, {
      args: ["-c", "import torch, numpy"],
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    if (!out.success) {
      const err = new TextDecoder().decode(out.stderr).trim().split("\n").pop();
      return `${PYTHON} cannot import torch (${err})`;
    }
  } catch (e) {
    return `${PYTHON} cannot run (${(e as Error).message})`;
  }
  return null;
}

const unavailable = torchUnavailable();

function randomModel(c: ModelConfig, seed: number): Float32Array {
  // Larger than GPT-2's init so every layer changes the output noticeably.
  const rng = new Rng(seed);
  const p = new Float32Array(parameterCount(c));
  for (const t of tensorLayout(c)) {
    const isLnWeight = t.role === "ln1_w" || t.role === "ln2_w" || t.role === "lnf_w";
    for (let i = t.offset; i < t.offset + t.size; i++) {
      p[i] = isLnWeight ? 1 + 0.2 * rng.normal() : 0.3 * rng.normal();
    }
  }
  return p;
}

interface TorchNll {
  nll_bits: number[];
  token_nll_nats: number[][];
}

async function torchNll(weights: Uint8Array, sequences: number[][]): Promise<TorchNll> {
  const child = new Deno.Command(PYTHON, {
    args: [
      SCRIPT,
      "--mode",
      "load-safetensors",
      "--file",
      "-",
      "--dtype",
      "float64",
      "--threads",
      "1",
      "--tokens-json",
      JSON.stringify(sequences),
    ],
    env: { OPENBLAS_NUM_THREADS: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(weights);
  await writer.close();
  const out = await child.output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `pytorch_gpt.py failed:\n${stderr}`);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

const cases: { config: ModelConfig; precision: Precision; batch: number }[] = [
  {
    config: { vocabSize: 37, seqLen: 9, layers: 2, dModel: 16, heads: 4 },
    precision: "fp32",
    batch: 3,
  },
  {
    config: { vocabSize: 50, seqLen: 6, layers: 1, dModel: 12, heads: 3 },
    precision: "bf16",
    batch: 2,
  },
  {
    config: { vocabSize: 50, seqLen: 6, layers: 1, dModel: 12, heads: 3 },
    precision: "bf16-pure",
    batch: 2,
  },
];

for (const { config, precision, batch } of cases) {
  Deno.test({
    name: `pytorch parity: ${precision} L=${config.layers} d=${config.dModel}` +
      (unavailable ? ` (ignored: ${unavailable})` : ""),
    ignore: unavailable !== null,
    fn: async () => {
      const params = randomModel(config, 11 + config.layers);
      const weights = exportWeights(config, params, precision);
      const used = params.slice();
      if (precision !== "fp32") roundToBf16(used); // both bf16 modes export bf16 values

      const rng = new Rng(99);
      const T = config.seqLen;
      const tokens = new Uint32Array(batch * T);
      for (let i = 0; i < tokens.length; i++) tokens[i] = rng.int(config.vocabSize);
      const sequences = Array.from(
        { length: batch },
        (_, b) => [...tokens.subarray(b * T, (b + 1) * T)],
      );

      const ours = cpuForward(config, used, tokens, batch);
      const theirs = await torchNll(weights, sequences);

      assert.equal(theirs.token_nll_nats.length, batch);
      let maxDiff = 0;
      for (let b = 0; b < batch; b++) {
        assert.equal(theirs.token_nll_nats[b].length, T - 1);
        let bits = 0;
        for (let t = 0; t < T - 1; t++) {
          const mine = ours.tokenNll[b * (T - 1) + t];
          maxDiff = Math.max(maxDiff, Math.abs(mine - theirs.token_nll_nats[b][t]));
          bits += mine / Math.LN2;
        }
        assert.ok(
          Math.abs(bits - theirs.nll_bits[b]) < 1e-8 * Math.max(1, bits),
          `sequence ${b}: cpu ${bits} bits, torch ${theirs.nll_bits[b]} bits`,
        );
      }
      assert.ok(maxDiff < 1e-9, `largest per-token NLL difference ${maxDiff} nats`);
      // The model is far from uniform, so agreement is not trivial.
      assert.ok(Math.abs(ours.loss - Math.log(config.vocabSize)) > 0.1, `loss ${ours.loss}`);
    },
  });
}

/** Runs python code with bench/ on its path (pytorch_gpt.py importable); returns the last line. */
async function python(code: string, args: string[] = []): Promise<string> {
  const out = await new Deno.Command(PYTHON, {
    args: [...(code ? ["-c", code] : []), ...args],
    env: {
      OPENBLAS_NUM_THREADS: "1",
      PYTHONPATH: new URL("../../bench", import.meta.url).pathname,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr).slice(-2000));
  return new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!;
}

Deno.test({
  name: "pytorch parity: --mode capacity's restart schedule is memcap's" +
    (unavailable ? ` (ignored: ${unavailable})` : ""),
  ignore: unavailable !== null,
  fn: async () => {
    const s = {
      kind: "cosine-restarts" as const,
      warmupSteps: 100,
      minLrFraction: 0,
      firstCycleSteps: 625,
      restartWarmupFraction: 0.1,
    };
    const steps = 5000;
    const theirs: number[] = JSON.parse(
      await python(
        "import json, pytorch_gpt as p; print(json.dumps([p.restarts_lr(s, 0.01, 100, 625, 0.1) " +
          `for s in range(1, ${steps + 1})]))`,
      ),
    );
    assert.equal(theirs.length, steps);
    theirs.forEach((lr, i) => {
      const ours = learningRate(s, 0.01, i + 1, steps);
      assert.ok(Math.abs(lr - ours) < 1e-12, `step ${i + 1}: pytorch ${lr}, memcap ${ours}`);
    });
  },
});

Deno.test({
  name: "pytorch parity: --mode capacity memorizes a tiny dataset whole, and not unseen data" +
    (unavailable ? ` (ignored: ${unavailable})` : ""),
  ignore: unavailable !== null,
  fn: async () => {
    const out = JSON.parse(
      await python("", [
        SCRIPT,
        ...["--mode=capacity", "--vocab=8", "--seq=4", "--layers=1", "--d=16", "--heads=2"],
        ...["--batch=4", "--steps=1250", "--sizes=4", "--lr=0.01", "--threads=1"],
      ]),
    );
    const [run] = out.runs;
    // 4 sequences · 3 predicted tokens · log2 8 bits; cycle ends 625 and 1250.
    assert.equal(run.dataset_bits, 36);
    assert.deepEqual(run.curve.map((p: number[]) => p[0]), [625, 1250]);
    assert.ok(run.best_bits > 0.9 * 36 && run.best_bits <= 36, `best ${run.best_bits}`);
    assert.ok(run.unseen_bits < 0.1 * run.best_bits, `unseen ${run.unseen_bits}`);
  },
});
