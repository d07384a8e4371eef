// The "capacity" job: one model per (dataset size, seed) on uniform random
// tokens, trained side by side in fleets of the same shape until each
// saturates or the budget runs out; a saturated model leaves its fleet at
// the next evaluation (the fleet shrinks, so it costs nothing after). Each run
// ends with a certificate (lib/training/saturation.ts) and its best annealed
// measurement; the fit (lib/capacity/fit.ts) turns the runs into a capacity
// and a verdict. While the verdict is not certified the sweep may go on:
// a dataset twice the largest when the plateau lies beyond the grid
// (maxExtraSizes), and with until "certified" one more doubling of steps for
// the runs that decide the answer, until certified or the token budget is spent.
//
// Resuming after a restart: finished runs are kept (OUTCOMES_ARTIFACT) and
// never retrained; every later decision is made again from them, so a resumed
// sweep takes the same path. The group in training is checkpointed
// (FLEET_ARTIFACT, tagged with the group's key) every CHECKPOINT_SECONDS of
// training and when the service stops. (By time, not at every evaluation: a
// paper-scale fleet's checkpoint is hundreds of MB.) With until "certified" a
// run that ends unsaturated keeps its state (runStateArtifact) to go on from.
//
// A kill may come after any write. A kept state is named by its step, so the
// outcome recorded after it is what makes it the run's state (a kill in
// between leaves the run on the state it started from); the state it replaced
// is deleted once that outcome is recorded. The end is exactly once: the
// result is recorded (RESULT_ARTIFACT) before the sweep deletes what only a
// resume needs, and a restart that finds it returns it (finishSweep).
import { GptFleet } from "../fleet/gpt_fleet.ts";
import { fleetSequenceNll } from "../likelihood.ts";
import { type ModelData, resumedSampler, trainSteps } from "../trainer.ts";
import type { GpuEngine } from "../engine.ts";
import { memorizedBits, thinCurve } from "./train_run.ts";
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
import { decidingSizes, fitCapacity, needsLargerDatasets } from "../../lib/capacity/fit.ts";
import {
  extraDatasetSize,
  fleetsOf,
  MAX_CERTIFY_STEPS,
  planCapacity,
} from "../../lib/capacity/plan.ts";
import { datasetBits } from "../../lib/capacity/grid.ts";
import type {
  CapacityCreateRequest,
  SweepProgress,
  SweepResult,
  SweepRun,
} from "../../lib/capacity/schemas.ts";
import { extrapolateCapacity, sweepDataSeed, sweepTestSeed } from "../../lib/capacity/sweep.ts";
import { fitAsymptote } from "../../lib/capacity/asymptote.ts";
import { evaluationSteps } from "../../lib/training/schedule.ts";
import { generateUniformAsync } from "../../lib/datasets/uniform.ts";
import { uniformSequenceBits } from "../../lib/memorization/memorization.ts";
import { initialParameters } from "../../lib/model/init.ts";
import { certify, type CurvePoint, saturation } from "../../lib/training/saturation.ts";

/** Finished runs, kept as an artifact so a resumed sweep skips them. */
const OUTCOMES_ARTIFACT = "outcomes.json";
/** The models still training in the current group (FleetCheckpoint). */
const FLEET_ARTIFACT = "fleet.safetensors";
/** Training wall time between two fleet checkpoints (EngineOptions can change it). */
const CHECKPOINT_SECONDS = 120;
/** Most curve points a run reports (the fit uses all of them). */
const MAX_CURVE_POINTS = 32;
/** The sweep's result, recorded before its end deletes anything; it stays with the sweep. */
const RESULT_ARTIFACT = "result.json";

/** The state an unsaturated run keeps at `step` for until "certified" to go on from. */
function runStateArtifact(r: RunKey, step: number): string {
  return `run-${r.datasetSize}-${r.seed}-${step}.safetensors`;
}

/** A kept state's name before states were named by step (a sweep begun by an older version). */
function legacyRunStateArtifact(r: RunKey): string {
  return `run-${r.datasetSize}-${r.seed}.safetensors`;
}

interface RunKey {
  datasetSize: number;
  seed: number;
}

/** What a finished run keeps besides its report: its whole curve (the report is thinned). */
interface Outcome extends SweepRun {
  fullCurve: CurvePoint[];
  /** Step of the kept state this run went on from, superseded by this outcome. */
  replacedState?: number;
}

/** A group of runs trained side by side from one step to one target. */
interface Group {
  /** Names the group in its fleet checkpoint, so a resume matches it. */
  key: string;
  runs: RunKey[];
  /** Step every run starts from (0, or where an earlier group left them). */
  fromStep: number;
  /** Last step of this group. */
  untilStep: number;
}

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

export async function capacitySweepJob(
  engine: GpuEngine,
  ctx: JobHost<CapacityCreateRequest, SweepProgress>,
): Promise<SweepResult> {
  const req = ctx.input;
  const started = performance.now();
  const plan = planCapacity(req);
  const c = req.config, t = req.training;
  const tokensPerStep = t.batchSize * c.seqLen;
  const baseSteps = evaluationSteps(t.schedule, t.evalEvery, t.maxSteps).at(-1)!;
  const keepStates = req.until === "certified";
  const tokenBudget = keepStates
    ? req.tokenBudget ?? 4 * plan.runs.length * baseSteps * tokensPerStep
    : null;
  const done: Outcome[] = [];
  const resumedFrom: SweepResult["resumedFrom"] = [];
  if (ctx.resumed) {
    const saved = await ctx.getArtifact(OUTCOMES_ARTIFACT);
    if (saved) done.push(...JSON.parse(new TextDecoder().decode(saved)) as Outcome[]);
    // A kill may have come between an outcome and the delete of the state it replaced.
    for (const d of done) {
      if (d.replacedState) await ctx.deleteArtifact(runStateArtifact(d, d.replacedState));
    }
    const recorded = await ctx.getArtifact(RESULT_ARTIFACT);
    if (recorded) {
      return await finishSweep(ctx, JSON.parse(new TextDecoder().decode(recorded)), done);
    }
  }
  const find = (r: RunKey) =>
    done.find((d) => d.datasetSize === r.datasetSize && d.seed === r.seed);
  const elapsedSeconds = () => (performance.now() - started) / 1000;
  // Progress from the first second: the test sets and the first compile take a while.
  await ctx.progress({
    phase: "preparing",
    modelsDone: done.length,
    modelsTotal: plan.runs.length,
    fleet: 0,
    fleets: 0,
    step: 0,
    stepsPlanned: 0,
    activeModels: 0,
    tokensPerSec: 0,
    tokensTrained: 0,
    elapsedSeconds: elapsedSeconds(),
    etaSeconds: null,
  });
  // Generated in chunks that let the engine's event loop turn: a cancel or a stop of the
  // service (ctx.throwIfAborted) takes effect within one chunk, even for large datasets.
  const testSets = new Map<number, Uint32Array>();
  for (const seed of plan.seeds) {
    testSets.set(
      seed,
      (await generateUniformAsync({
        vocabSize: c.vocabSize,
        seqLen: c.seqLen,
        count: req.testSequences,
        seed: sweepTestSeed(seed),
      }, () => ctx.throwIfAborted())).tokens,
    );
  }
  const counters = { tokensTrained: 0, trainSeconds: 0 };
  const sizes = [...plan.datasetSizes];
  const addedSizes: number[] = [];
  let modelsTotal = plan.runs.length;

  /**
   * Trains one group in fleets of at most maxFleetSize (the same fleets on a resume, less the
   * runs already finished); the runs it finishes replace their earlier outcomes.
   */
  const train = async (g: Group) => {
    const fleets = fleetsOf(g.runs, req.maxFleetSize);
    const todoOf = (fleet: RunKey[]) =>
      fleet.filter((r) => (find(r)?.steps ?? 0) < g.untilStep && !finished(r));
    for (let f = 0; f < fleets.length; f++) {
      const todo = todoOf(fleets[f]);
      if (todo.length === 0) continue;
      // The model-steps the group's later fleets plan, for the ETA.
      const plannedAfter = fleets.slice(f + 1)
        .reduce((sum, later) => sum + todoOf(later).length * (g.untilStep - g.fromStep), 0);
      await trainFleetGroup(engine, ctx, {
        group: g,
        fleet: f,
        fleets: fleets.length,
        runs: todo,
        testSets,
        keepStates,
        progress: () => ({ modelsDone: done.length, modelsTotal }),
        plannedAfter,
        elapsedSeconds,
        record: async (o) => {
          const i = done.findIndex((d) => d.datasetSize === o.datasetSize && d.seed === o.seed);
          if (i >= 0) done[i] = o;
          else done.push(o);
          await ctx.putArtifact(OUTCOMES_ARTIFACT, new TextEncoder().encode(JSON.stringify(done)));
        },
        counters,
        resumedFrom,
        tokensPerStep,
      });
    }
  };
  /** A run that left at saturation (or past the group's target) is not trained again. */
  const finished = (r: RunKey) => find(r)?.certificate.status === "saturated";
  const fit = () =>
    fitCapacity(
      sizes.map((n) => {
        const runs = plan.seeds.map((seed) => find({ datasetSize: n, seed })!);
        return {
          datasetSize: n,
          datasetBits: datasetBits(n, c.seqLen, c.vocabSize),
          memorizedBits: runs.map((r) => r.memorizedBits),
          statuses: runs.map((r) => r.certificate.status),
        };
      }),
      { parameterCount: plan.parameterCount, plateauTolerance: req.plateauTolerance },
    );
  const runsOf = (n: number) => plan.seeds.map((seed) => ({ datasetSize: n, seed }));

  await train({ key: "base", runs: plan.runs, fromStep: 0, untilStep: baseSteps });
  let stopped: string | null = null;
  let result = fit();
  while (result.verdict !== "certified") {
    if (needsLargerDatasets(result.reasons) && addedSizes.length < req.maxExtraSizes) {
      const extra = extraDatasetSize(sizes, plan.seeds.length, c);
      if (extra.size === null) {
        stopped = `no larger dataset: ${extra.why}`;
        break;
      }
      sizes.push(extra.size);
      addedSizes.push(extra.size);
      modelsTotal += plan.seeds.length;
      await train({
        key: `size-${extra.size}`,
        runs: runsOf(extra.size),
        fromStep: 0,
        untilStep: baseSteps,
      });
      result = fit();
      continue;
    }
    if (!keepStates) break;
    // One more doubling for the unsaturated runs that decide the answer, the least trained
    // first (runs added later start behind the others).
    const deciding = decidingSizes(result.points).flatMap(runsOf).map((r) => find(r)!)
      .filter((r) => r.certificate.status !== "saturated");
    if (deciding.length === 0) {
      stopped = "every run that decides the answer is saturated; more training cannot help";
      break;
    }
    const from = Math.min(...deciding.map((r) => r.steps));
    const until = 2 * from;
    const group = deciding.filter((r) => r.steps === from);
    const spent = done.reduce((s, r) => s + r.certificate.tokens, 0);
    const cost = group.length * (until - from) * tokensPerStep;
    if (until > MAX_CERTIFY_STEPS) {
      stopped = `the next doubling (${until} steps) would pass ${MAX_CERTIFY_STEPS} steps`;
      break;
    }
    if (spent + cost > tokenBudget!) {
      stopped = `the next doubling (${group.length} runs to ${until} steps, ${cost} tokens) ` +
        `would pass the token budget (${spent} of ${tokenBudget} spent)`;
      break;
    }
    await train({ key: `more-${until}`, runs: group, fromStep: from, untilStep: until });
    result = fit();
  }

  const order = (a: SweepRun, b: SweepRun) => a.datasetSize - b.datasetSize || a.seed - b.seed;
  const runs: SweepRun[] = done.sort(order).map(({ fullCurve: _, replacedState: _r, ...r }) => r);
  const sweep: SweepResult = {
    ...result,
    runs,
    budget: {
      maxSteps: baseSteps,
      batchSize: t.batchSize,
      saturationFraction: t.saturation.fraction,
      schedule: t.schedule.kind,
      saturatedRuns: runs.filter((r) => r.saturated).length,
      until: req.until,
      tokenBudget,
      tokensSpent: runs.reduce((s, r) => s + r.certificate.tokens, 0),
      addedSizes,
      stopped,
    },
    extrapolated: extrapolateCapacity(
      done,
      result.points.map((p) => ({ datasetSize: p.datasetSize, datasetBits: p.datasetBits })),
      plan.parameterCount,
    ),
    seconds: (performance.now() - started) / 1000,
    tokensPerSecond: counters.trainSeconds > 0 ? counters.tokensTrained / counters.trainSeconds : 0,
    resumedFrom,
  };
  await ctx.putArtifact(RESULT_ARTIFACT, new TextEncoder().encode(JSON.stringify(sweep)));
  return await finishSweep(ctx, sweep, done);
}

/**
 * The rest of a sweep's end once its result is recorded, on the attempt that recorded it or
 * on a restart that found it; every step may be repeated after a kill. Deletes what only a
 * resume needed: the last fleet's checkpoint (a kill may have come before its own delete)
 * and the runs' kept states.
 */
async function finishSweep(
  ctx: JobHost<CapacityCreateRequest, SweepProgress>,
  result: SweepResult,
  done: Outcome[],
): Promise<SweepResult> {
  await ctx.deleteArtifact(FLEET_ARTIFACT);
  if (ctx.input.until === "certified") {
    for (const r of done) {
      await ctx.deleteArtifact(runStateArtifact(r, r.steps));
      if (ctx.resumed) await ctx.deleteArtifact(legacyRunStateArtifact(r));
    }
  }
  return result;
}

/**
 * Trains one fleet of a group from the group's start (fresh models at step 0,
 * else each run's kept state) to its target, measuring at the schedule's
 * evaluation steps; a run leaves at saturation or at the target, with its
 * certificate, and `record` keeps it.
 */
async function trainFleetGroup(
  engine: GpuEngine,
  ctx: JobHost<CapacityCreateRequest, SweepProgress>,
  o: {
    group: Group;
    /** Index of this fleet among the group's, and how many it has. */
    fleet: number;
    fleets: number;
    runs: RunKey[];
    testSets: Map<number, Uint32Array>;
    keepStates: boolean;
    progress: () => { modelsDone: number; modelsTotal: number };
    /** Model-steps planned after this fleet (the ETA counts them). */
    plannedAfter: number;
    elapsedSeconds: () => number;
    record: (o: Outcome) => Promise<void>;
    counters: { tokensTrained: number; trainSeconds: number };
    resumedFrom: SweepResult["resumedFrom"];
    tokensPerStep: number;
  },
) {
  const req = ctx.input, c = req.config, t = req.training, g = o.group;
  const key = `${g.key}#${o.fleet}`;
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
  const saved = ctx.resumed ? savedFleet(await ctx.getArtifact(FLEET_ARTIFACT), key, o.runs) : null;
  // Where each run starts: the group's checkpoint, else its kept state (a later group), else fresh.
  const starts: { state: ModelState | null; curve: CurvePoint[] }[] = [];
  for (let i = 0; i < o.runs.length; i++) {
    if (saved) starts.push({ state: saved.states[i], curve: saved.curves[i] });
    else if (g.fromStep > 0) {
      const bytes = await ctx.getArtifact(runStateArtifact(o.runs[i], g.fromStep)) ??
        await ctx.getArtifact(legacyRunStateArtifact(o.runs[i]));
      if (!bytes) throw new Error(`run ${o.runs[i].datasetSize}/${o.runs[i].seed}: no kept state`);
      const kept = parseCheckpoint(bytes);
      starts.push({ state: kept, curve: (kept.extra as { curve: CurvePoint[] }).curve });
    } else starts.push({ state: null, curve: [] });
  }
  const startStep = saved?.checkpoint.step ?? g.fromStep;
  let active = o.runs.length;
  let tokensPerSec = 0;
  const report = async (
    phase: SweepProgress["phase"],
    step: number,
    tokensTrained: number,
    persist = false,
  ) => {
    // Model-steps per second from the fleet's throughput, over those left in the plan.
    const rate = tokensPerSec / o.tokensPerStep;
    const left = active * (g.untilStep - step) + o.plannedAfter;
    await ctx.progress({
      phase,
      ...o.progress(),
      fleet: o.fleet,
      fleets: o.fleets,
      step,
      stepsPlanned: g.untilStep,
      activeModels: active,
      tokensPerSec,
      tokensTrained,
      elapsedSeconds: o.elapsedSeconds(),
      etaSeconds: rate > 0 ? left / rate : null,
    }, { persist });
  };
  await report("preparing", startStep, o.counters.tokensTrained);
  // Each model's dataset, in chunks that a cancel or stop can interrupt (generateUniformAsync).
  const datasets: Uint32Array[] = [];
  for (const r of o.runs) {
    datasets.push(
      (await generateUniformAsync({
        vocabSize: c.vocabSize,
        seqLen: c.seqLen,
        count: r.datasetSize,
        seed: sweepDataSeed(r.seed, r.datasetSize),
      }, () => ctx.throwIfAborted())).tokens,
    );
  }
  let members: Member[] = o.runs.map((r, i) => ({
    ...r,
    tokens: datasets[i],
    sampler: resumedSampler(
      r.datasetSize,
      t.batchSize,
      r.seed,
      startStep,
      starts[i].state?.sampler,
    ),
    curve: starts[i].curve,
    testTokens: o.testSets.get(r.seed)!,
  }));
  await report("compiling", startStep, o.counters.tokensTrained);
  let fleet = await newFleet(engine, req, members.length);
  if (saved) o.resumedFrom.push({ group: g.key, fleet: o.fleet, step: startStep });
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
    await ctx.putArtifact(
      FLEET_ARTIFACT,
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
          await throwIfAbortedSaving(ctx, async () => {
            if (fleet.step > startStep) await checkpoint();
          });
          if (performance.now() - checkpointedAt >= checkpointMs) await checkpoint();
          tokensPerSec = p.tokensPerSecond;
          const partial = (p.step - before) * members.length * o.tokensPerStep;
          await report("training", p.step, o.counters.tokensTrained + partial);
        },
      });
      o.counters.trainSeconds += (performance.now() - t0) / 1000;
      o.counters.tokensTrained += (fleet.step - before) * members.length * o.tokensPerStep;
      // Checked before every batch: evaluating a large dataset takes long, and a cancel or a
      // stop must not wait for it (a stop resumes from the last fleet checkpoint).
      await report("evaluating", fleet.step, o.counters.tokensTrained);
      const nll = await fleetSequenceNll(fleet, members.map((m) => m.tokens), false, ctx);
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
        ? await fleetSequenceNll(fleet, members.map((m) => m.testTokens), false, ctx)
        : null;
      for (const z of leaving) {
        const m = members[z];
        // Every measurement is annealed with cosine-restarts (cycle ends); otherwise only the
        // last one is, and the run's figure is that.
        const certificate = certify(m.curve, {
          steps: fleet.step,
          tokensPerStep: o.tokensPerStep,
          annealed: t.schedule.kind === "cosine-restarts" ? "all" : "last",
        }, t.saturation);
        if (o.keepStates && certificate.status !== "saturated") {
          await ctx.putArtifact(
            runStateArtifact(m, fleet.step),
            await captureCheckpoint(fleet, z, fleet.step, { curve: m.curve }, m.sampler.state()),
          );
        }
        await o.record({
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
          asymptote: fitAsymptote(m.curve),
          ...(g.fromStep > 0 ? { replacedState: g.fromStep } : {}),
        });
        // The state this run went on from is superseded now that its outcome is recorded.
        if (g.fromStep > 0) await ctx.deleteArtifact(runStateArtifact(m, g.fromStep));
      }
      const stay = members.filter((_, z) => !leaving.includes(z));
      if (stay.length > 0) fleet = await shrink(engine, req, fleet, members, stay);
      members = stay;
      active = members.length;
      // An older fleet checkpoint may still hold the models that just left: a resume takes
      // only the ones the outcomes lack (savedFleet), so it need not be rewritten here.
      if (members.length === 0) await ctx.deleteArtifact(FLEET_ARTIFACT);
      await report(
        members.length > 0 ? "training" : "evaluating",
        fleet.step,
        o.counters.tokensTrained,
        true,
      );
    }
  } finally {
    fleet.destroy();
  }
}

/**
 * The saved state of group `key`'s runs, in `runs`' order, or null when the
 * checkpoint is of another group or lacks one of them (then the group starts
 * again from its start; its finished runs are in the outcomes).
 */
function savedFleet(bytes: Uint8Array | null, key: string, runs: RunKey[]) {
  if (!bytes) return null;
  const checkpoint = parseFleetCheckpoint(bytes);
  const extra = checkpoint.extra as unknown as FleetExtra;
  if (extra.group !== key) return null;
  const slots = runs.map((r) =>
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
