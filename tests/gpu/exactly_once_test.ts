// A run or a sweep completes exactly once: the service killed at any point of
// a job, its last store write included, and restarted the way the queue does
// (the same job again, told `resumed`, with the artifacts and the model the
// kill left), ends with the result, the weights and the model's trainedSteps
// of the same job done in one go, trains no more once its training is
// recorded as over, and leaves no checkpoint behind (a sweep its token budget
// stopped keeps just its unsaturated runs' last states, for an extension). The kill is injected at
// the job host, the boundary every store write crosses: the job is killed just
// before each write the uninterrupted job makes in turn (a kill just after
// write k is one just before write k + 1), and once after the last (the job
// returned, the queue never recorded it). One more test takes the audit's case
// through the real store and a restarted queue.
import assert from "node:assert/strict";
import { getGpu } from "../../gpu/device.ts";
import { GpuEngine } from "../../gpu/engine.ts";
import { COMPLETION_ARTIFACT, trainRunJob } from "../../gpu/jobs/train_run.ts";
import { capacitySweepJob } from "../../gpu/jobs/capacity_sweep.ts";
import { memoryJobHost } from "../../lib/jobs/memory_host.ts";
import type { JobHost, JobModel } from "../../lib/engine_interface.ts";
import { generateUniform } from "../../lib/datasets/uniform.ts";
import { initialParameters } from "../../lib/model/init.ts";
import { parameterCount } from "../../lib/model/config.ts";
import { RunCreateRequest, type RunProgress, type RunResult } from "../../lib/runs/schemas.ts";
import {
  CapacityCreateRequest,
  type SweepProgress,
  type SweepResult,
} from "../../lib/capacity/schemas.ts";
import { openStore } from "../../lib/store/mod.ts";
import { runStateArtifact } from "../../lib/capacity/fleet_task.ts";
import { type JobBody, type JobContext, JobQueue } from "../../lib/jobs/queue.ts";
import { registerEngineJobs } from "../../lib/jobs/engine_jobs.ts";
import { storeHost } from "../../lib/jobs/store_host.ts";
import { createDataset } from "../../lib/datasets/dataset.ts";
import { DatasetCreateRequest } from "../../lib/datasets/schemas.ts";
import { createModel, loadModelWeights } from "../../lib/model_store/models.ts";
import { ModelCreateRequest } from "../../lib/model_store/schemas.ts";
import { CHECKPOINT_ARTIFACT } from "../../gpu/jobs/checkpoint.ts";

class Killed extends Error {
  constructor(write: string) {
    super(`killed before: ${write}`);
    this.name = "Killed";
  }
}

/** What outlives a kill: the job's artifacts and the model record with its weights. */
interface World {
  artifacts: Map<string, Uint8Array>;
  model: JobModel | null;
}

/**
 * A job host over `world`, killed before its write number `killAt` (0-based); once killed
 * every call throws, as a dead process does nothing more. A write is what a store commits
 * at once: putArtifact, deleteArtifact, and saveModelWeights' two (the store writes the
 * weights artifact, then the model record's trainedSteps and runId). `writes` logs them.
 */
function killingHost<I, P>(
  input: I,
  world: World,
  o: { resumed: boolean; killAt?: number; writes?: string[]; progress?: (p: P) => void },
): JobHost<I, P> {
  const base = memoryJobHost<I, P>(input, { artifacts: world.artifacts });
  let n = 0, dead = false;
  const write = (what: string, apply: () => void): Promise<void> => {
    if (dead || n++ === o.killAt) {
      dead = true;
      return Promise.reject(new Killed(what));
    }
    o.writes?.push(what);
    apply();
    return Promise.resolve();
  };
  const alive = () => dead ? Promise.reject(new Killed("(dead)")) : Promise.resolve();
  return {
    ...base,
    resumed: o.resumed,
    progress: (p) => alive().then(() => void o.progress?.(p)),
    getArtifact: (name) => alive().then(() => base.getArtifact(name)),
    putArtifact: (name, bytes) => write(`put ${name}`, () => world.artifacts.set(name, bytes)),
    deleteArtifact: (name) => write(`delete ${name}`, () => world.artifacts.delete(name)),
    loadModel: () => alive().then(() => world.model && structuredClone(world.model)),
    saveModelWeights: async (_id, params, patch) => {
      const m = world.model!;
      await write("weights", () => world.model = { ...m, params: params.slice() });
      await write("model record", () => {
        world.model = {
          params: world.model!.params,
          model: {
            ...m.model,
            ...(patch.trainedSteps !== undefined ? { trainedSteps: patch.trainedSteps } : {}),
            ...(patch.runId ? { runId: patch.runId } : {}),
          },
        };
      });
    },
  };
}

/**
 * Runs `scenario` once per kill point: before each of `writes` and after the last. Returns
 * the failures, one line each, so that a broken job shows every point where it breaks.
 */
async function everyKill(
  writes: string[],
  scenario: (killAt: number, at: string) => Promise<void>,
): Promise<string[]> {
  const failures: string[] = [];
  for (let killAt = 0; killAt <= writes.length; killAt++) {
    const at = killAt < writes.length
      ? `killed before write ${killAt} (${writes[killAt]})`
      : "killed after the last write (the queue never recorded the job's end)";
    try {
      await scenario(killAt, at);
    } catch (e) {
      failures.push((e as Error).message.split("\n")[0]);
    }
  }
  if (failures.length) console.log(`writes: ${writes.join(", ")}`);
  return failures;
}

/** Checkpoints, final weights and run states: what a finished job must not leave behind. */
const kept = (w: World) => [...w.artifacts.keys()].filter((k) => k.endsWith(".safetensors"));

/** What the API shows of a result (JSON), less the wall time of the attempt that made it. */
function shown<T extends { seconds: number }>(r: T, ...drop: (keyof T)[]) {
  const o = JSON.parse(JSON.stringify({ ...r, seconds: 0 }));
  for (const k of drop) delete o[k];
  return o;
}

// ------------------------------------------------------------------- runs

const config = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 16, heads: 2 };
const STEPS = 60;
const runInput = RunCreateRequest.parse({
  modelId: "mdl_test",
  datasetId: "ds_test",
  optimizer: { type: "adamw", lr: 0.01 },
  batchSize: 5,
  steps: STEPS,
  evalEvery: 20,
  checkpointEvery: 20,
});
const dataset = generateUniform({ ...config, count: 12, seed: 2 });

function freshRunWorld(): World {
  return {
    artifacts: new Map(),
    model: {
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
    },
  };
}

function runAttempt(
  engine: GpuEngine,
  world: World,
  o: { resumed: boolean; killAt?: number; writes?: string[]; progress?: (p: RunProgress) => void },
): Promise<RunResult> {
  const host = killingHost<RunCreateRequest, RunProgress>(runInput, world, o);
  return trainRunJob(engine, { ...host, loadDataset: () => Promise.resolve(dataset) });
}

Deno.test("a run killed at any write, its completion's included, completes exactly once", async () => {
  const engine = new GpuEngine(getGpu);
  const whole = freshRunWorld(), writes: string[] = [];
  const once = await runAttempt(engine, whole, { resumed: false, writes });
  assert.equal(whole.model!.model.trainedSteps, STEPS);
  assert.deepEqual(kept(whole), []);
  // Once the completion record is written (or, failing one, the model), training is over.
  const over = [`put ${COMPLETION_ARTIFACT}`, "weights"].map((w) => writes.indexOf(w))
    .filter((i) => i >= 0);
  assert.ok(over.length > 0, writes.join(", "));
  const completed = Math.min(...over);

  const failures = await everyKill(writes, async (killAt, at) => {
    const world = freshRunWorld();
    if (killAt < writes.length) {
      await assert.rejects(runAttempt(engine, world, { resumed: false, killAt }), Killed);
    } else await runAttempt(engine, world, { resumed: false });
    let reports = 0;
    const again = await runAttempt(engine, world, { resumed: true, progress: () => reports++ });
    const trained = world.model!.model.trainedSteps;
    assert.equal(trained, STEPS, `the model's trainedSteps is ${trained}, ${at}`);
    assert.equal(again.steps, STEPS, at);
    assert.deepEqual(world.model!.params, whole.model!.params, `weights, ${at}`);
    assert.equal(again.memorizedBits, once.memorizedBits, at);
    assert.deepEqual(shown(again, "resumedFromSteps"), shown(once, "resumedFromSteps"), at);
    assert.deepEqual(kept(world), [], `checkpoints or final weights were left, ${at}`);
    if (killAt > completed) assert.equal(reports, 0, `the restart trained again, ${at}`);
  });
  assert.deepEqual(failures, []);
});

// The audit's case end to end: the store, the engine's job host, and a restarted queue that
// finds the job left running by the killed service.
Deno.test("a run killed once its weights are in is succeeded by the restarted queue, once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memcap_once_" });
  const store = await openStore({ dataDir: dir });
  const engine = new GpuEngine(getGpu);
  /** A service's queue over the store, started (it re-queues what a killed one left). */
  const service = async () => {
    const jobs = new JobQueue(store, { pollMs: 20, log: () => {} });
    registerEngineJobs(engine, jobs);
    await jobs.start();
    return jobs;
  };
  try {
    const ds = await createDataset(
      store,
      DatasetCreateRequest.parse({ kind: "uniform", ...config, count: 12, seed: 2 }),
    );
    const newRun = async () => {
      const m = await createModel(store, ModelCreateRequest.parse({ config, seed: 1 }));
      const input = { ...runInput, modelId: m.id, datasetId: ds.id };
      const jobs = new JobQueue(store);
      return { model: m, job: await jobs.enqueue("runs", "train", input, { refs: [m.id, ds.id] }) };
    };
    const whole = await newRun();
    let jobs = await service();
    const once = await jobs.wait("runs", whole.job.id, 60_000);
    await jobs.stop();
    assert.equal(once.status, "succeeded");
    const wholeWeights = (await loadModelWeights(store, whole.model.id))!.params;

    // Killed before the checkpoint's delete (the weights are in), and after the last write.
    for (const killBefore of [`delete ${CHECKPOINT_ARTIFACT}`, null]) {
      const { model, job } = await newRun();
      // The first attempt as a worker claims it; the killed worker leaves it running.
      await store.atomicUpdate<JobBody>("runs", job.id, (cur) => ({
        status: "running",
        body: { ...cur.body, attempts: 1, startedAt: new Date().toISOString() },
      }));
      const ctx: JobContext<RunCreateRequest, RunProgress> = {
        id: job.id,
        collection: "runs",
        kind: "train",
        input: job.input as RunCreateRequest,
        attempt: 1,
        resumed: false,
        lastProgress: null,
        signal: new AbortController().signal,
        cancelled: () => false,
        throwIfAborted: () => {},
        progress: () => Promise.resolve(),
        store,
      };
      const first = trainRunJob(engine, killedBefore(storeHost(ctx), killBefore));
      if (killBefore) await assert.rejects(first, Killed);
      else await first;

      jobs = await service();
      const done = await jobs.wait("runs", job.id, 60_000);
      await jobs.stop();
      const at = `killed before ${killBefore ?? "(none: after the last write)"}`;
      assert.equal(done.status, "succeeded", at);
      assert.equal(done.attempts, 2, at);
      assert.equal((done.result as RunResult).steps, STEPS, at);
      const saved = (await loadModelWeights(store, model.id))!;
      const trained = saved.model.trainedSteps;
      assert.equal(trained, STEPS, `the model's trainedSteps is ${trained}, ${at}`);
      assert.equal(saved.model.runId, job.id, at);
      assert.deepEqual(saved.params, wholeWeights, `weights, ${at}`);
      assert.deepEqual(
        (await store.listArtifacts("runs", job.id)).filter((a) => a.endsWith(".safetensors")),
        [],
        at,
      );
    }
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a sweep that added a size, killed after each group, resumes to the same end", async () => {
  const engine = new GpuEngine(getGpu);
  // Sizes memorized whole at first: the grid grows by doubling N, then trains on until certified.
  const grows = CapacityCreateRequest.parse({
    ...sweepInput,
    datasetSizes: [16, 32],
    maxExtraSizes: 2,
    tokenBudget: 6000 * TOKENS_PER_STEP,
  });
  const fresh = (): World => ({ artifacts: new Map(), model: null });
  const writes: string[] = [];
  const attempt = (world: World, resumed: boolean, killAt?: number) =>
    capacitySweepJob(engine, killingHost(grows, world, { resumed, killAt, writes }));
  const once = await attempt(fresh(), false);
  assert.ok(once.budget.addedSizes.length > 0, JSON.stringify(once.budget));
  assert.ok(once.runs.some((r) => r.steps > 200), JSON.stringify(once.runs.map((r) => r.steps)));
  const recorded = [...writes];
  // Killed just after each group's outcomes are merged: the resume decides from there on.
  const merges = recorded.flatMap((w, i) => (w === "put outcomes.json" ? [i + 1] : []));
  const drop = ["tokensPerSecond", "resumedFrom"] as const;
  for (const killAt of merges) {
    const world = fresh();
    await assert.rejects(attempt(world, false, killAt), Killed);
    const again = await attempt(world, true);
    assert.deepEqual(shown(again, ...drop), shown(once, ...drop), `killed before write ${killAt}`);
  }
});

Deno.test("an extended sweep killed at any write ends as one sweep with the larger budget", async () => {
  const engine = new GpuEngine(getGpu);
  // One more doubling: both runs on to 800 steps from the states the budget-stopped sweep kept.
  const larger = { ...sweepInput, tokenBudget: 2 * 800 * TOKENS_PER_STEP };
  const fresh = (): World => ({ artifacts: new Map(), model: null });
  const inOneGo = await capacitySweepJob(engine, killingHost(larger, fresh(), { resumed: false }));
  const stopped = fresh();
  await sweepAttempt(engine, stopped, { resumed: false });
  const copy = (): World => ({ artifacts: new Map(stopped.artifacts), model: null });
  // The extension is the same job queued again: told resumed, with the stopped sweep's artifacts.
  const writes: string[] = [];
  const extension = (world: World, killAt?: number) =>
    capacitySweepJob(engine, killingHost(larger, world, { resumed: true, killAt, writes }));
  const extended = await extension(copy());
  const drop = ["tokensPerSecond", "resumedFrom", "budget"] as const;
  assert.deepEqual(shown(extended, ...drop), shown(inOneGo, ...drop));
  assert.ok(extended.runs.some((r) => r.steps === 800), JSON.stringify(extended.runs));
  assert.deepEqual(extended.budget, {
    ...inOneGo.budget,
    extendedFrom: [sweepInput.tokenBudget],
  });
  const recorded = [...writes];
  writes.length = 0;

  const failures = await everyKill(recorded, async (killAt, at) => {
    const world = copy();
    if (killAt < recorded.length) await assert.rejects(extension(world, killAt), Killed);
    else await extension(world);
    const again = await capacitySweepJob(engine, killingHost(larger, world, { resumed: true }));
    assert.deepEqual(shown(again, ...drop), shown(extended, ...drop), at);
    assert.deepEqual(again.budget, extended.budget, at);
    const left = inOneGo.runs.filter((r) =>
      !r.saturated && extended.budget.stoppedBy ===
        "token-budget"
    ).map((r) => runStateArtifact(r, r.steps)).sort();
    assert.deepEqual(kept(world).sort(), left, `states other than an extension's were left, ${at}`);
  });
  assert.deepEqual(failures, []);
});

/** `host`, killed before its first write named `write` (as killingHost names them; null: never). */
function killedBefore<I, P>(host: JobHost<I, P>, write: string | null): JobHost<I, P> {
  let dead = false;
  /** `f`, whose call is the write `name(its first argument)`. */
  const guard = <A extends [string, ...unknown[]], R>(
    name: (first: string) => string,
    f: (...a: A) => Promise<R>,
  ) =>
  (...a: A): Promise<R> => {
    if (dead || name(a[0]) === write) {
      dead = true;
      return Promise.reject(new Killed(name(a[0])));
    }
    return f(...a);
  };
  return {
    ...host,
    putArtifact: guard((n) => `put ${n}`, host.putArtifact),
    deleteArtifact: guard((n) => `delete ${n}`, host.deleteArtifact),
    saveModelWeights: guard(() => "weights", host.saveModelWeights),
  };
}

// ----------------------------------------------------------------- sweeps

// Two runs trained to 200 steps, then (until "certified", neither saturated) on to 400 from
// the states they kept, until the token budget allows no more: every kind of write a sweep
// makes (run states, outcomes, the fleet checkpoint's end, the sweep's end).
const TOKENS_PER_STEP = 32 * 8;
const sweepInput = CapacityCreateRequest.parse({
  config: { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 2 },
  datasetSizes: [32, 128],
  seeds: [0],
  testSequences: 0,
  maxExtraSizes: 0,
  until: "certified",
  tokenBudget: 800 * TOKENS_PER_STEP,
  training: {
    batchSize: 32,
    maxSteps: 200,
    optimizer: { lr: 0.02 },
    schedule: { kind: "cosine-restarts", warmupSteps: 20, firstCycleSteps: 100 },
    saturation: { fraction: 0.02, minSteps: 200 },
  },
});

function sweepAttempt(
  engine: GpuEngine,
  world: World,
  o: {
    resumed: boolean;
    killAt?: number;
    writes?: string[];
    progress?: (p: SweepProgress) => void;
  },
): Promise<SweepResult> {
  return capacitySweepJob(engine, killingHost(sweepInput, world, o));
}

Deno.test("a sweep killed at any write, its completion's included, completes exactly once", async () => {
  const engine = new GpuEngine(getGpu);
  const whole: World = { artifacts: new Map(), model: null }, writes: string[] = [];
  const once = await sweepAttempt(engine, whole, { resumed: false, writes });
  assert.ok(once.runs.every((r) => r.steps === 400 && !r.saturated), JSON.stringify(once.runs));
  // The token budget stopped it: the unsaturated runs' last states stay for an extension
  // (POST /v1/capacity/{id}/extend), and nothing else does.
  assert.equal(once.budget.stoppedBy, "token-budget");
  const forExtension = once.runs.map((r) => runStateArtifact(r, r.steps)).sort();
  assert.deepEqual(kept(whole).sort(), forExtension);
  // Once the last outcome is recorded, training is over.
  const completed = writes.lastIndexOf("put outcomes.json");

  const failures = await everyKill(writes, async (killAt, at) => {
    const world: World = { artifacts: new Map(), model: null };
    if (killAt < writes.length) {
      await assert.rejects(sweepAttempt(engine, world, { resumed: false, killAt }), Killed);
    } else await sweepAttempt(engine, world, { resumed: false });
    // A fleet that compiles or trains counts; the sweep's own "preparing" report does not.
    let reports = 0;
    const again = await sweepAttempt(engine, world, {
      resumed: true,
      progress: (p) => p.phase !== "preparing" && reports++,
    });
    // Throughput is measured, and resumedFrom is the last attempt's own.
    const drop = ["tokensPerSecond", "resumedFrom"] as const;
    const bits = (r: SweepResult) => r.runs.map((x) => `${x.steps}: ${x.memorizedBits}`).join(", ");
    assert.deepEqual(
      shown(again, ...drop),
      shown(once, ...drop),
      `memorized bits ${bits(again)} against ${bits(once)}, ${at}`,
    );
    assert.deepEqual(
      kept(world).sort(),
      forExtension,
      `checkpoints or run states other than the extension's were left, ${at}`,
    );
    if (killAt > completed) assert.equal(reports, 0, `the restart trained again, ${at}`);
  });
  assert.deepEqual(failures, []);
});
