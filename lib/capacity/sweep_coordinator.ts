// The "capacity" job's plan and decisions: one model per (dataset size, seed)
// on uniform random tokens, trained in fleets of the same shape; the fit
// (lib/capacity/fit.ts) turns the finished runs into a capacity and a verdict.
// While the verdict is not certified the sweep may go on: a dataset twice the
// largest when the plateau lies beyond the grid (maxExtraSizes), and with
// until "certified" one more doubling of steps for the runs that decide the
// answer, until certified or the token budget is spent.
//
// The coordinator trains nothing itself: each fleet of a group is a task
// (lib/capacity/fleet_task.ts) that a FleetRunner trains, one after another
// in this process (gpu/jobs/capacity_sweep.ts) or as jobs that any node of
// the service may claim (lib/jobs/fleet_jobs.ts); a group's next decision
// waits for all its fleets. Either way the runs are the same, so the result
// is too.
//
// Resuming after a restart: finished runs are kept (OUTCOMES_ARTIFACT, merged
// from the fleets' own outcomes when a group ends) and never retrained; every
// later decision is made again from them, so a resumed sweep takes the same
// path. The end is exactly once: the result is recorded (RESULT_ARTIFACT)
// before the sweep deletes what only a resume needs, and a restart that finds
// it returns it (finishSweep).
//
// Extending: a sweep stopped by its token budget keeps its unsaturated runs'
// states, and POST /v1/capacity/{id}/extend queues it again with a larger
// budget. It resumes like a restart; its recorded result, stopped at a
// smaller budget, is not the end, and the loop goes on where that budget
// stopped it. Decisions do not depend on the budget, only where they stop,
// so the result is the one a single sweep with the larger budget gets.
import type { JobHost } from "../engine_interface.ts";
import { decidingSizes, fitCapacity, needsLargerDatasets } from "./fit.ts";
import { extraDatasetSize, fleetsOf, MAX_CERTIFY_STEPS, planCapacity } from "./plan.ts";
import { datasetBits } from "./grid.ts";
import type {
  CapacityCreateRequest,
  SweepProgress,
  SweepResult,
  SweepRun,
  SweepStop,
} from "./schemas.ts";
import { extrapolateCapacity } from "./sweep.ts";
import {
  decodeJson,
  encodeJson,
  fleetKey,
  fleetOutcomesArtifact,
  type FleetProgress,
  type FleetResult,
  type FleetTask,
  type Group,
  legacyRunStateArtifact,
  type Outcome,
  type RunKey,
  runStateArtifact,
  sameRun,
} from "./fleet_task.ts";
import { evaluationSteps } from "../training/schedule.ts";

/** Finished runs, kept as an artifact so a resumed sweep skips them. */
const OUTCOMES_ARTIFACT = "outcomes.json";
/** The sweep's result, recorded before its end deletes anything; it stays with the sweep. */
const RESULT_ARTIFACT = "result.json";

export type SweepHost = JobHost<CapacityCreateRequest, SweepProgress>;

/**
 * Trains a group's fleet tasks to their end and returns what each reported; `report` takes
 * each fleet's progress as it comes (index into `tasks`). Throws when a fleet failed or the
 * sweep was cancelled or stopped. Each fleet's outcomes are in its artifact (fleetOutcomes).
 */
export interface FleetRunner {
  runGroup(
    tasks: FleetTask[],
    report: (i: number, p: FleetProgress, opts: { persist: boolean }) => Promise<void>,
  ): Promise<FleetResult[]>;
  /** The outcomes fleet `key` wrote (its finished runs). */
  outcomes(key: string): Promise<Outcome[]>;
}

export async function runCapacitySweep(
  host: SweepHost,
  runner: FleetRunner,
): Promise<SweepResult> {
  const req = host.input;
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
  /** Budgets an earlier end stopped at, when this attempt continues past them. */
  let extendedFrom: number[] = [];
  if (host.resumed) {
    const saved = await host.getArtifact(OUTCOMES_ARTIFACT);
    if (saved) done.push(...decodeJson<Outcome[]>(saved));
    // A kill may have come between an outcome and the delete of the state it replaced.
    for (const d of done) {
      if (d.replacedState) await host.deleteArtifact(runStateArtifact(d, d.replacedState));
    }
    const recorded = await host.getArtifact(RESULT_ARTIFACT);
    if (recorded) {
      const ended = decodeJson<SweepResult>(recorded);
      if (!goesPast(ended, tokenBudget)) return await finishSweep(host, ended, done);
      extendedFrom = [...(ended.budget.extendedFrom ?? []), ended.budget.tokenBudget!];
    }
  }
  const find = (r: RunKey) => done.find((d) => sameRun(d, r));
  const elapsedSeconds = () => (performance.now() - started) / 1000;
  // Progress from the first second: the first fleet's datasets and compile take a while.
  await host.progress({
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
  const counters = { tokensTrained: 0, trainSeconds: 0 };
  // Sizes added before a resume are restored from their runs, not decided again: the fit of
  // the later, longer-trained runs may no longer ask for them.
  const addedSizes = [...new Set(done.map((d) => d.datasetSize))]
    .filter((n) => !plan.datasetSizes.includes(n)).sort((a, b) => a - b);
  const sizes = [...plan.datasetSizes, ...addedSizes];
  let modelsTotal = plan.runs.length + addedSizes.length * plan.seeds.length;

  /**
   * Trains one group in fleets of at most maxFleetSize (the same fleets on a resume, less the
   * runs already finished); the runs it finishes replace their earlier outcomes.
   */
  const train = async (g: Group, runs: RunKey[]) => {
    const fleets = fleetsOf(runs, req.maxFleetSize);
    const tasks: FleetTask[] = [];
    for (const [f, fleet] of fleets.entries()) {
      const todo = fleet.filter((r) => (find(r)?.steps ?? 0) < g.untilStep && !finished(r));
      if (todo.length > 0) {
        tasks.push({
          sweepId: host.id,
          request: req,
          group: g,
          fleet: f,
          fleets: fleets.length,
          runs: todo,
        });
      } else {
        // Merged already; a kill may have come before its fleet's own outcomes were deleted.
        await host.deleteArtifact(fleetOutcomesArtifact(fleetKey(g, f)));
      }
    }
    if (tasks.length === 0) return;
    const doneBefore = done.length;
    const latest = tasks.map(() => null as FleetProgress | null);
    const results = await runner.runGroup(tasks, async (i, p, opts) => {
      latest[i] = p;
      const task = tasks[i];
      // Model-steps still planned in the group's other fleets, for the ETA.
      const plannedAfter = tasks.reduce((sum, other, j) => {
        if (j === i) return sum;
        const q = latest[j];
        const left = q ? q.activeModels * (q.stepsPlanned - q.step) : other.runs.length *
          (g.untilStep - g.fromStep);
        return sum + left;
      }, 0);
      const rate = p.tokensPerSec / tokensPerStep;
      const left = p.activeModels * (p.stepsPlanned - p.step) + plannedAfter;
      await host.progress({
        phase: p.phase,
        modelsDone: doneBefore + latest.reduce((s, q) => s + (q?.modelsDone ?? 0), 0),
        modelsTotal,
        fleet: task.fleet,
        fleets: task.fleets,
        step: p.step,
        stepsPlanned: p.stepsPlanned,
        activeModels: p.activeModels,
        tokensPerSec: p.tokensPerSec,
        tokensTrained: counters.tokensTrained + p.tokensTrained,
        elapsedSeconds: elapsedSeconds(),
        etaSeconds: rate > 0 ? left / rate : null,
      }, opts);
    });
    for (const [i, r] of results.entries()) {
      counters.trainSeconds += r.trainSeconds;
      counters.tokensTrained += r.tokensTrained;
      if (r.resumedFromStep !== null) {
        resumedFrom.push({ group: g.key, fleet: tasks[i].fleet, step: r.resumedFromStep });
      }
    }
    // One write merges the group: from here on its fleets' own outcomes are not needed.
    for (const task of tasks) {
      for (const o of await runner.outcomes(fleetKey(g, task.fleet))) {
        const i = done.findIndex((d) => sameRun(d, o));
        if (i >= 0) done[i] = o;
        else done.push(o);
      }
    }
    await host.putArtifact(OUTCOMES_ARTIFACT, encodeJson(done));
    for (const task of tasks) {
      await host.deleteArtifact(fleetOutcomesArtifact(fleetKey(g, task.fleet)));
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
          unseenBits: runs.map((r) => r.unseenBits ?? null),
          clipCreditBits: runs.map((r) => r.clipCreditBits ?? null),
        };
      }),
      { parameterCount: plan.parameterCount, plateauTolerance: req.plateauTolerance },
    );
  const runsOf = (n: number) => plan.seeds.map((seed) => ({ datasetSize: n, seed }));

  await train({ key: "base", fromStep: 0, untilStep: baseSteps }, plan.runs);
  let stopped: string | null = null;
  let stoppedBy: SweepStop = "certified";
  /** With a token-budget stop: the budget that pays for the training it stopped short of. */
  let tokensToGoOn: number | null = null;
  let result = fit();
  const spent = () => done.reduce((s, r) => s + r.certificate.tokens, 0);
  /** Whether `cost` more tokens pass the budget; if so the sweep stops there, saying why. */
  const passesBudget = (what: string, cost: number) => {
    if (tokenBudget === null || spent() + cost <= tokenBudget) return false;
    stopped = `${what} would pass the token budget (${spent()} of ${tokenBudget} spent)`;
    stoppedBy = "token-budget";
    tokensToGoOn = spent() + cost;
    return true;
  };
  while (result.verdict !== "certified") {
    if (needsLargerDatasets(result.reasons) && addedSizes.length < req.maxExtraSizes) {
      const extra = extraDatasetSize(sizes, plan.seeds.length, c);
      if (extra.size === null) {
        stopped = `no larger dataset: ${extra.why}`;
        stoppedBy = "no-larger-dataset";
        break;
      }
      // The token budget bounds the whole sweep, added sizes too.
      const cost = plan.seeds.length * baseSteps * tokensPerStep;
      const adding = `adding N=${extra.size} (${plan.seeds.length} runs to ${baseSteps} ` +
        `steps, ${cost} tokens)`;
      if (passesBudget(adding, cost)) break;
      sizes.push(extra.size);
      addedSizes.push(extra.size);
      modelsTotal += plan.seeds.length;
      await train(
        { key: `size-${extra.size}`, fromStep: 0, untilStep: baseSteps },
        runsOf(extra.size),
      );
      result = fit();
      continue;
    }
    if (!keepStates) {
      stoppedBy = "one-pass";
      break;
    }
    // One more doubling for the unsaturated runs that decide the answer, the least trained
    // first (runs added later start behind the others).
    const deciding = decidingSizes(result.points).flatMap(runsOf).map((r) => find(r)!)
      .filter((r) => r.certificate.status !== "saturated");
    if (deciding.length === 0) {
      stopped = "every run that decides the answer is saturated; more training cannot help";
      stoppedBy = "deciding-runs-saturated";
      break;
    }
    const from = Math.min(...deciding.map((r) => r.steps));
    const until = 2 * from;
    const group = deciding.filter((r) => r.steps === from)
      .map((r) => ({ datasetSize: r.datasetSize, seed: r.seed }));
    const cost = group.length * (until - from) * tokensPerStep;
    if (until > MAX_CERTIFY_STEPS) {
      stopped = `the next doubling (${until} steps) would pass ${MAX_CERTIFY_STEPS} steps`;
      stoppedBy = "step-limit";
      break;
    }
    const doubling = `the next doubling (${group.length} runs to ${until} steps, ${cost} tokens)`;
    if (passesBudget(doubling, cost)) break;
    await train({ key: `more-${until}`, fromStep: from, untilStep: until }, group);
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
      stoppedBy,
      tokensToGoOn,
      extendedFrom,
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
  await host.putArtifact(RESULT_ARTIFACT, encodeJson(sweep));
  return await finishSweep(host, sweep, done);
}

/**
 * Whether a recorded end is one this attempt goes past: the sweep stopped at its token
 * budget and was queued again with a larger one (POST /v1/capacity/{id}/extend).
 */
function goesPast(ended: SweepResult, tokenBudget: number | null): boolean {
  return canExtend(ended) && tokenBudget !== null && tokenBudget > ended.budget.tokenBudget!;
}

/**
 * Whether a finished sweep can be extended: it stopped at its token budget, so its
 * unsaturated runs' states were kept and more budget lets it go on.
 */
export function canExtend(result: SweepResult): boolean {
  return result.budget.stoppedBy === "token-budget";
}

/**
 * The rest of a sweep's end once its result is recorded, on the attempt that recorded it or
 * on a restart that found it; every step may be repeated after a kill. Deletes what only a
 * resume needed: the runs' kept states (every fleet deleted its own checkpoint as it ended),
 * except, when the token budget stopped the sweep, those of the runs that may train on
 * (the unsaturated ones) for an extension.
 */
async function finishSweep(
  host: SweepHost,
  result: SweepResult,
  done: Outcome[],
): Promise<SweepResult> {
  if (host.input.until === "certified") {
    for (const r of done) {
      const mayTrainOn = canExtend(result) && r.certificate.status !== "saturated";
      if (mayTrainOn) continue;
      await host.deleteArtifact(runStateArtifact(r, r.steps));
      if (host.resumed) await host.deleteArtifact(legacyRunStateArtifact(r));
    }
  }
  return result;
}
