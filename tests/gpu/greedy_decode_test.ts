// Greedy decoding on the GPU against the float64 CPU reference (lib/model/gpt_reference.ts):
// the reference decodes one sequence at a time, feeding back the argmax of its own logits;
// the GPU must produce the same tokens, over several batches, for several prefix lengths.
import assert from "node:assert/strict";
import { getGpu } from "../../gpu/device.ts";
import { GpuEngine } from "../../gpu/engine.ts";
import { GptFleet } from "../../gpu/fleet/gpt_fleet.ts";
import { greedyDecode } from "../../gpu/greedy_decode.ts";
import type { ModelConfig } from "../../lib/model/schemas.ts";
import { tensorLayout } from "../../lib/model/layout.ts";
import { Rng } from "../../lib/prng.ts";
import { cpuForward } from "../../lib/model/gpt_reference.ts";
import { noisyParams, randomTokens } from "./helpers.ts";

/** The reference decode of one sequence, and the smallest top-1/top-2 logit gap it met. */
function cpuGreedy(c: ModelConfig, params: Float32Array, seq: Uint32Array, p: number) {
  const S = c.seqLen, V = c.vocabSize;
  const out = new Uint32Array(S);
  out.set(seq.subarray(0, p));
  let minGap = Infinity;
  for (let t = p; t < S; t++) {
    const logits = cpuForward(c, params, out, 1).logits; // positions ≥ t hold 0s
    const row = logits.subarray((t - 1) * V, t * V);
    let best = 0;
    for (let v = 1; v < V; v++) if (row[v] > row[best]) best = v;
    let second = -Infinity;
    for (let v = 0; v < V; v++) if (v !== best) second = Math.max(second, row[v]);
    minGap = Math.min(minGap, row[best] - second);
    out[t] = best;
  }
  return { out, minGap };
}

const shapes: { name: string; config: ModelConfig }[] = [
  { name: "vec4 shapes", config: { vocabSize: 24, seqLen: 8, layers: 2, dModel: 16, heads: 4 } },
  { name: "odd shapes", config: { vocabSize: 7, seqLen: 5, layers: 1, dModel: 6, heads: 3 } },
];

for (const { name, config: c } of shapes) {
  Deno.test(`greedy decoding matches the CPU reference's argmax: ${name}`, async () => {
    const S = c.seqLen, N = 5, B = 2; // 3 batches, the last one short
    const fleet = await GptFleet.create(await getGpu(), {
      config: c,
      fleetSize: 1,
      batchSize: B,
      precision: "fp32",
      optimizer: "adamw",
      training: false,
    });
    try {
      const params = noisyParams(c, 11);
      fleet.setParameters(0, params);
      const tokens = randomTokens(new Rng(5), N * S, c.vocabSize);
      const prefixLengths = [1, Math.floor(S / 2), S - 1];
      const got = await greedyDecode(fleet, tokens, prefixLengths);
      assert.equal(got.length, prefixLengths.length);
      prefixLengths.forEach((p, k) => {
        assert.equal(got[k].length, N * S);
        for (let i = 0; i < N; i++) {
          const seq = tokens.subarray(i * S, (i + 1) * S);
          const ref = cpuGreedy(c, params, seq, p);
          // The premise: no near-tie a float32 rounding could flip.
          assert.ok(ref.minGap > 1e-3, `prefix ${p}, sequence ${i}: gap ${ref.minGap}`);
          assert.deepEqual(
            Array.from(got[k].subarray(i * S, (i + 1) * S)),
            Array.from(ref.out),
            `prefix ${p}, sequence ${i}`,
          );
        }
      });
      // Only the prefix is read: another true suffix decodes to the same tokens.
      const otherSuffix = tokens.slice();
      for (let i = 0; i < N; i++) {
        otherSuffix[i * S + S - 1] = (tokens[i * S + S - 1] + 1) % c.vocabSize;
      }
      const again = await greedyDecode(fleet, otherSuffix, [S - 1]);
      assert.deepEqual(Array.from(again[0]), Array.from(got[2]));
    } finally {
      fleet.destroy();
    }
  });
}

Deno.test("greedy decoding through the engine: equal logits go to token 0", async () => {
  const c: ModelConfig = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 2 };
  // A zero token embedding makes every logit exactly 0 (the head is tied to it): all tie.
  const params = noisyParams(c, 3);
  const wte = tensorLayout(c).find((t) => t.role === "wte")!;
  params.fill(0, wte.offset, wte.offset + wte.size);
  const tokens = new Uint32Array([5, 9, 3, 1, 2, 3, 4, 5]);
  const r = await new GpuEngine(getGpu).greedyDecode({
    config: c,
    precision: "fp32",
    params,
    tokens,
    prefixLengths: [3],
  });
  assert.deepEqual(Array.from(r.sequences[0]), [5, 9, 3, 0, 0, 0, 0, 0]);
  await assert.rejects(
    new GpuEngine(getGpu).greedyDecode({
      config: c,
      precision: "fp32",
      params,
      tokens,
      prefixLengths: [8],
    }),
    /prefixLengths\[0\]: 8 is outside 1\.\.7/,
  );
});
