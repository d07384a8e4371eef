// The GPU model against the float64 CPU reference (lib/model/gpt_reference.ts):
// forward logits, every parameter gradient, per-token NLL, for a fleet whose
// models differ (seed, data), on shapes that exercise the scalar and vec4
// paths, rows cached in registers or reread, and the attention row blocking
// (8 rows per lane from T = 32, lanes past the last (sequence, head) pair),
// and batches long enough that the GPU kernels split the weight gradients'
// reduction over rows (split_sum.ts), with both kernel families: the software
// one this adapter picks and the one GPUs get, and the software family with
// its fused row kernels (the training head, head_codegen.ts, and the
// block's attention input and MLP, block_codegen.ts) and row-split weight
// gradients (weight_grad_codegen.ts) turned off where they serve.
import assert from "node:assert/strict";
import { getGpu } from "../../gpu/device.ts";
import { GptFleet } from "../../gpu/fleet/gpt_fleet.ts";
import { headFusable } from "../../gpu/software/head_codegen.ts";
import { blockFusable } from "../../gpu/software/block_codegen.ts";
import { MAX_JOINT_ATTENTION_T } from "../../gpu/attention_codegen.ts";
import { weightGradChunks, weightGradFits } from "../../gpu/software/weight_grad_codegen.ts";
import { rowsPerLane } from "../../gpu/software/row_codegen.ts";
import type { ModelConfig } from "../../lib/model/schemas.ts";
import { tensorLayout } from "../../lib/model/layout.ts";
import { Rng } from "../../lib/prng.ts";
import { cpuForward, cpuLossAndGrad } from "../../lib/model/gpt_reference.ts";
import { noisyParams, randomTokens } from "./helpers.ts";

function maxRelErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    num = Math.max(num, Math.abs(got[i] - want[i]));
    den = Math.max(den, Math.abs(want[i]));
  }
  return num / Math.max(den, 1e-30);
}

const shapes: {
  name: string;
  config: ModelConfig;
  K: number;
  B: number;
  /** The hardware kernels split reductions over B·T rows here. */
  split?: boolean;
}[] = [
  {
    name: "vec4 shapes, fleet of 3",
    config: { vocabSize: 24, seqLen: 8, layers: 2, dModel: 16, heads: 4 },
    K: 3,
    B: 2,
  },
  {
    name: "odd shapes (scalar paths), fleet of 2",
    config: { vocabSize: 7, seqLen: 5, layers: 1, dModel: 6, heads: 3 },
    K: 2,
    B: 3,
  },
  {
    name: "T = 32, 6 (sequence, head) pairs",
    config: { vocabSize: 16, seqLen: 32, layers: 1, dModel: 8, heads: 2 },
    K: 1,
    B: 3,
  },
  // Rows too long to cache in registers (layernorm: > 16 vectors, cross
  // entropy: > 16 vectors, with a tail after its chunks of 4), each width.
  {
    name: "long rows, scalar layernorm, vec4 cross entropy",
    config: { vocabSize: 68, seqLen: 4, layers: 1, dModel: 18, heads: 9 },
    K: 2,
    B: 2,
  },
  {
    name: "long rows, vec4 layernorm, scalar cross entropy",
    config: { vocabSize: 71, seqLen: 4, layers: 1, dModel: 68, heads: 17 },
    K: 1,
    B: 2,
  },
  {
    // Also 64 rows per lane in the fused kernels (row_codegen.ts' rowsPerLane).
    name: "long batch, split reductions (vec4)",
    config: { vocabSize: 12, seqLen: 16, layers: 1, dModel: 8, heads: 2 },
    K: 2,
    B: 128,
    split: true,
  },
  {
    name: "long batch, split reductions (scalar)",
    config: { vocabSize: 7, seqLen: 5, layers: 1, dModel: 6, heads: 3 },
    K: 1,
    B: 140, // 560 rows: training computes 4 positions of 5
    split: true,
  },
  // The capacity sweep's shape: the largest V · C the fused head serves.
  {
    name: "V 64, C 16 (fused kernels at their largest)",
    config: { vocabSize: 64, seqLen: 16, layers: 1, dModel: 16, heads: 4 },
    K: 2,
    B: 3,
  },
  // dlnf = dlogits · wte reduces over the vocabulary: split once V is long (A not transposed).
  {
    name: "long vocabulary, split dlnf",
    config: { vocabSize: 520, seqLen: 4, layers: 1, dModel: 8, heads: 2 },
    K: 1,
    B: 176, // 528 rows of 3 positions
    split: true,
  },
];

for (const s of shapes) {
  const head = headFusable(s.config.dModel, s.config.vocabSize);
  const block = blockFusable(s.config.dModel);
  const C = s.config.dModel;
  // Row-split weight gradients (weight_grad_codegen.ts) where the MLP's fit.
  const rowGrads = weightGradFits(C, 4 * C) && weightGradFits(4 * C, C);
  const fusable = head || block || rowGrads;
  const variants: { kernels: "software" | "hardware"; fuse: boolean }[] = [
    { kernels: "software", fuse: true },
    { kernels: "hardware", fuse: true },
    ...(fusable ? [{ kernels: "software" as const, fuse: false }] : []),
  ];
  for (const { kernels, fuse } of variants) {
    const what = `${kernels} kernels${
      fusable && kernels === "software" ? `, fused ${fuse ? "on" : "off"}` : ""
    }`;
    Deno.test(`GPU forward and gradients match the CPU reference: ${s.name}, ${what}`, async () => {
      const gpu = await getGpu();
      const { config: c, K, B } = s;
      const fleet = await GptFleet.create(gpu, {
        config: c,
        fleetSize: K,
        batchSize: B,
        precision: "fp32",
        optimizer: "adamw",
        training: true,
        kernels,
        fuse,
      });
      try {
        const labels = fleet.stepOps().map((op) => op.label);
        const splits = labels.filter((label) => label.endsWith(".sum")).length;
        assert.equal(
          splits > 0,
          kernels === "hardware" && s.split === true,
          `${splits} split sums`,
        );
        const fused = kernels === "software" && fuse;
        assert.equal(labels.includes("train_head"), fused && head, "fused head");
        for (
          const kernel of ["qkv_forward.0", "qkv_backward.0", "mlp_forward.0", "mlp_backward.0"]
        ) {
          assert.equal(labels.includes(kernel), fused && block, kernel);
        }
        // Attention with a lane per (batch, head) pair for short sequences on CPUs.
        const joint = kernels === "software" && c.seqLen <= MAX_JOINT_ATTENTION_T;
        assert.equal(labels.includes("attention_backward.0"), joint, "joint attention");
        assert.equal(labels.includes("attention_backward_q.0"), !joint, "two-kernel attention");
        // The attention projection's row kernels (block_codegen.ts) rather than matmuls.
        const matmuls = fleet.stepOps().filter((op) => op.pipeline.label === "matmul")
          .map((op) => op.label);
        for (const proj of ["attproj.0", "attproj.0.dx"]) {
          assert.equal(!matmuls.includes(proj), fused && block, proj);
        }
        const rowSplit = fleet.stepOps().filter((op) => op.pipeline.label === "weight_grad")
          .map((op) => op.label);
        for (const dw of ["fc.0.dw", "fcproj.0.dw"]) {
          assert.equal(rowSplit.includes(dw), fused && rowGrads, dw);
        }
        // Their partial sums, and the fused layernorms', in one op at the end of backward.
        const sums = labels.filter((label) => label === "partial_sums").length;
        assert.equal(sums, fused && (head || block || rowGrads) ? 1 : 0, "partial sums");
        const rng = new Rng(7);
        const BTn = B * c.seqLen;
        const tokens = randomTokens(rng, K * BTn, c.vocabSize);
        const params = Array.from({ length: K }, (_, z) => noisyParams(c, 100 + z));
        params.forEach((p, z) => fleet.setParameters(z, p));

        // A training fleet computes the positions that predict a token: all but the last.
        const S = c.seqLen, P = fleet.P;
        assert.equal(P, S - 1, "positions computed");
        const logits = await fleet.logits(tokens);
        const nll = await fleet.tokenNll(tokens);
        fleet.computeGradients(tokens);
        const loss = await fleet.meanLoss();
        const V = c.vocabSize;
        for (let z = 0; z < K; z++) {
          const toks = tokens.subarray(z * BTn, (z + 1) * BTn);
          const ref = cpuForward(c, params[z], toks, B);
          const want = new Float64Array(B * P * V);
          for (let b = 0; b < B; b++) {
            want.set(ref.logits.subarray(b * S * V, (b * S + P) * V), b * P * V);
          }
          const got = logits.subarray(z * B * P * V, (z + 1) * B * P * V);
          assert.ok(maxRelErr(got, want) < 1e-4, `model ${z} logits`);
          for (let b = 0; b < B; b++) {
            assert.equal(nll[z * BTn + b * S + S - 1], 0, `nll ${z},${b} at the last position`);
            for (let t = 0; t < S - 1; t++) {
              const g = nll[z * BTn + b * S + t];
              const w = ref.tokenNll[b * (S - 1) + t];
              assert.ok(Math.abs(g - w) < 1e-4 * Math.max(1, Math.abs(w)), `nll ${z},${b},${t}`);
            }
          }
          const { loss: refLoss, grad } = cpuLossAndGrad(c, params[z], toks, B);
          assert.ok(Math.abs(loss[z] - refLoss) < 1e-5 * refLoss, `model ${z} loss`);
          const g = await fleet.getGradients(z);
          for (const t of tensorLayout(c)) {
            const err = maxRelErr(
              g.subarray(t.offset, t.offset + t.size),
              grad.subarray(t.offset, t.offset + t.size),
            );
            assert.ok(err < 1e-3, `model ${z} gradient of ${t.name}: relative error ${err}`);
          }
          // Parameters come back exactly as set.
          assert.deepEqual(await fleet.getParameters(z), params[z]);
        }
      } finally {
        fleet.destroy();
      }
    });
  }
}

// A model's gradients must not depend on the fleet it trains in: the fused
// kernels' rows per lane, the row-split weight gradients' chunks and the
// matmuls' blocks follow the fleet size, so their sums are cut at a
// granularity of rows that does not. At B·T 8,192 the partitions differ
// between 1 and 3 models (asserted first, so the comparison means
// something): d 8 runs the fused kernels, d 32 matmuls and a row-split
// attproj.dw.
const fleetCases: { config: ModelConfig; differs: (BT: number, K: number) => void }[] = [
  {
    config: { vocabSize: 12, seqLen: 16, layers: 1, dModel: 8, heads: 2 },
    differs: (BT, K) => {
      const fcproj = (fleet: number) =>
        weightGradChunks({ BT, fleet, M: 32, N: 8, geluA: true, colSums: true });
      assert.notEqual(fcproj(1), fcproj(K), "fcproj.dw chunks");
      const rows = (fleet: number) => rowsPerLane({ BT, T: 15, targets: 15, fleet });
      assert.notEqual(rows(1), rows(K), "rows per lane");
    },
  },
  {
    config: { vocabSize: 12, seqLen: 16, layers: 1, dModel: 32, heads: 2 },
    differs: (BT, K) => {
      const attproj = (fleet: number) =>
        weightGradChunks({ BT, fleet, M: 32, N: 32, geluA: false, colSums: true });
      assert.notEqual(attproj(1), attproj(K), "attproj.dw chunks");
    },
  },
];
for (const { config, differs } of fleetCases) {
  for (const kernels of ["software", "hardware"] as const) {
    Deno.test(`a model's gradients are the same alone and in a fleet, bit for bit: d ${config.dModel}, ${kernels} kernels`, async () => {
      const gpu = await getGpu();
      const B = 512, K = 3, BTn = B * config.seqLen;
      differs(B * (config.seqLen - 1), K); // the rows a training fleet computes
      const make = (fleetSize: number) =>
        GptFleet.create(gpu, {
          config,
          fleetSize,
          batchSize: B,
          precision: "fp32",
          optimizer: "adamw",
          training: true,
          kernels,
        });
      const tokens = randomTokens(new Rng(11), K * BTn, config.vocabSize);
      const params = Array.from({ length: K }, (_, z) => noisyParams(config, 200 + z));
      const fleet = await make(K);
      try {
        params.forEach((p, z) => fleet.setParameters(z, p));
        fleet.computeGradients(tokens);
        for (let z = 0; z < K; z++) {
          const alone = await make(1);
          try {
            alone.setParameters(0, params[z]);
            alone.computeGradients(tokens.subarray(z * BTn, (z + 1) * BTn));
            const [got, want] = [await fleet.getGradients(z), await alone.getGradients(0)];
            for (const t of tensorLayout(config)) {
              const differ = want.subarray(t.offset, t.offset + t.size)
                .findIndex((x, i) => !Object.is(x, got[t.offset + i]));
              assert.equal(differ, -1, `model ${z}: gradient of ${t.name} differs at ${differ}`);
            }
          } finally {
            alone.destroy();
          }
        }
      } finally {
        fleet.destroy();
      }
    });
  }
}
