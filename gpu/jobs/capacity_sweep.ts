// The "capacity" job: one model per (dataset size, seed) on uniform random
// tokens, trained side by side in fleets of the same shape until each
// saturates or the budget runs out; a saturated model leaves its fleet at
// the next evaluation (the fleet shrinks, so it costs nothing after). Then
// the plateau of memorized bits is the capacity (lib/capacity/fit.ts).
//
// Resuming after a restart: finished models are kept (OUTCOMES_ARTIFACT) and
// never retrained; the fleet in training is checkpointed (FLEET_ARTIFACT)
// every CHECKPOINT_SECONDS of training and when the service stops, so a
// restart continues it from there. (By time, not at every evaluation: a
// paper-scale fleet's checkpoint is hundreds of MB.)
import { GptFleet } from "../gpt_fleet.ts";
import { fleetSequenceNll } from "../likelihood.ts";
import { type ModelData, resumedSampler, trainSteps } from "../trainer.ts";
import type { GpuEngine } from "../engine.ts";
import { memorizedBits, thinCurve } from "./train_run.ts";
import {
  captureFleetCheckpoint,
  parseFleetCheckpoint,
  readModelState,
  throwIfAbortedSaving,
  writeModelState,
} from "./checkpoint.ts";
import type { JobHost } from "../../lib/engine.ts";
import { fitCapacity } from "../../lib/capacity/fit.ts";
import { type CapacityCreateRequest, planCapacity } from "../../lib/capacity/plan.ts";
import {
  extrapolateCapacity,
  sweepDataSeed,
  type SweepProgress,
  type SweepResult,
  type SweepRun,
  sweepTestSeed,
} from "../../lib/capacity/sweep.ts";
import { fitAsymptote } from "../../lib/capacity/asymptote.ts";
import { evaluationSteps } from "../../lib/training/schedule.ts";
import { generateUniform } from "../../lib/datasets/uniform.ts";
import { uniformSequenceBits } from "../../lib/memorization.ts";
import { initialParameters } from "../../lib/model/init.ts";
import { type CurvePoint, saturation } from "../../lib/training/saturation.ts";

/** Finished models, kept as an artifact so a resumed sweep skips them. */
const OUTCOMES_ARTIFACT = "outcomes.json";
/** The models still training in the current fleet (FleetCheckpoint). */
const FLEET_ARTIFACT = "fleet.safetensors";
/** Training wall time between two fleet checkpoints (EngineOptions can change it). */
const CHECKPOINT_SECONDS = 120;

/** What a fleet checkpoint's `extra` holds besides the model states. */
type FleetExtra = {
  fleet: number;
  members: { datasetSize: number; seed: number; curve: CurvePoint[] }[];
};

interface Member extends ModelData {
  datasetSize: number;
  seed: number;
  curve: CurvePoint[];
  /** The seed's held-out sequences (empty when testSequences is 0). */
  testTokens: Uint32Array;
}

/** Most curve points a run reports (the fit uses all of them). */
const MAX_CURVE_POINTS = 32;

export async function capacitySweepJob(
  engine: GpuEngine,
  ctx: JobHost<CapacityCreateRequest, SweepProgress>,
): Promise<SweepResult> {
  const req = ctx.input;
  const started = performance.now();
  const plan = planCapacity(req);
  const c = req.config, t = req.training;
  const uniformBits = uniformSequenceBits(c.seqLen, c.vocabSize);
  const done: SweepRun[] = [];
  const resumedFrom: SweepResult["resumedFrom"] = [];
  if (ctx.resumed) {
    const saved = await ctx.getArtifact(OUTCOMES_ARTIFACT);
    if (saved) done.push(...JSON.parse(new TextDecoder().decode(saved)) as SweepRun[]);
  }
  const isDone = (r: { datasetSize: number; seed: number }) =>
    done.some((d) => d.datasetSize === r.datasetSize && d.seed === r.seed);
  const optimizer = {
    lr: t.optimizer.lr,
    beta1: t.optimizer.betas[0],
    beta2: t.optimizer.betas[1],
    eps: t.optimizer.eps,
    weightDecay: t.optimizer.weightDecay,
  };
  const checkpointMs = (engine.options.sweepCheckpointSeconds ?? CHECKPOINT_SECONDS) * 1000;
  let tokensTrained = 0;
  let trainSeconds = 0;
  const evalSteps = evaluationSteps(t.schedule, t.evalEvery, t.maxSteps);
  const lastStep = evalSteps.at(-1)!;
  const testSets = new Map(plan.seeds.map((seed) => [
    seed,
    generateUniform({
      vocabSize: c.vocabSize,
      seqLen: c.seqLen,
      count: req.testSequences,
      seed: sweepTestSeed(seed),
    }).tokens,
  ]));

  for (let f = 0; f < plan.fleets.length; f++) {
    const todo = plan.fleets[f].filter((r) => !isDone(r));
    if (todo.length === 0) continue;
    const saved = ctx.resumed ? savedFleet(await ctx.getArtifact(FLEET_ARTIFACT), f, todo) : null;
    const startStep = saved?.checkpoint.step ?? 0;
    let members: Member[] = todo.map((r, i) => {
      const data = generateUniform({
        vocabSize: c.vocabSize,
        seqLen: c.seqLen,
        count: r.datasetSize,
        seed: sweepDataSeed(r.seed, r.datasetSize),
      });
      return {
        ...r,
        tokens: data.tokens,
        sampler: resumedSampler(
          r.datasetSize,
          t.batchSize,
          r.seed,
          startStep,
          saved?.states[i].sampler,
        ),
        curve: saved ? saved.curves[i] : [],
        testTokens: testSets.get(r.seed)!,
      };
    });
    let fleet = await newFleet(engine, req, members.length);
    if (saved) {
      saved.states.forEach((s, z) => writeModelState(fleet, z, s));
      fleet.step = startStep;
      resumedFrom.push({ fleet: f, step: startStep });
    } else {
      members.forEach((m, z) =>
        fleet.setParameters(z, initialParameters(c, m.seed, req.precision))
      );
    }
    let checkpointedAt = performance.now();
    const checkpoint = async () => {
      const extra: FleetExtra = {
        fleet: f,
        members: members.map((m) => ({ datasetSize: m.datasetSize, seed: m.seed, curve: m.curve })),
      };
      await ctx.putArtifact(
        FLEET_ARTIFACT,
        await captureFleetCheckpoint(
          fleet,
          fleet.step,
          extra,
          members.map((m) => m.sampler.state()),
        ),
      );
      checkpointedAt = performance.now();
    };
    try {
      while (members.length > 0) {
        const t0 = performance.now();
        const before = fleet.step;
        const until = evalSteps.find((e) => e > fleet.step) ?? lastStep;
        let tokensPerSec = 0;
        await trainSteps(fleet, {
          data: members,
          optimizer,
          schedule: t.schedule,
          totalSteps: lastStep,
          untilStep: until,
          readEvery: 200,
          onRead: async (p) => {
            // A stop of the service keeps this fleet's progress for the restart.
            await throwIfAbortedSaving(ctx, async () => {
              if (fleet.step > startStep) await checkpoint();
            });
            if (performance.now() - checkpointedAt >= checkpointMs) await checkpoint();
            tokensPerSec = p.tokensPerSecond;
            await ctx.progress({
              modelsDone: done.length,
              modelsTotal: plan.runs.length,
              fleet: f,
              fleets: plan.fleets.length,
              step: p.step,
              activeModels: members.length,
              tokensPerSec,
              tokensTrained: tokensTrained +
                (p.step - before) * members.length * t.batchSize * c.seqLen,
            });
          },
        });
        trainSeconds += (performance.now() - t0) / 1000;
        tokensTrained += (fleet.step - before) * members.length * t.batchSize * c.seqLen;
        const nll = await fleetSequenceNll(fleet, members.map((m) => m.tokens));
        const leaving: number[] = [];
        const saturated: boolean[] = [];
        members.forEach((m, z) => {
          m.curve.push({ step: fleet.step, bits: memorizedBits(nll[z].bits, uniformBits) });
          saturated[z] = saturation(m.curve, t.saturation).saturated;
          if (saturated[z] || fleet.step >= lastStep) leaving.push(z);
        });
        if (leaving.length === 0) continue;
        // Test loss only for the models that leave now: one more pass over the held-out set.
        const test = req.testSequences > 0
          ? await fleetSequenceNll(fleet, members.map((m) => m.testTokens))
          : null;
        for (const z of leaving) {
          const m = members[z];
          done.push({
            datasetSize: m.datasetSize,
            seed: m.seed,
            memorizedBits: m.curve.at(-1)!.bits,
            steps: fleet.step,
            saturated: saturated[z],
            curve: thinCurve(m.curve, MAX_CURVE_POINTS),
            trainLossBits: meanTokenBits(nll[z].bits, c.seqLen),
            testLossBits: test ? meanTokenBits(test[z].bits, c.seqLen) : null,
            asymptote: fitAsymptote(m.curve),
          });
        }
        const stay = members.filter((_, z) => !leaving.includes(z));
        if (stay.length > 0) fleet = await shrink(engine, req, fleet, members, stay);
        members = stay;
        await ctx.putArtifact(
          OUTCOMES_ARTIFACT,
          new TextEncoder().encode(JSON.stringify(done)),
        );
        // An older fleet checkpoint may still hold the models that just left: a resume takes
        // only the ones the outcomes lack (savedFleet), so it need not be rewritten here.
        if (members.length === 0) await ctx.deleteArtifact(FLEET_ARTIFACT);
        await ctx.progress({
          modelsDone: done.length,
          modelsTotal: plan.runs.length,
          fleet: f,
          fleets: plan.fleets.length,
          step: fleet.step,
          activeModels: members.length,
          tokensPerSec,
          tokensTrained,
        }, { persist: true });
      }
    } finally {
      fleet.destroy();
    }
  }

  const points = plan.points.map((p) => ({
    ...p,
    memorizedBits: plan.seeds.map((seed) =>
      done.find((d) => d.datasetSize === p.datasetSize && d.seed === seed)!.memorizedBits
    ),
  }));
  const fit = fitCapacity(points, { parameterCount: plan.parameterCount, seqLen: c.seqLen });
  const order = (a: SweepRun, b: SweepRun) => a.datasetSize - b.datasetSize || a.seed - b.seed;
  return {
    ...fit,
    runs: done.sort(order),
    budget: {
      maxSteps: lastStep,
      batchSize: t.batchSize,
      saturationFraction: t.saturation.fraction,
      schedule: t.schedule.kind,
      saturatedRuns: done.filter((r) => r.saturated).length,
    },
    extrapolated: extrapolateCapacity(done, plan.points, plan.parameterCount),
    seconds: (performance.now() - started) / 1000,
    tokensPerSecond: trainSeconds > 0 ? tokensTrained / trainSeconds : 0,
    resumedFrom,
  };
}

/**
 * The saved state of fleet f's models `todo`, in todo's order, or null when
 * the checkpoint is of another fleet or lacks one of them (then the fleet
 * starts again from step 0; its finished models are in the outcomes).
 */
function savedFleet(
  bytes: Uint8Array | null,
  f: number,
  todo: { datasetSize: number; seed: number }[],
) {
  if (!bytes) return null;
  const checkpoint = parseFleetCheckpoint(bytes);
  const extra = checkpoint.extra as unknown as FleetExtra;
  if (extra.fleet !== f) return null;
  const slots = todo.map((r) =>
    extra.members.findIndex((m) => m.datasetSize === r.datasetSize && m.seed === r.seed)
  );
  if (slots.some((i) => i < 0)) return null;
  return {
    checkpoint,
    states: slots.map((i) => checkpoint.models[i]),
    curves: slots.map((i) => extra.members[i].curve),
  };
}

/** Mean NLL per predicted token (bits) over sequences given per-sequence bits. */
function meanTokenBits(sequenceBits: Float64Array, seqLen: number): number {
  let s = 0;
  for (const b of sequenceBits) s += b;
  return s / (sequenceBits.length * (seqLen - 1));
}

async function newFleet(engine: GpuEngine, req: CapacityCreateRequest, K: number) {
  return await GptFleet.create(await engine.open(), {
    config: req.config,
    fleetSize: K,
    batchSize: req.training.batchSize,
    precision: req.precision,
    optimizer: req.training.optimizer.type,
    training: true,
    memoryBudgetBytes: engine.options.memoryBudgetBytes,
  });
}

/** Moves the staying models (weights and Adam state) into a fleet of their size. */
async function shrink(
  engine: GpuEngine,
  req: CapacityCreateRequest,
  fleet: GptFleet,
  members: Member[],
  stay: Member[],
): Promise<GptFleet> {
  const states = [];
  for (const m of stay) states.push(await readModelState(fleet, members.indexOf(m)));
  const step = fleet.step;
  fleet.destroy();
  const next = await newFleet(engine, req, stay.length);
  states.forEach((s, z) => writeModelState(next, z, s));
  next.step = step;
  return next;
}
