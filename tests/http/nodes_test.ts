// Several nodes on one PostgreSQL database (MEMCAP_DATABASE_URL): two main.ts processes serve
// the same records, and a training run whose node is killed with SIGKILL is taken over by the
// other node once its job lease (MEMCAP_JOB_LEASE_S) runs out, resumed from its checkpoint.
// The killed node's engine child ends on its own (it watches its parent). B's events stream
// follows the run while A runs it (from the record) and after B took it over (its own events).
import assert from "node:assert/strict";
import { type MainProcess, startMain } from "./_main_process.ts";
import { fetchOk as ok, waitFor } from "./_client.ts";
import { startPostgres } from "../store/_postgres.ts";

const CONFIG = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 1 };
const CHECKPOINT_EVERY = 100;

/** SSE events of `url` as they come, until the stream ends; `events` fills meanwhile. */
function followEvents(url: string) {
  // deno-lint-ignore no-explicit-any
  const events: { event: string; data: any }[] = [];
  const ended = (async () => {
    const res = await fetch(url);
    let buf = "";
    for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      for (let i; (i = buf.indexOf("\n\n")) >= 0; buf = buf.slice(i + 2)) {
        const block = buf.slice(0, i);
        const event = block.match(/^event: ?(.*)$/m)?.[1];
        const data = block.match(/^data: ?(.*)$/m)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) });
      }
    }
  })();
  // Handled here too: a stream cut when a test fails must not end the runner before cleanup.
  ended.catch(() => {});
  return { events, ended };
}

Deno.test("two nodes on one database: a killed node's run is finished by the other", async () => {
  const pg = await startPostgres();
  const dirs: string[] = [];
  const dataDir = async () => {
    dirs.push(await Deno.makeTempDir({ prefix: "memcap-nodes-" }));
    return dirs.at(-1)!;
  };
  let a: MainProcess | null = null;
  let b: MainProcess | null = null;
  try {
    const env = { MEMCAP_DATABASE_URL: await pg.newDatabase(), MEMCAP_JOB_LEASE_S: "2" };
    a = await startMain(await dataDir(), env);
    // A second node on the same database starts (no longer refused) and serves the same records.
    b = await startMain(await dataDir(), env);
    const ds = await ok(a.url, "POST", "/v1/datasets", {
      kind: "uniform",
      vocabSize: 16,
      seqLen: 8,
      count: 32,
      seed: 3,
    });
    const model = await ok(a.url, "POST", "/v1/models", { config: CONFIG, seed: 3 });
    assert.equal((await ok(b.url, "GET", `/v1/datasets/${ds.id}`)).id, ds.id);
    assert.equal((await ok(b.url, "GET", `/v1/models/${model.id}`)).id, model.id);

    // B is stopped while A takes the run (a job goes to whichever node claims it first), then
    // comes back: the run is A's.
    assert.equal(await b.stop("SIGTERM"), 0);
    b = null;
    const run = await ok(a.url, "POST", "/v1/runs", {
      modelId: model.id,
      datasetId: ds.id,
      batchSize: 8,
      steps: 6000,
      evalEvery: CHECKPOINT_EVERY,
      checkpointEvery: CHECKPOINT_EVERY,
    });
    const path = `/v1/runs/${run.id}`;
    const before = await waitFor(
      "the run to checkpoint on A",
      async () => {
        const r = await ok(a!.url, "GET", path);
        if (!["queued", "running"].includes(r.status)) {
          throw new Error(`the run ended before the kill: ${JSON.stringify(r)}`);
        }
        return r.status === "running" && r.progress?.step > 2 * CHECKPOINT_EVERY ? r : undefined;
      },
      60_000,
      50,
    );
    assert.equal(before.attempts, 1);
    b = await startMain(await dataDir(), env);
    // B leaves a job alone while A lives and renews its lease.
    await new Promise((r) => setTimeout(r, 2500));
    const still = await ok(b.url, "GET", path);
    assert.equal(still.status, "running");
    assert.equal(still.attempts, 1, "B took over a run whose node is alive");
    // The lease does not leak into the API.
    assert.ok(!("lease" in still), JSON.stringify(still));
    // B streams the run A trains: status events from the record, steps rising.
    const stream = followEvents(`${b.url}${path}/events`);
    await waitFor("B's stream to show A's steps rising", () => {
      // Progress relayed from A (LISTEN/NOTIFY), or the record's when B reads it.
      const steps = stream.events.map((e) =>
        e.event === "progress" ? e.data.step : e.data.progress?.step ?? 0
      );
      return Promise.resolve(steps.length >= 2 && steps.at(-1)! > steps[0] ? true : undefined);
    }, 30_000);

    await a.stop("SIGKILL");
    a = null;
    const killedAt = Date.now();
    const done = await waitFor(
      "B to finish the run",
      async () => {
        const r = await ok(b!.url, "GET", path);
        return ["queued", "running"].includes(r.status) ? undefined : r;
      },
      90_000,
      200,
    );
    assert.equal(done.status, "succeeded", JSON.stringify(done.error));
    // The same stream saw the end, once B ran the run itself.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      stream.ended,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("B's stream still open")), 10_000);
      }),
    ]).finally(() => clearTimeout(timer));
    assert.equal(
      stream.events.at(-1)?.data.status,
      "succeeded",
      JSON.stringify(stream.events.at(-1)),
    );
    assert.ok(
      done.attempts === 2 || done.result.resumedFromSteps.length > 0,
      JSON.stringify(done),
    );
    assert.equal(done.attempts, 2);
    assert.ok(done.result.resumedFromSteps.length > 0, JSON.stringify(done.result));
    assert.ok(done.result.resumedFromSteps[0] >= CHECKPOINT_EVERY, JSON.stringify(done.result));
    console.log(
      `taken over and finished ${Math.round((Date.now() - killedAt) / 1000)} s after the kill; ` +
        `resumed from ${done.result.resumedFromSteps}`,
    );
  } finally {
    await a?.stop("SIGKILL");
    await b?.stop("SIGKILL");
    await pg.stop();
    for (const d of dirs) await Deno.remove(d, { recursive: true });
  }
});
