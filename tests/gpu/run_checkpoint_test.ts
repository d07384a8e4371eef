// A training run cut short after a checkpoint resumes from it and ends with
// exactly the weights of the same run done in one go: the checkpoint holds
// parameters (a bf16 model's f32 master weights), Adam moments, the step and
// the batch sampler's state.
import assert from "node:assert/strict";
import { getGpu } from "../../gpu/device.ts";
import { GpuEngine } from "../../gpu/engine.ts";
import { trainRunJob } from "../../gpu/jobs/train_run.ts";
import { memoryJobHost } from "../../lib/jobs/memory_host.ts";
import { generateUniform } from "../../lib/datasets/uniform.ts";
import { initialParameters } from "../../lib/model/init.ts";
import { parameterCount } from "../../lib/model/config.ts";
import type { Precision } from "../../lib/model/schemas.ts";
import { bf16Round } from "../../lib/bf16.ts";
import { CHECKPOINT_ARTIFACT, parseCheckpoint } from "../../gpu/jobs/checkpoint.ts";
import { RunCreateRequest, type RunProgress } from "../../lib/runs/schemas.ts";
import type { Model } from "../../lib/model_store/schemas.ts";

const config = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 16, heads: 2 };
const modelOf = (precision: Precision): Model => ({
  id: "mdl_test",
  config,
  precision,
  seed: 1,
  parameterCount: parameterCount(config),
  trainedSteps: 0,
  createdFrom: "init",
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
});
const input = RunCreateRequest.parse({
  modelId: "mdl_test",
  datasetId: "ds_test",
  optimizer: { type: "adamw", lr: 0.01 },
  // 12 sequences in batches of 5: batches cross epoch ends, where the order reshuffles.
  batchSize: 5,
  steps: 300,
  evalEvery: 100,
  checkpointEvery: 50,
});

function host(
  model: Model,
  savedWeights: Map<string, Float32Array>,
  artifacts = new Map<string, Uint8Array>(),
  resumed = false,
  onProgress?: (p: RunProgress) => void,
) {
  return memoryJobHost(input, {
    artifacts,
    resumed,
    onProgress,
    models: new Map([[model.id, {
      model,
      params: initialParameters(config, 1, model.precision),
    }]]),
    datasets: new Map([["ds_test", generateUniform({ ...config, count: 12, seed: 2 })]]),
    savedWeights,
  });
}

for (const precision of ["fp32", "bf16"] as const) {
  const model = modelOf(precision);
  Deno.test(`a ${precision} run cut short resumes from its checkpoint to the same weights as in one go`, async () => {
    const engine = new GpuEngine(getGpu);
    const whole = new Map<string, Float32Array>();
    const once = await trainRunJob(engine, host(model, whole));
    assert.deepEqual(once.resumedFromSteps, []);

    const artifacts = new Map<string, Uint8Array>();
    const resumedWeights = new Map<string, Float32Array>();
    await assert.rejects(
      trainRunJob(
        engine,
        host(model, resumedWeights, artifacts, false, (p) => {
          // At step 200's report of training, which comes after its checkpoint.
          if (p.step >= 200 && p.phase === "training") throw new Error("engine crashed");
        }),
      ),
      /engine crashed/,
    );
    const cp = parseCheckpoint(artifacts.get(CHECKPOINT_ARTIFACT)!);
    assert.equal(cp.precision, precision);
    const again = await trainRunJob(engine, host(model, resumedWeights, artifacts, true));
    // Step 200's checkpoint is written before its progress report, where the fault came.
    assert.deepEqual(again.resumedFromSteps, [200]);
    assert.equal(again.steps, 300);
    assert.deepEqual(resumedWeights.get(model.id), whole.get(model.id), "bit-identical weights");
    assert.deepEqual(again.curve, once.curve);
    if (precision === "bf16") {
      // The checkpoint kept the f32 master weights; the model written back holds bf16 values.
      assert.ok(cp.params.some((x) => x !== bf16Round(x)), "the checkpoint holds the master");
      const saved = whole.get(model.id)!;
      assert.ok(saved.every((x) => x === bf16Round(x)), "the trained model is bf16");
    }
  });
}
