// Every study's sweeps are valid requests at both scales (so a GPU server
// running `--scale paper` is not the first to find a bad one), and the
// report helpers do what the reports rely on.
import assert from "node:assert/strict";
import { planCapacity } from "../../lib/capacity/plan.ts";
import { CapacityCreateRequest } from "../../lib/capacity/schemas.ts";
import { describeHardware, STUDIES } from "../../experiments/run.ts";
import { unknownKeys } from "../../lib/http/unknown_keys.ts";
import {
  certificateSection,
  chosenSweeps,
  seedsPhrase,
  type StudyContext,
  table,
} from "../../experiments/study.ts";
import { gridShapes } from "../../experiments/studies/capacity_grid.ts";
import {
  pooledRelativeSd,
  spreadRows,
  twoSidedTail,
} from "../../experiments/studies/seed_spread.ts";
import { parameterCount } from "../../lib/model/config.ts";
import { textRequests, textScale } from "../../experiments/studies/text_memorization.ts";
import { DatasetCreateRequest } from "../../lib/datasets/schemas.ts";
import { ModelCreateRequest } from "../../lib/model_store/mod.ts";
import { RunCreateRequest } from "../../lib/runs/schemas.ts";
import type { z } from "zod";

// text-memorization and membership-law make datasets, models and runs, not sweeps.
for (const study of STUDIES.filter((s) => s.requests("cpu", ["fp32"]).length > 0)) {
  for (const scale of ["cpu", "paper"] as const) {
    Deno.test(`${study.name} --scale ${scale}: every sweep is a valid request`, () => {
      const sweeps = study.requests(scale, ["fp32", "bf16"]);
      assert.ok(sweeps.length > 0);
      assert.equal(new Set(sweeps.map((s) => s.label)).size, sweeps.length, "labels are unique");
      for (const s of sweeps) {
        const parsed = CapacityCreateRequest.safeParse(s.request);
        assert.ok(parsed.success, `${s.label}: ${JSON.stringify(parsed.error?.issues)}`);
        // The service refuses keys its schema does not know (lib/http/unknown_keys.ts).
        assert.deepEqual(unknownKeys(CapacityCreateRequest, s.request), [], s.label);
        const plan = planCapacity(parsed.data);
        assert.ok(plan.runs.length >= 1);
        if (scale === "paper") {
          assert.equal(parsed.data.config.vocabSize === 2048 || study.name === "vocab-sweep", true);
        }
      }
    });
  }
}

Deno.test("capacity-grid at paper scale is the paper's Table 1 grid", () => {
  const shapes = gridShapes("paper");
  assert.equal(shapes.length, 16);
  const l1d32 = shapes.find((s) => s.layers === 1 && s.dModel === 32)!;
  assert.equal(parameterCount(l1d32), 80_352); // Table 1, first row
});

Deno.test("capacity-grid measures every precision asked, the others the first only", () => {
  const grid = STUDIES.find((s) => s.name === "capacity-grid")!;
  const both = grid.requests("cpu", ["fp32", "bf16"]);
  assert.deepEqual(new Set(both.map((s) => s.request.precision)), new Set(["fp32", "bf16"]));
  const dd = STUDIES.find((s) => s.name === "double-descent")!;
  assert.deepEqual(dd.requests("cpu", ["bf16", "fp32"]).map((s) => s.request.precision), ["bf16"]);
});

Deno.test("table renders a markdown table", () => {
  assert.equal(table(["a", "b"], [[1, "x"]]), "| a | b |\n| --- | --- |\n| 1 | x |");
});

Deno.test("the certificates section counts verdicts, run endings and tokens per sweep", () => {
  const run = (status: string) => ({ certificate: { status }, memorizedBits: 1000 });
  const sweep = (label: string, verdict: string, statuses: string[], codes: string[]) => ({
    label,
    result: {
      verdict,
      reasons: codes.map((code) => ({ code })),
      runs: statuses.map(run),
      budget: { tokensSpent: 1.5e9 },
    },
  });
  const measured = sweep("S=4", "certified", ["saturated", "saturated"], []);
  measured.result.runs = measured.result.runs.map((x, i) => ({
    ...x,
    unseenBits: [5, 25][i],
    clipCreditBits: [40, 0][i],
  }));
  const text = certificateSection([
    measured,
    sweep("S=8", "lower-bound", ["saturated", "unstable", "budget-exhausted"], ["not-saturated"]),
    // deno-lint-ignore no-explicit-any
  ] as any);
  assert.match(text, /1 of 2 sweep verdicts are certified; 3 of 5 runs saturated/);
  // unseen and clip: the largest unseenBits and clipCreditBits / memorizedBits of the sweep,
  // – where no run measured it.
  assert.match(text, /\| S=4 \| certified \| 2\/2 \| 0 \| 0 \| 1\.50e\+9 \| 2\.50% \| 4\.00% \|/);
  assert.match(
    text,
    /\| S=8 \| lower-bound \(not-saturated\) \| 1\/3 \| 1 \| 1 \| 1\.50e\+9 \| – \| – \|/,
  );
});

Deno.test("--max-steps reaches every capacity sweep a study submits", () => {
  for (const study of STUDIES.filter((s) => s.requests("cpu", ["fp32"]).length > 0)) {
    const budgets = study.requests("cpu", ["fp32"], 32000).map((s) => s.request.training?.maxSteps);
    assert.ok(budgets.length > 0);
    assert.deepEqual(new Set(budgets), new Set([32000]), study.name);
  }
});

Deno.test("--only keeps the sweeps whose label matches, and names the labels when none does", () => {
  const ctx = { only: ["L1 d8", "L2 d16"] } as unknown as StudyContext;
  const sweeps = [{ label: "fp32 L1 d8" }, { label: "fp32 L1 d16" }, { label: "bf16 L2 d16" }];
  assert.deepEqual(chosenSweeps(ctx, sweeps).map((s) => s.label), ["fp32 L1 d8", "bf16 L2 d16"]);
  assert.deepEqual(chosenSweeps({} as StudyContext, sweeps), sweeps);
  assert.throws(
    () => chosenSweeps({ only: ["L8"] } as unknown as StudyContext, sweeps),
    /no sweep label matches; labels: fp32 L1 d8; fp32 L1 d16; bf16 L2 d16/,
  );
});

Deno.test("a report names the adapter it ran on, and says so when there was none", () => {
  const gpu = {
    backend: "vulkan",
    description: "NVIDIA H100 80GB HBM3",
    software: false,
    limits: {},
  };
  const health = { status: "ok" as const, version: "9.9.9", gpu, queue: { depth: 0 } };
  assert.equal(describeHardware(health), "NVIDIA H100 80GB HBM3 (vulkan); memcap 9.9.9");
  assert.equal(
    describeHardware({ ...health, gpu: { ...gpu, description: "llvmpipe", software: true } }),
    "llvmpipe (vulkan, software adapter); memcap 9.9.9",
  );
  assert.equal(
    describeHardware({ ...health, status: "degraded", gpu: null, error: "no adapter" }),
    "no GPU adapter (no adapter); memcap 9.9.9",
  );
});

Deno.test("seed-spread: per size the seeds' mean, spread, mean unseen bits and clip", () => {
  const run = (datasetSize: number, memorizedBits: number, unseenBits?: number | null) => ({
    datasetSize,
    memorizedBits,
    unseenBits,
    clipCreditBits: unseenBits == null ? undefined : 3 * unseenBits + 1,
  });
  const rows = spreadRows({
    // deno-lint-ignore no-explicit-any
    runs: [run(500, 90, 0), run(100, 10, null), run(500, 110, 4), run(100, 14, null)] as any,
  });
  assert.deepEqual(rows.map((x) => x.datasetSize), [100, 500]);
  assert.deepEqual(rows[1].bits, [90, 110]);
  assert.equal(rows[1].mean, 100);
  // Sample sd of 90, 110 is √200 ≈ 14.14: 14.1% of the mean; the range is 20%.
  assert.ok(Math.abs(rows[1].relativeSd - Math.sqrt(200) / 100) < 1e-12);
  assert.ok(Math.abs(rows[1].relativeRange - 0.2) < 1e-12);
  assert.equal(rows[1].unseenBits, 2);
  assert.equal(rows[0].unseenBits, null, "no seed measured it");
  assert.equal(rows[1].clipCreditBits, (1 + 13) / 2);
  assert.equal(rows[0].clipCreditBits, null);
  assert.ok(Math.abs(rows[0].relativeSd - Math.sqrt(8) / 12) < 1e-12);
  const pooled = pooledRelativeSd(rows);
  assert.ok(Math.abs(pooled - Math.sqrt((200 / 1e4 + 8 / 144) / 2)) < 1e-12);
});

Deno.test("seed-spread: the two-sided normal tail", () => {
  // P(|Z| > 1) = 0.3173, P(|Z| > 1.96) = 0.05, P(|Z| > 0) = 1.
  assert.ok(Math.abs(twoSidedTail(1) - 0.317311) < 1e-6);
  assert.ok(Math.abs(twoSidedTail(-1.959964) - 0.05) < 1e-6);
  assert.ok(Math.abs(twoSidedTail(0) - 1) < 1e-6);
});

Deno.test("seedsPhrase names a request's seeds, given as a list or a count", () => {
  assert.equal(seedsPhrase([0]), "one seed (0)");
  assert.equal(seedsPhrase(3), "3 seeds (0, 1, 2)");
  assert.equal(seedsPhrase([4, 7]), "2 seeds (4, 7)");
  assert.equal(seedsPhrase(undefined), "one seed (0)", "the API's default");
});

// The text study's bodies are not sweeps; each must still pass its route's schema, with no
// key the service refuses (the oracle's shape once carried its `steps` into the model config).
for (const scale of ["cpu", "paper"] as const) {
  Deno.test(`text-memorization --scale ${scale}: every model, run and dataset body is valid`, () => {
    const t = textScale(scale);
    const bodies: [z.ZodType, unknown][] = [
      [DatasetCreateRequest, textRequests.dataset(t, "train")],
      ...t.trainCounts.map((n): [z.ZodType, unknown] => [
        DatasetCreateRequest,
        textRequests.dataset(t, "heldout", n),
      ]),
      ...[t.oracle, ...t.sizes].map((size): [z.ZodType, unknown] => [
        ModelCreateRequest,
        textRequests.model(t, 256, size),
      ]),
      [RunCreateRequest, textRequests.run(t, "mdl_x", "ds_x", t.oracle.steps)],
      [RunCreateRequest, textRequests.run(t, "mdl_x", "ds_x", t.steps)],
    ];
    for (const [schema, body] of bodies) {
      const parsed = schema.safeParse(body);
      assert.ok(parsed.success, `${JSON.stringify(body)}: ${JSON.stringify(parsed.error?.issues)}`);
      assert.deepEqual(unknownKeys(schema, body), [], JSON.stringify(body));
    }
  });
}
