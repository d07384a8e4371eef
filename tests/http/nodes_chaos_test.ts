// Twenty SIGKILLs at random moments among two main.ts nodes on one PostgreSQL database,
// each killed node replaced at once, while training runs and a capacity sweep (its fleets
// jobs of their own) go on. Afterwards nothing is lost and nothing is stuck: every record
// is there, every job succeeded (MEMCAP_MAX_RECOVERIES is raised: each kill orphans the
// jobs of its node, and the default bound of 3 would fail them), none holds a lease, every
// run trained its model to the steps it was asked for, and the sweep measured every size.
// The seed is printed; MEMCAP_CHAOS_SEED replays a sequence of kills.
import assert from "node:assert/strict";
import postgres from "postgres";
import { type MainProcess, startMain } from "./_main_process.ts";
import { fetchOk as ok } from "./_client.ts";
import { startPostgres } from "../store/_postgres.ts";

const TRIALS = 20;
const CONFIG = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 1 };

/** A small seeded generator (mulberry32), so a failing sequence of kills can be replayed. */
function random(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

// deno-lint-ignore no-explicit-any
type Json = any;

Deno.test(`${TRIALS} kill -9 at random moments lose no record and leave no job stuck`, async () => {
  const seed = Number(Deno.env.get("MEMCAP_CHAOS_SEED") ?? Date.now() % 1e6);
  const rand = random(seed);
  const pg = await startPostgres();
  const dirs: string[] = [];
  const live: MainProcess[] = [];
  let sql: postgres.Sql | null = null;
  try {
    const url = await pg.newDatabase();
    const env = {
      MEMCAP_DATABASE_URL: url,
      MEMCAP_JOB_LEASE_S: "1",
      MEMCAP_SWEEP_CHECKPOINT_S: "0",
      MEMCAP_MAX_RECOVERIES: String(2 * TRIALS),
    };
    const start = async () => {
      dirs.push(await Deno.makeTempDir({ prefix: "memcap-chaos-" }));
      live.push(await startMain(dirs.at(-1)!, env));
    };
    await start();
    await start();
    sql = postgres(url, { max: 1, onnotice: () => {} });
    const any = () => live[Math.floor(rand() * live.length)].url;

    // The work: four runs and a sweep of four fleets, sent to either node.
    const ds = await ok(any(), "POST", "/v1/datasets", {
      kind: "uniform",
      vocabSize: 16,
      seqLen: 8,
      count: 64,
      seed: 5,
    });
    const runs: { id: string; modelId: string; steps: number }[] = [];
    for (let i = 0; i < 4; i++) {
      const model = await ok(any(), "POST", "/v1/models", { config: CONFIG, seed: i });
      const steps = 1500 + 500 * i;
      const run = await ok(any(), "POST", "/v1/runs", {
        modelId: model.id,
        datasetId: ds.id,
        batchSize: 8,
        steps,
        evalEvery: 500,
        checkpointEvery: 100,
      });
      runs.push({ id: run.id, modelId: model.id, steps });
    }
    const sweep = await ok(any(), "POST", "/v1/capacity", {
      config: CONFIG,
      datasetSizes: [16, 32, 48, 64],
      seeds: [0],
      testSequences: 0,
      maxFleetSize: 1,
      maxExtraSizes: 0,
      training: {
        batchSize: 8,
        maxSteps: 1200,
        evalEvery: 600,
        optimizer: { type: "adamw", lr: 0.01 },
        schedule: { kind: "cosine", warmupSteps: 10 },
        saturation: { minSteps: 1200 },
      },
    });
    const records = async () =>
      await sql!<{ collection: string; n: number }[]>`
        SELECT collection, count(*)::int AS n FROM memcap_records GROUP BY collection
        ORDER BY collection`;
    const created = (await records()).filter((r) => r.collection !== "fleets");

    const kills: string[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      await new Promise((r) => setTimeout(r, Math.floor(rand() * 2500)));
      const i = Math.floor(rand() * live.length);
      const [victim] = live.splice(i, 1);
      const [running] = await sql`
        SELECT count(*)::int AS n FROM memcap_records
        WHERE status = 'running' AND body->'lease'->>'node' LIKE ${`%:${victim.pid}:%`}`;
      await victim.stop("SIGKILL");
      kills.push(`${victim.pid}(${running.n})`);
      await start();
    }

    // Both nodes left finish everything; the last lease runs out within a second.
    const jobs = () =>
      sql!<{ id: string; collection: string; status: string; body: Json }[]>`
        SELECT id, collection, status, body FROM memcap_records
        WHERE collection IN ('runs', 'capacity', 'fleets') ORDER BY id`;
    const deadline = Date.now() + 300_000;
    let all = await jobs();
    while (all.some((j) => j.status === "queued" || j.status === "running")) {
      if (Date.now() > deadline) {
        throw new Error(
          `stuck after the kills (seed ${seed}): ${
            JSON.stringify(
              all.filter((j) => ["queued", "running"].includes(j.status))
                .map((j) => [j.id, j.status, j.body.lease, j.body.progress]),
            )
          }`,
        );
      }
      await new Promise((r) => setTimeout(r, 500));
      all = await jobs();
    }
    console.log(
      `seed ${seed}: killed ${kills.join(" ")} (jobs running on it); ` +
        all.filter((j) => j.collection !== "fleets")
          .map((j) => `${j.id.slice(0, 3)} ${j.status} ×${j.body.attempts}`).join(", "),
    );

    // Nothing lost: every record the clients made is there.
    assert.deepEqual((await records()).filter((r) => r.collection !== "fleets"), created);
    for (const j of all) {
      assert.ok(!j.body.lease, `${j.id} ended holding a lease`);
      assert.equal(j.status, "succeeded", `${j.id}: ${JSON.stringify(j.body.error)}`);
    }
    // Every run trained its model to its steps, through however many takeovers.
    const node = live[0].url;
    for (const r of runs) {
      const model = await ok(node, "GET", `/v1/models/${r.modelId}`);
      assert.equal(model.trainedSteps, r.steps, `${r.id}: model ${JSON.stringify(model)}`);
    }
    const done = await ok(node, "GET", `/v1/capacity/${sweep.id}`);
    assert.deepEqual(done.result.runs.map((x: Json) => x.steps), [1200, 1200, 1200, 1200]);
    assert.ok(kills.some((k) => !k.endsWith("(0)")), "no kill hit a running job");
  } finally {
    await sql?.end();
    for (const n of live) await n.stop("SIGKILL").catch(() => {});
    await pg.stop();
    for (const d of dirs) await Deno.remove(d, { recursive: true }).catch(() => {});
  }
});
