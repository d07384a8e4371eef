// One capacity sweep spread over several nodes on one PostgreSQL database, each a real
// main.ts: its fleets are jobs of their own (lib/jobs/fleet_jobs.ts), so nodes that join
// while it runs train the fleets the sweep's node has not reached. A node killed with
// SIGKILL mid-fleet loses nothing: once its lease runs out another node resumes that
// fleet from its checkpoint. The result equals the same sweep on one node (Deno KV).
// Then a cancel sent to one node stops a job that another node runs.
import assert from "node:assert/strict";
import postgres from "postgres";
import { type MainProcess, startMain } from "./_main_process.ts";
import { fetchOk as ok, settled, waitFor } from "./_client.ts";
import { startPostgres } from "../store/_postgres.ts";

const FLEETS = 6;
const SWEEP = {
  config: { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 1 },
  datasetSizes: [16, 24, 32, 48, 64, 96],
  seeds: [0],
  testSequences: 0,
  maxFleetSize: 1, // one fleet per dataset size
  maxExtraSizes: 0,
  training: {
    batchSize: 8,
    maxSteps: 2400,
    evalEvery: 1200,
    optimizer: { type: "adamw", lr: 0.01 },
    schedule: { kind: "cosine", warmupSteps: 10 },
    saturation: { minSteps: 2400 },
  },
};

// deno-lint-ignore no-explicit-any
type Json = any;

/** What must not depend on where or in how many pieces a sweep trained. */
function answer(r: Json) {
  return {
    capacityBits: r.capacityBits,
    bitsPerParameter: r.bitsPerParameter,
    verdict: r.verdict,
    runs: r.runs.map((x: Json) => ({
      datasetSize: x.datasetSize,
      steps: x.steps,
      memorizedBits: x.memorizedBits,
      certificate: x.certificate,
      curve: x.curve,
    })),
  };
}

Deno.test("a sweep's fleets train on several nodes; a killed node's fleet resumes elsewhere", async () => {
  const pg = await startPostgres();
  const dirs: string[] = [];
  const dataDir = async () => {
    dirs.push(await Deno.makeTempDir({ prefix: "memcap-nodes-sweep-" }));
    return dirs.at(-1)!;
  };
  const nodes: MainProcess[] = [];
  const start = async (env: Record<string, string> = {}) => {
    nodes.push(await startMain(await dataDir(), env));
    return nodes.at(-1)!;
  };
  let sql: postgres.Sql | null = null;
  try {
    // The reference: the same sweep on one node with its own Deno KV.
    const alone = await start();
    const one = await ok(alone.url, "POST", "/v1/capacity", SWEEP);
    const reference = await settled(alone.url, `/v1/capacity/${one.id}`, 240_000);
    assert.equal(reference.status, "succeeded", JSON.stringify(reference.error));
    assert.equal(await alone.stop("SIGTERM"), 0);

    const url = await pg.newDatabase();
    sql = postgres(url, { max: 1, onnotice: () => {} });
    // Checkpoints at every progress read (200 steps), so a killed fleet has one to resume.
    const env = {
      MEMCAP_DATABASE_URL: url,
      MEMCAP_JOB_LEASE_S: "2",
      MEMCAP_SWEEP_CHECKPOINT_S: "0",
    };
    const a = await start(env);
    const sweep = await ok(a.url, "POST", "/v1/capacity", SWEEP);
    const path = `/v1/capacity/${sweep.id}`;
    const fleets = () =>
      sql!<{ id: string; status: string; body: Json }[]>`
        SELECT id, status, body FROM memcap_records WHERE collection = 'fleets' ORDER BY id`;
    // A takes the sweep and turns it into one job per fleet, training the first itself.
    await waitFor("the sweep's fleet jobs", async () => {
      const f = await fleets();
      return f.length === FLEETS && f.some((x) => x.status === "running") ? true : undefined;
    }, 120_000);

    // B joins and takes a fleet A has not reached; it is killed once that fleet checkpointed.
    const b = await start(env);
    const onB = (x: { body: Json }) => x.body.lease?.node.split(":")[1] === String(b.pid);
    const victim = await waitFor(
      "B to train a fleet past a checkpoint",
      async () => {
        const x = (await fleets()).find((x) => x.status === "running" && onB(x));
        if (!x || (x.body.progress?.step ?? 0) < 400) return undefined;
        const [saved] = await sql!`
        SELECT name FROM memcap_artifacts
        WHERE collection = 'capacity' AND id = ${sweep.id}
          AND name = ${`fleet-base-${x.body.input.fleet}.safetensors`}`;
        return saved ? x : undefined;
      },
      120_000,
      50,
    );
    await b.stop("SIGKILL");
    // C joins: A and C share the rest, the killed fleet included once B's lease runs out.
    const c = await start(env);

    const done = await settled(c.url, path, 240_000);
    assert.equal(done.status, "succeeded", JSON.stringify(done.error));
    assert.deepEqual(answer(done.result), answer(reference.result));

    const ended = await fleets();
    assert.equal(ended.length, FLEETS);
    assert.ok(
      ended.every((x) => x.status === "succeeded"),
      JSON.stringify(ended.map((x) => x.status)),
    );
    assert.ok(ended.every((x) => !x.body.lease), "a finished fleet kept its lease");
    const trainedBy = new Set(ended.map((x) => x.body.result.node.split(":")[1]));
    assert.ok(trainedBy.size >= 2, `fleets finished on ${[...trainedBy]} only`);
    const resumed = ended.find((x) => x.id === victim.id)!;
    assert.equal(resumed.body.attempts, 2);
    assert.ok(resumed.body.result.resumedFromStep >= 400, JSON.stringify(resumed.body.result));
    assert.ok(
      done.result.resumedFrom.some((r: Json) =>
        r.fleet === victim.body.input.fleet && r.step === resumed.body.result.resumedFromStep
      ),
      JSON.stringify(done.result.resumedFrom),
    );
    console.log(
      `fleets finished by nodes ${[...trainedBy].join(", ")} (pids; B was ${b.pid}); ` +
        `fleet ${victim.body.input.fleet} resumed from step ${resumed.body.result.resumedFromStep}`,
    );

    // A cancel sent to one node stops the job another node runs.
    const model = await ok(a.url, "POST", "/v1/models", { config: SWEEP.config, seed: 1 });
    const ds = await ok(a.url, "POST", "/v1/datasets", {
      kind: "uniform",
      vocabSize: 16,
      seqLen: 8,
      count: 32,
      seed: 1,
    });
    const run = await ok(a.url, "POST", "/v1/runs", {
      modelId: model.id,
      datasetId: ds.id,
      batchSize: 8,
      steps: 1_000_000,
    });
    const runner = await waitFor("a node to run the training run", async () => {
      const [r] = await sql!<{ status: string; body: Json }[]>`
        SELECT status, body FROM memcap_records WHERE id = ${run.id}`;
      return r.status === "running" && r.body.progress?.step > 0 ? r.body.lease.node : undefined;
    }, 60_000);
    const other = runner.split(":")[1] === String(a.pid) ? c : a;
    const askedAt = Date.now();
    await ok(other.url, "POST", `/v1/runs/${run.id}/cancel`);
    const cancelled = await settled(other.url, `/v1/runs/${run.id}`, 30_000);
    assert.equal(cancelled.status, "cancelled");
    console.log(`a cancel sent to the other node stopped the run in ${Date.now() - askedAt} ms`);
  } finally {
    await sql?.end();
    for (const n of nodes) await n.stop("SIGKILL").catch(() => {});
    await pg.stop();
    for (const d of dirs) await Deno.remove(d, { recursive: true });
  }
});
