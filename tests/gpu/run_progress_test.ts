// A training run reports progress from its first second: compiling before
// any step, then training with an ETA, and evaluating at each evaluation.
import assert from "node:assert/strict";
import { getGpu } from "../../gpu/device.ts";
import { GpuEngine } from "../../gpu/engine.ts";
import { trainRunJob } from "../../gpu/jobs/train_run.ts";
import { memoryJobHost } from "../../lib/jobs/memory_host.ts";
import { generateUniform } from "../../lib/datasets/uniform.ts";
import { initialParameters } from "../../lib/model/init.ts";
import { parameterCount } from "../../lib/model/config.ts";
import { RunCreateRequest, type RunProgress } from "../../lib/runs/schemas.ts";

Deno.test("a run's progress says compiling, then training with an ETA, then evaluating", async () => {
  const config = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 16, heads: 2 };
  const input = RunCreateRequest.parse({
    modelId: "mdl_test",
    datasetId: "ds_test",
    optimizer: { type: "adamw", lr: 0.01 },
    batchSize: 4,
    steps: 400,
    evalEvery: 200,
  });
  const seen: RunProgress[] = [];
  await trainRunJob(
    new GpuEngine(getGpu),
    memoryJobHost(input, {
      artifacts: new Map(),
      resumed: false,
      onProgress: (p: RunProgress) => seen.push(structuredClone(p)),
      models: new Map([["mdl_test", {
        model: {
          id: "mdl_test",
          config,
          precision: "fp32",
          seed: 1,
          parameterCount: parameterCount(config),
          trainedSteps: 0,
          createdFrom: "init",
          createdAt: "2026-01-01T00:00:00.000Z",
          updatedAt: "2026-01-01T00:00:00.000Z",
        },
        params: initialParameters(config, 1, "fp32"),
      }]]),
      datasets: new Map([["ds_test", generateUniform({ ...config, count: 12, seed: 2 })]]),
      savedWeights: new Map(),
    }),
  );
  assert.equal(seen[0].phase, "compiling");
  assert.equal(seen[0].step, 0);
  assert.equal(seen[0].etaSeconds, null);
  // Each evaluation is announced at its step, before that step's training report.
  const evaluating = seen.filter((p) => p.phase === "evaluating").map((p) => p.step);
  assert.deepEqual(evaluating, [200, 400]);
  const training = seen.filter((p) => p.phase === "training" && p.step < 400);
  assert.ok(training.length >= 4, `${training.length} training reports`);
  for (const p of training) {
    const stepsPerSec = p.tokensPerSec / (4 * 8);
    assert.ok(Math.abs(p.etaSeconds! - (400 - p.step) / stepsPerSec) < 1e-9 * p.etaSeconds!);
  }
  assert.ok(seen.at(-1)!.elapsedSeconds > 0);
});
