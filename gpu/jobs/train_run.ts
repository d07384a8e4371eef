// The "train" job: trains one stored model on one stored dataset, reporting
// loss, throughput and memorized bits as it goes, checkpointing so that a
// restarted service resumes it, and writing the weights back to the model.
//
// Completion is exactly once. The queue marks a run succeeded only after the
// job returns, so a kill may fall between any two of the job's last writes.
// Once trained, the job puts the final weights (FINAL_WEIGHTS_ARTIFACT), then
// its completion record (COMPLETION_ARTIFACT: the result and the model's new
// trainedSteps). From the record on it never trains again: a restart that
// finds it repeats the rest (finishRun), each step repeatable: the weights
// into the model, their artifact deleted, the checkpoint deleted. Until the
// record only the run's own artifacts were written, so a restart resumes from
// the checkpoint with the model untouched. After the weights are in, only
// deletes follow, which a full disk never refuses.
import { GptFleet } from "../fleet/gpt_fleet.ts";
import { sequenceNll } from "../likelihood.ts";
import { resumedSampler, trainFleet } from "../trainer.ts";
import type { GpuEngine } from "../engine.ts";
import {
  captureCheckpoint,
  CHECKPOINT_ARTIFACT,
  parseCheckpoint,
  throwIfAbortedSaving,
  writeModelState,
} from "./checkpoint.ts";
import { JobFailure } from "../../lib/jobs/queue.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  float32Bytes,
  tensorToFloat32,
} from "../../lib/safetensors.ts";
import type { JobHost } from "../../lib/engine_interface.ts";
import { uniformSequenceBits } from "../../lib/memorization/memorization.ts";
import { saturation } from "../../lib/training/saturation.ts";
import {
  type CurvePoint,
  type RunCreateRequest,
  type RunProgress,
  type RunResult,
  runSteps,
} from "../../lib/runs/schemas.ts";

const MAX_CURVE_POINTS = 400;

/** The final weights ("params", F32), until the model holds them (see the top of this file). */
export const FINAL_WEIGHTS_ARTIFACT = "final.safetensors";
/** The run's completion record (JSON Completion); it stays with the run. */
export const COMPLETION_ARTIFACT = "completion.json";

/** What a finished run records before it changes the model. */
interface Completion {
  result: RunResult;
  /** The model's trainedSteps once the final weights are in it. */
  trainedSteps: number;
}

function encodeFinalWeights(params: Float32Array): Uint8Array {
  const data = float32Bytes(params);
  return encodeSafetensors([{ name: "params", dtype: "F32", shape: [params.length], data }]);
}

/**
 * The rest of a run's completion once its record is written, on the attempt that wrote it
 * (with the final weights at hand) or on a restart that found it; every step may be repeated
 * after a kill. The final weights' artifact is deleted only once the model holds them.
 */
async function finishRun(
  ctx: JobHost<RunCreateRequest, RunProgress>,
  c: Completion,
  params?: Float32Array,
): Promise<RunResult> {
  const final = params ? null : await ctx.getArtifact(FINAL_WEIGHTS_ARTIFACT);
  if (final) params = tensorToFloat32(decodeSafetensors(final).tensors.get("params")!);
  if (params) {
    await ctx.saveModelWeights(ctx.input.modelId, params, {
      trainedSteps: c.trainedSteps,
      runId: ctx.id,
    });
    await ctx.deleteArtifact(FINAL_WEIGHTS_ARTIFACT);
  }
  await ctx.deleteArtifact(CHECKPOINT_ARTIFACT);
  return c.result;
}

/** Memorized bits of a dataset: Σ max(0, uniform - NLL) over its sequences. */
export function memorizedBits(nllBits: Float64Array, uniformBits: number): number {
  let s = 0;
  for (const b of nllBits) s += Math.max(0, uniformBits - b);
  return s;
}

/**
 * What the clip in memorizedBits adds over the net saving Σ (uniform - NLL):
 * Σ max(0, NLL - uniform), the bits of the sequences coded longer than uniform.
 */
export function clipCreditBits(nllBits: Float64Array, uniformBits: number): number {
  let s = 0;
  for (const b of nllBits) s += Math.max(0, b - uniformBits);
  return s;
}

/** Keeps at most `max` points, always the first and the last, evenly thinned. */
export function thinCurve<T>(points: T[], max: number): T[] {
  if (points.length <= max) return points;
  const out: T[] = [];
  for (let i = 0; i < max; i++) out.push(points[Math.round((i * (points.length - 1)) / (max - 1))]);
  return out;
}

export async function trainRunJob(
  engine: GpuEngine,
  ctx: JobHost<RunCreateRequest, RunProgress>,
): Promise<RunResult> {
  const input = ctx.input;
  const started = performance.now();
  const completed = ctx.resumed ? await ctx.getArtifact(COMPLETION_ARTIFACT) : null;
  if (completed) return await finishRun(ctx, JSON.parse(new TextDecoder().decode(completed)));
  const { model, params } = await ctx.loadModel(input.modelId) ??
    failMissing("model", input.modelId);
  const data = await ctx.loadDataset(input.datasetId) ??
    failMissing("dataset", input.datasetId);
  const c = model.config;
  if (data.vocabSize !== c.vocabSize || data.seqLen !== c.seqLen) {
    throw new JobFailure(
      "dataset_mismatch",
      `dataset ${input.datasetId} (vocabSize ${data.vocabSize}, seqLen ${data.seqLen}) does not ` +
        `fit model ${input.modelId} (vocabSize ${c.vocabSize}, seqLen ${c.seqLen})`,
    );
  }
  const totalSteps = runSteps(input, data.count);
  const evalEvery = input.evalEvery ?? Math.max(1, Math.ceil(totalSteps / 20));
  const checkpointEvery = input.checkpointEvery ?? evalEvery;
  const uniformBits = uniformSequenceBits(c.seqLen, c.vocabSize);
  const datasetBits = uniformBits * data.count;
  const tokensPerStep = input.batchSize * c.seqLen;
  const elapsedSeconds = () => (performance.now() - started) / 1000;
  let progress: RunProgress = {
    phase: "compiling",
    step: 0,
    totalSteps,
    loss: null,
    tokensPerSec: 0,
    memorizedBits: null,
    datasetBits,
    saturated: false,
    tokensTrained: 0,
    elapsedSeconds: elapsedSeconds(),
    etaSeconds: null,
  };
  // Progress from the first second: the first compile of a shape takes a while on a CPU.
  await ctx.progress(progress);

  const fleet = await GptFleet.create(await engine.open(), {
    config: c,
    fleetSize: 1,
    batchSize: input.batchSize,
    precision: model.precision,
    optimizer: input.optimizer.type,
    training: true,
    memoryBudgetBytes: engine.options.memoryBudgetBytes,
  });
  try {
    let startStep = 0;
    let curve: CurvePoint[] = [];
    let resumedFromSteps: number[] = [];
    // The batch order, kept here so that every checkpoint can save where it stands.
    let sampler = resumedSampler(data.count, input.batchSize, input.seed, 0);
    const saved = ctx.resumed ? await ctx.getArtifact(CHECKPOINT_ARTIFACT) : null;
    if (saved) {
      const cp = parseCheckpoint(saved);
      writeModelState(fleet, 0, cp);
      startStep = cp.step;
      sampler = resumedSampler(data.count, input.batchSize, input.seed, cp.step, cp.sampler);
      curve = (cp.extra.curve as CurvePoint[]) ?? [];
      resumedFromSteps = [...((cp.extra.resumedFromSteps as number[]) ?? []), cp.step];
    } else {
      fleet.setParameters(0, params);
    }
    const evaluate = async (step: number, loss: number) => {
      await ctx.progress({
        ...progress,
        phase: "evaluating",
        step,
        etaSeconds: null,
        elapsedSeconds: elapsedSeconds(),
      });
      // Checked before every batch, so a cancel or stop need not wait for a large dataset.
      const nll = await sequenceNll(fleet, data.tokens, false, ctx);
      const bits = memorizedBits(nll.bits, uniformBits);
      curve.push({ step, loss, memorizedBits: bits });
      return bits;
    };
    progress = {
      ...progress,
      phase: "training",
      step: startStep,
      memorizedBits: curve.at(-1)?.memorizedBits ?? null,
      elapsedSeconds: elapsedSeconds(),
    };
    /** Parameters, Adam state and batch order at `step`, with the curve so far. */
    const saveCheckpoint = async (step: number) => {
      const extra = { curve: thinCurve(curve, MAX_CURVE_POINTS), resumedFromSteps };
      const bytes = await captureCheckpoint(fleet, 0, step, extra, sampler.state());
      await ctx.putArtifact(CHECKPOINT_ARTIFACT, bytes);
    };
    let stoppedBy = "steps" as RunResult["stoppedBy"]; // set by the progress callback
    const last = await trainFleet(fleet, {
      datasets: [data.tokens],
      seeds: [input.seed],
      samplers: [sampler],
      optimizer: {
        lr: input.optimizer.lr,
        beta1: input.optimizer.betas[0],
        beta2: input.optimizer.betas[1],
        eps: input.optimizer.eps,
        weightDecay: input.optimizer.weightDecay,
      },
      schedule: input.schedule,
      totalSteps,
      startStep,
      readEvery: Math.min(evalEvery, 50),
      onProgress: async (p) => {
        // A stop of the service checkpoints here, so the resumed run loses nothing.
        await throwIfAbortedSaving(ctx, async () => {
          if (p.step <= startStep) return;
          await saveCheckpoint(p.step);
          await ctx.progress({ ...progress, step: p.step }, { persist: true });
        });
        const loss = p.loss[0];
        if (!Number.isFinite(loss)) {
          throw new JobFailure("diverged", `the training loss became ${loss} at step ${p.step}`);
        }
        const isEval = p.step % evalEvery === 0 || p.step === totalSteps;
        let bits = progress.memorizedBits;
        let saturated = false;
        if (isEval) {
          bits = await evaluate(p.step, loss);
          if (input.stopOnSaturation) {
            saturated = saturation(
              curve.map((x) => ({ step: x.step, bits: x.memorizedBits })),
              input.stopOnSaturation,
            ).saturated;
          }
        }
        const stepsPerSec = p.tokensPerSecond / tokensPerStep;
        progress = {
          phase: "training",
          step: p.step,
          totalSteps,
          loss,
          tokensPerSec: p.tokensPerSecond,
          memorizedBits: bits,
          datasetBits,
          saturated,
          tokensTrained: (p.step - startStep) * tokensPerStep,
          elapsedSeconds: elapsedSeconds(),
          etaSeconds: stepsPerSec > 0 ? (totalSteps - p.step) / stepsPerSec : null,
        };
        const checkpoint = p.step % checkpointEvery === 0 && p.step < totalSteps;
        if (checkpoint) await saveCheckpoint(p.step);
        await ctx.progress(progress, { persist: checkpoint || isEval });
        if (saturated) {
          stoppedBy = "saturation";
          return "stop";
        }
      },
    });
    if (curve.at(-1)?.step !== last.step) await evaluate(last.step, last.loss[0]);
    const end = curve.at(-1)!;
    const completion: Completion = {
      result: {
        steps: last.step,
        finalLoss: end.loss,
        memorizedBits: end.memorizedBits,
        datasetBits,
        saturated: stoppedBy === "saturation",
        stoppedBy,
        curve: thinCurve(curve, MAX_CURVE_POINTS),
        seconds: (performance.now() - started) / 1000,
        resumedFromSteps,
      },
      // The model as loaded here: no attempt wrote it before the record existed.
      trainedSteps: model.trainedSteps + last.step,
    };
    const finalParams = await fleet.getParameters(0);
    await ctx.putArtifact(FINAL_WEIGHTS_ARTIFACT, encodeFinalWeights(finalParams));
    await ctx.putArtifact(
      COMPLETION_ARTIFACT,
      new TextEncoder().encode(JSON.stringify(completion)),
    );
    return await finishRun(ctx, completion, finalParams);
  } finally {
    fleet.destroy();
  }
}

function failMissing(what: string, id: string): never {
  throw new JobFailure("not_found", `${what} ${id} no longer exists`);
}
