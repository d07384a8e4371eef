// A sweep's fleets as jobs (lib/jobs/fleet_jobs.ts), with a stand-in for the engine: the
// sweep's node trains its fleets one after another in its own slot, and a fleet that fails
// fails the sweep, naming the fleet, while the fleets not yet trained are cancelled rather
// than trained for nothing. The real training path is tests/http/nodes_sweep_test.ts.
import assert from "node:assert/strict";
import { KvStore } from "../../lib/store/kv_store.ts";
import { JobFailure, JobQueue } from "../../lib/jobs/queue.ts";
import { FLEET_JOB_KIND, queueFleets } from "../../lib/jobs/fleet_jobs.ts";
import { storeHost } from "../../lib/jobs/store_host.ts";
import { runCapacitySweep } from "../../lib/capacity/sweep_coordinator.ts";
import type { FleetTask } from "../../lib/capacity/fleet_task.ts";
import { CapacityCreateRequest, type SweepProgress } from "../../lib/capacity/schemas.ts";

Deno.test("a failed fleet fails its sweep by name; the fleets after it are cancelled", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memcap_fleet_jobs_" });
  const store = await KvStore.open(dir);
  const jobs = new JobQueue(store, { pollMs: 20, log: () => {} });
  const started: number[] = [];
  jobs.register<CapacityCreateRequest, SweepProgress>(
    "capacity",
    (ctx) => runCapacitySweep(storeHost(ctx), queueFleets(jobs, ctx, 20)),
  );
  jobs.register<FleetTask>(FLEET_JOB_KIND, (ctx) => {
    started.push(ctx.input.fleet);
    if (ctx.input.fleet === 1) throw new JobFailure("engine_crashed", "the engine died");
    return Promise.resolve({ trainSeconds: 0, tokensTrained: 0, resumedFromStep: null });
  });
  try {
    await jobs.start();
    const request = CapacityCreateRequest.parse({
      config: { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 1 },
      datasetSizes: [4, 8, 16, 32],
      seeds: [0],
      testSequences: 0,
      maxFleetSize: 1,
      maxExtraSizes: 0,
      training: { batchSize: 4, maxSteps: 1000 },
    });
    const sweep = await jobs.enqueue("capacity", "capacity", request);
    const ended = await jobs.wait("capacity", sweep.id, 20_000);
    assert.equal(ended.status, "failed");
    assert.equal(ended.error?.code, "engine_crashed");
    assert.match(ended.error!.message, /fleet 1 of group base: the engine died/);
    // One node, one slot: the fleets ran in order on the sweep's node, and stopped at the failure.
    assert.deepEqual(started, [0, 1]);
    const fleets = (await store.referencing(sweep.id)).sort((a, b) =>
      (a.body as { input: FleetTask }).input.fleet - (b.body as { input: FleetTask }).input.fleet
    );
    assert.deepEqual(fleets.map((f) => f.status), [
      "succeeded",
      "failed",
      "cancelled",
      "cancelled",
    ]);
    // They are the sweep's sub-jobs: not in the queue cap, and deleted with it.
    await jobs.delete("capacity", sweep.id);
    assert.deepEqual(await store.referencing(sweep.id), []);
  } finally {
    await jobs.stop();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a fleet job is reused only for the same runs, and only if it did not fail", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memcap_fleet_jobs_" });
  const store = await KvStore.open(dir);
  const jobs = new JobQueue(store, { pollMs: 20, log: () => {} });
  const trained: number[][] = [];
  const group = { key: "more-400", fromStep: 200, untilStep: 400 };
  const request = CapacityCreateRequest.parse({
    config: { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 1 },
    datasetSizes: [4, 8],
  });
  const task = (sizes: number[]): FleetTask => ({
    sweepId: "",
    request,
    group,
    fleet: 0,
    fleets: 1,
    runs: sizes.map((datasetSize) => ({ datasetSize, seed: 0 })),
  });
  // The first doubling to 400 steps trains N=4 and 8; one of an added N=16 reuses the key.
  // A fleet that ended its sweep cancelled (N=32) trains anew when the sweep is queued again.
  jobs.register<CapacityCreateRequest, SweepProgress>("capacity", async (ctx) => {
    const runner = queueFleets(jobs, ctx, 20);
    await runner.runGroup([{ ...task([4, 8]), sweepId: ctx.id }], () => Promise.resolve());
    await runner.runGroup([{ ...task([16]), sweepId: ctx.id }], () => Promise.resolve());
    const cancelled = await jobs.enqueue("fleets", "never", { ...task([32]), sweepId: ctx.id }, {
      refs: [ctx.id],
    });
    await jobs.cancel("fleets", cancelled.id);
    await runner.runGroup([{ ...task([32]), sweepId: ctx.id }], () => Promise.resolve());
    return null;
  });
  jobs.register<FleetTask>(FLEET_JOB_KIND, (ctx) => {
    trained.push(ctx.input.runs.map((r) => r.datasetSize));
    return Promise.resolve({ trainSeconds: 0, tokensTrained: 0, resumedFromStep: null });
  });
  try {
    await jobs.start();
    const sweep = await jobs.enqueue("capacity", "capacity", request);
    assert.equal((await jobs.wait("capacity", sweep.id, 20_000)).status, "succeeded");
    assert.deepEqual(trained, [[4, 8], [16], [32]]);
    assert.equal((await store.referencing(sweep.id)).length, 4);
  } finally {
    await jobs.stop();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
