// One fleet of a capacity sweep (lib/capacity/fleet_task.ts): its runs train
// side by side from the group's start (fresh models at step 0, else each run's
// kept state) to the group's target, measured at the schedule's evaluation
// steps; a run leaves at saturation or at the target with its certificate
// (lib/training/saturation.ts) and its best annealed measurement, and the
// fleet shrinks, so a saturated model costs nothing after.
//
// Resuming: a run's outcome is written (fleetOutcomesArtifact) as it leaves,
// so a resumed fleet trains only the others, from the fleet's checkpoint
// (fleetCheckpointArtifact, every CHECKPOINT_SECONDS of training and when the
// service stops; by time, since a paper-scale fleet's checkpoint is hundreds
// of MB). With until "certified" a run that ends unsaturated keeps its state
// (runStateArtifact, named by its step) for a later group to go on from; the
// state it went on from is deleted once its new outcome is written, so a kill
// in between leaves the run on the state it started from.
import { GptFleet } from "../fleet/gpt_fleet.ts";
import { fleetSequenceNll } from "../likelihood.ts";
import { type ModelData, resumedSampler, trainSteps } from "../trainer.ts";
import type { GpuEngine } from "../engine.ts";
import { clipCreditBits, memorizedBits, thinCurve } from "./train_run.ts";
import {
  captureCheckpoint,
  captureFleetCheckpoint,
  type ModelState,
  parseCheckpoint,
  parseFleetCheckpoint,
  readModelState,
  throwIfAbortedSaving,
  writeModelState,
} from "./checkpoint.ts";
import type { JobHost } from "../../lib/engine_interface.ts";
import type { CapacityCreateRequest } from "../../lib/capacity/schemas.ts";
import {
  encodeJson,
  fleetCheckpointArtifact,
  fleetKey,
  fleetOutcomes,
  fleetOutcomesArtifact,
  type FleetProgress,
  type FleetResult,
  type FleetTask,
  legacyRunStateArtifact,
  type RunKey,
  runStateArtifact,
  sameRun,
} from "../../lib/capacity/fleet_task.ts";
import { sweepDataSeed, sweepTestSeed } from "../../lib/capacity/sweep.ts";
import { fitAsymptote } from "../../lib/capacity/asymptote.ts";
import { evaluationSteps } from "../../lib/training/schedule.ts";
import { generateUniformAsync } from "../../lib/datasets/uniform.ts";
import { uniformSequenceBits } from "../../lib/memorization/memorization.ts";
import { initialParameters } from "../../lib/model/init.ts";
import { certify, type CurvePoint, saturation } from "../../lib/training/saturation.ts";

/** Training wall time between two fleet checkpoints (EngineOptions can change it). */
const CHECKPOINT_SECONDS = 120;
/** The one fleet checkpoint of a sweep begun by an older version (its key `group#fleet`). */
export const LEGACY_FLEET_ARTIFACT = "fleet.safetensors";
/** Most curve points a run reports (the fit uses all of them). */
const MAX_CURVE_POINTS = 32;

/** What a fleet checkpoint's `extra` holds besides the model states. */
type FleetExtra = {
  group: string;
  members: { datasetSize: number; seed: number; curve: CurvePoint[] }[];
};

interface Member extends ModelData, RunKey {
  curve: CurvePoint[];
  /** The seed's held-out sequences (empty when testSequences is 0). */
  testTokens: Uint32Array;
}

/**
 * Trains `host.input`'s runs to the group's target; every artifact goes through `host` (the
 * sweep's record). Returns once every run's outcome is written (fleetOutcomes reads them).
 */
export async function capacityFleetJob(
  engine: GpuEngine,
  host: JobHost<FleetTask, FleetProgress>,
): Promise<FleetResult> {
  const task = host.input, req = task.request, c = req.config, t = req.training, g = task.group;
  const key = fleetKey(g, task.fleet);
  const checkpointArtifact = fleetCheckpointArtifact(key);
  const keepStates = req.until === "certified";
  const tokensPerStep = t.batchSize * c.seqLen;
  const result: FleetResult = { trainSeconds: 0, tokensTrained: 0, resumedFromStep: null };
  const outcomes = await fleetOutcomes(host, key);
  // A kill may have come between an outcome and the delete of the state it replaced.
  for (const o of outcomes) {
    if (o.replacedState) await host.deleteArtifact(runStateArtifact(o, o.replacedState));
  }
  const runs = task.runs.filter((r) => !outcomes.some((o) => sameRun(o, r)));
  // Every run left already: a kill came after the last outcome; nothing to train or report.
  if (runs.length === 0) {
    await host.deleteArtifact(checkpointArtifact);
    return result;
  }
  const uniformBits = uniformSequenceBits(c.seqLen, c.vocabSize);
  const evalSteps = evaluationSteps(t.schedule, t.evalEvery, g.untilStep)
    .filter((s) => s > g.fromStep);
  const optimizer = {
    lr: t.optimizer.lr,
    beta1: t.optimizer.betas[0],
    beta2: t.optimizer.betas[1],
    eps: t.optimizer.eps,
    weightDecay: t.optimizer.weightDecay,
  };
  const checkpointMs = (engine.options.sweepCheckpointSeconds ?? CHECKPOINT_SECONDS) * 1000;
  const saved = savedFleet(await host.getArtifact(checkpointArtifact), key, runs) ??
    savedFleet(await host.getArtifact(LEGACY_FLEET_ARTIFACT), `${g.key}#${task.fleet}`, runs);
  // Where each run starts: the fleet's checkpoint, else its kept state (a later group), else fresh.
  const starts: { state: ModelState | null; curve: CurvePoint[] }[] = [];
  for (const r of runs) {
    const i = starts.length;
    if (saved) starts.push({ state: saved.states[i], curve: saved.curves[i] });
    else if (g.fromStep > 0) {
      const bytes = await host.getArtifact(runStateArtifact(r, g.fromStep)) ??
        await host.getArtifact(legacyRunStateArtifact(r));
      if (!bytes) throw new Error(`run ${r.datasetSize}/${r.seed}: no kept state`);
      const kept = parseCheckpoint(bytes);
      starts.push({ state: kept, curve: (kept.extra as { curve: CurvePoint[] }).curve });
    } else starts.push({ state: null, curve: [] });
  }
  const startStep = saved?.checkpoint.step ?? g.fromStep;
  let active = runs.length;
  let tokensPerSec = 0;
  const report = (phase: FleetProgress["phase"], step: number, tokens: number, persist = false) =>
    host.progress({
      phase,
      step,
      stepsPlanned: g.untilStep,
      activeModels: active,
      modelsDone: task.runs.length - active,
      tokensPerSec,
      tokensTrained: tokens,
    }, { persist });
  await report("preparing", startStep, 0);
  // Datasets and held-out sets in chunks that a cancel or stop can interrupt.
  const generate = async (count: number, seed: number) =>
    (await generateUniformAsync(
      { vocabSize: c.vocabSize, seqLen: c.seqLen, count, seed },
      () => host.throwIfAborted(),
    )).tokens;
  const testSets = new Map<number, Uint32Array>();
  for (const r of runs) {
    if (!testSets.has(r.seed)) {
      testSets.set(r.seed, await generate(req.testSequences, sweepTestSeed(r.seed)));
    }
  }
  let members: Member[] = [];
  for (const [i, r] of runs.entries()) {
    members.push({
      ...r,
      tokens: await generate(r.datasetSize, sweepDataSeed(r.seed, r.datasetSize)),
      sampler: resumedSampler(
        r.datasetSize,
        t.batchSize,
        r.seed,
        startStep,
        starts[i].state?.sampler,
      ),
      curve: starts[i].curve,
      testTokens: testSets.get(r.seed)!,
    });
  }
  await report("compiling", startStep, 0);
  let fleet = await newFleet(engine, req, members.length);
  if (saved) result.resumedFromStep = startStep;
  members.forEach((m, z) => {
    const s = starts[z].state;
    if (s) writeModelState(fleet, z, s);
    else fleet.setParameters(z, initialParameters(c, m.seed, req.precision));
  });
  fleet.step = startStep;
  let checkpointedAt = performance.now();
  const checkpoint = async () => {
    const extra: FleetExtra = {
      group: key,
      members: members.map((m) => ({ datasetSize: m.datasetSize, seed: m.seed, curve: m.curve })),
    };
    await host.putArtifact(
      checkpointArtifact,
      await captureFleetCheckpoint(fleet, fleet.step, extra, members.map((m) => m.sampler.state())),
    );
    checkpointedAt = performance.now();
  };
  try {
    while (members.length > 0) {
      const t0 = performance.now();
      const before = fleet.step;
      const until = evalSteps.find((e) => e > fleet.step) ?? g.untilStep;
      await trainSteps(fleet, {
        data: members,
        optimizer,
        schedule: t.schedule,
        totalSteps: g.untilStep,
        untilStep: until,
        readEvery: 200,
        onRead: async (p) => {
          // A stop of the service keeps this fleet's progress for the restart.
          await throwIfAbortedSaving(host, async () => {
            if (fleet.step > startStep) await checkpoint();
          });
          if (performance.now() - checkpointedAt >= checkpointMs) await checkpoint();
          tokensPerSec = p.tokensPerSecond;
          const partial = (p.step - before) * members.length * tokensPerStep;
          await report("training", p.step, result.tokensTrained + partial);
        },
      });
      result.trainSeconds += (performance.now() - t0) / 1000;
      result.tokensTrained += (fleet.step - before) * members.length * tokensPerStep;
      // Checked before every batch: evaluating a large dataset takes long, and a cancel or a
      // stop must not wait for it (a stop resumes from the last fleet checkpoint).
      await report("evaluating", fleet.step, result.tokensTrained);
      const nll = await fleetSequenceNll(fleet, members.map((m) => m.tokens), false, host);
      const leaving: number[] = [];
      members.forEach((m, z) => {
        m.curve.push({ step: fleet.step, bits: memorizedBits(nll[z].bits, uniformBits) });
        if (saturation(m.curve, t.saturation).saturated || fleet.step >= g.untilStep) {
          leaving.push(z);
        }
      });
      if (leaving.length === 0) continue;
      // Test loss only for the models that leave now: one more pass over the held-out set.
      const test = req.testSequences > 0
        ? await fleetSequenceNll(fleet, members.map((m) => m.testTokens), false, host)
        : null;
      for (const z of leaving) {
        const m = members[z];
        // Every measurement is annealed with cosine-restarts (cycle ends); otherwise only the
        // last one is, and the run's figure is that.
        const certificate = certify(m.curve, {
          steps: fleet.step,
          tokensPerStep,
          annealed: t.schedule.kind === "cosine-restarts" ? "all" : "last",
        }, t.saturation);
        if (keepStates && certificate.status !== "saturated") {
          await host.putArtifact(
            runStateArtifact(m, fleet.step),
            await captureCheckpoint(fleet, z, fleet.step, { curve: m.curve }, m.sampler.state()),
          );
        }
        outcomes.push({
          datasetSize: m.datasetSize,
          seed: m.seed,
          memorizedBits: certificate.bestBits,
          steps: fleet.step,
          saturated: certificate.status === "saturated",
          certificate,
          curve: thinCurve(m.curve, MAX_CURVE_POINTS),
          fullCurve: m.curve,
          trainLossBits: meanTokenBits(nll[z].bits, c.seqLen),
          testLossBits: test ? meanTokenBits(test[z].bits, c.seqLen) : null,
          // What the clipped per-sample sum credits to N sequences never trained on.
          unseenBits: test
            ? memorizedBits(test[z].bits, uniformBits) * m.datasetSize / test[z].bits.length
            : null,
          clipCreditBits: clipCreditBits(nll[z].bits, uniformBits),
          asymptote: fitAsymptote(m.curve),
          ...(g.fromStep > 0 ? { replacedState: g.fromStep } : {}),
        });
        await host.putArtifact(fleetOutcomesArtifact(key), encodeJson(outcomes));
        // The state this run went on from is superseded now that its outcome is recorded.
        if (g.fromStep > 0) await host.deleteArtifact(runStateArtifact(m, g.fromStep));
      }
      const stay = members.filter((_, z) => !leaving.includes(z));
      if (stay.length > 0) fleet = await shrink(engine, req, fleet, members, stay);
      members = stay;
      active = members.length;
      // An older fleet checkpoint may still hold the models that just left: a resume takes
      // only the ones the outcomes lack (savedFleet), so it need not be rewritten here.
      if (members.length === 0) {
        await host.deleteArtifact(checkpointArtifact);
        if (saved) await host.deleteArtifact(LEGACY_FLEET_ARTIFACT);
      }
      await report(
        members.length > 0 ? "training" : "evaluating",
        fleet.step,
        result.tokensTrained,
        true,
      );
    }
  } finally {
    fleet.destroy();
  }
  return result;
}

/**
 * The saved state of fleet `key`'s runs, in `runs`' order, or null when the
 * checkpoint is of another fleet or lacks one of them (then the fleet starts
 * again from its group's start; its finished runs are in its outcomes).
 */
function savedFleet(bytes: Uint8Array | null, key: string, runs: RunKey[]) {
  if (!bytes) return null;
  const checkpoint = parseFleetCheckpoint(bytes);
  const extra = checkpoint.extra as unknown as FleetExtra;
  if (extra.group !== key) return null;
  const slots = runs.map((r) => extra.members.findIndex((m) => sameRun(m, r)));
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
