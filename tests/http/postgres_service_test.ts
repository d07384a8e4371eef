// main.ts on PostgreSQL (MEMCAP_DATABASE_URL), end to end on a real server: a dataset, a
// model, a training run and its memorization, a capacity sweep; the data outlives the
// process (a restart with an empty MEMCAP_DATA finds it all); a second node on the same
// database starts beside the first and serves the same records (jobs carry leases; the
// takeover of a dead node's job is tests/http/nodes_test.ts).
import assert from "node:assert/strict";
import { type MainProcess, startMain } from "./_main_process.ts";
import { fetchJson as api, fetchOk as ok, settled } from "./_client.ts";
import { oneFleetSweep } from "./_fixtures.ts";
import { startPostgres } from "../store/_postgres.ts";

Deno.test("main.ts on PostgreSQL: train, measure, sweep, restart; a second node serves the same records", async () => {
  const pg = await startPostgres();
  const dirs: string[] = [];
  const dataDir = async () => {
    dirs.push(await Deno.makeTempDir({ prefix: "memcap-pg-service-" }));
    return dirs.at(-1)!;
  };
  let main: MainProcess | null = null;
  try {
    const env = { MEMCAP_DATABASE_URL: await pg.newDatabase() };
    main = await startMain(await dataDir(), env);
    const url = main.url;
    const ds = await ok(url, "POST", "/v1/datasets", {
      kind: "uniform",
      vocabSize: 16,
      seqLen: 8,
      count: 32,
      seed: 3,
    });
    const model = await ok(url, "POST", "/v1/models", {
      config: { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 1 },
      seed: 3,
    });
    const run = await ok(url, "POST", "/v1/runs", {
      modelId: model.id,
      datasetId: ds.id,
      batchSize: 8,
      steps: 200,
    });
    const trained = await settled(url, `/v1/runs/${run.id}`);
    assert.equal(trained.status, "succeeded", JSON.stringify(trained.error));
    const memorized = await ok(url, "POST", "/v1/memorization", {
      modelId: model.id,
      datasetId: ds.id,
      reference: { kind: "uniform" },
    });
    assert.ok(memorized.totalBits > 0, JSON.stringify(memorized));
    const sweep = await ok(url, "POST", "/v1/capacity", oneFleetSweep(40));
    const swept = await settled(url, `/v1/capacity/${sweep.id}`);
    assert.equal(swept.status, "succeeded", JSON.stringify(swept.error));

    // A second node on the same database starts beside the first and serves the same records.
    const second = await startMain(await dataDir(), env);
    try {
      const fromSecond = await ok(second.url, "GET", `/v1/runs/${run.id}`);
      assert.equal(fromSecond.status, "succeeded");
      assert.equal(fromSecond.memorizedBits, trained.memorizedBits);
      assert.equal(fromSecond.updatedAt, trained.updatedAt);
      assert.equal((await ok(second.url, "GET", `/v1/models/${model.id}`)).id, model.id);
      assert.equal(
        (await api(second.url, "GET", `/v1/capacity/${sweep.id}`)).json.capacityBits,
        swept.capacityBits,
      );
      // A record made on one node is at once on the other.
      const more = await ok(second.url, "POST", "/v1/datasets", {
        kind: "uniform",
        vocabSize: 16,
        seqLen: 8,
        count: 4,
        seed: 9,
      });
      assert.equal((await ok(url, "GET", `/v1/datasets/${more.id}`)).id, more.id);
    } finally {
      assert.equal(await second.stop("SIGTERM"), 0);
    }

    // Everything is in the database: a restart with an empty data folder serves it.
    assert.equal(await main.stop("SIGTERM"), 0);
    main = await startMain(await dataDir(), env);
    const again = await ok(main.url, "GET", `/v1/runs/${run.id}`);
    assert.equal(again.memorizedBits, trained.memorizedBits);
    const weights = await fetch(`${main.url}/v1/models/${model.id}/weights`);
    assert.equal(weights.status, 200);
    assert.ok((await weights.arrayBuffer()).byteLength > 1000);
    const remeasured = await ok(main.url, "POST", "/v1/memorization", {
      modelId: model.id,
      datasetId: ds.id,
      reference: { kind: "uniform" },
    });
    assert.equal(remeasured.totalBits, memorized.totalBits);
    assert.equal(
      (await api(main.url, "GET", `/v1/capacity/${sweep.id}`)).json.capacityBits,
      swept.capacityBits,
    );
  } finally {
    await main?.stop("SIGKILL");
    await pg.stop();
    for (const d of dirs) await Deno.remove(d, { recursive: true });
  }
});

Deno.test("the database goes away: 503 database_unavailable, then served again when it is back", async () => {
  const pg = await startPostgres();
  const dir = await Deno.makeTempDir({ prefix: "memcap-pg-outage-" });
  let main: MainProcess | null = null;
  try {
    main = await startMain(dir, { MEMCAP_DATABASE_URL: await pg.newDatabase() });
    const ds = await ok(main.url, "POST", "/v1/datasets", {
      kind: "uniform",
      vocabSize: 16,
      seqLen: 8,
      count: 8,
      seed: 1,
    });
    await pg.pause();
    const down = await api(main.url, "GET", `/v1/datasets/${ds.id}`);
    assert.equal(down.status, 503, JSON.stringify(down.json));
    assert.equal(down.json.error.code, "database_unavailable");
    await pg.resume();
    // The node is still up and connects again on its own.
    for (const deadline = Date.now() + 30_000;; await new Promise((r) => setTimeout(r, 200))) {
      const up = await api(main.url, "GET", `/v1/datasets/${ds.id}`);
      if (up.status === 200) {
        assert.equal(up.json.id, ds.id);
        break;
      }
      if (Date.now() > deadline) assert.fail(`still ${up.status}: ${JSON.stringify(up.json)}`);
    }
    assert.equal((await api(main.url, "GET", "/v1/health")).status, 200);
  } finally {
    await main?.stop("SIGKILL");
    await pg.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
