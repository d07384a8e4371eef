// Crash safety: main.ts as its own process is killed with SIGKILL in the middle of a training
// run while clients keep creating records. Started again on the same data folder, it has every
// record it acknowledged (datasets with their tokens, models with downloadable weights, the
// run, a finished capacity sweep), no temporary or orphaned files, and the run resumes from its
// checkpoint and succeeds.
// The engine child process ends on its own when its parent dies: none is left behind.
import assert from "node:assert/strict";
import { type MainProcess, startMain } from "./_main_process.ts";
import { fetchJson as api } from "./_client.ts";
import { TINY_SWEEP_TRAINING } from "./_fixtures.ts";

const CONFIG = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 16, heads: 2 };
const STEPS = 6000;
const EVAL_EVERY = 200;

async function bytesOf(url: string, path: string): Promise<Uint8Array> {
  const res = await fetch(url + path);
  assert.equal(res.status, 200, path);
  return new Uint8Array(await res.arrayBuffer());
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** All sequences of a dataset, paged. */
async function allSequences(url: string, id: string, count: number): Promise<number[][]> {
  const out: number[][] = [];
  for (let offset = 0; offset < count; offset += 1000) {
    const r = await api(url, "GET", `/v1/datasets/${id}/sequences?offset=${offset}&limit=1000`);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    out.push(...r.json.sequences);
  }
  return out;
}

/** Ids of every record of a collection, through the paged list. */
async function listAll(url: string, collection: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const page = await api(url, "GET", `/v1/${collection}?limit=100${q}`);
    assert.equal(page.status, 200, JSON.stringify(page.json));
    ids.push(...page.json.items.map((i: { id: string }) => i.id));
    cursor = page.json.nextCursor;
  } while (cursor);
  return ids;
}

/**
 * Live processes started for this data folder (main.ts and its engine child inherit
 * MEMCAP_DATA), found with `ps e` (which appends each process's environment) so that
 * other test runs on the machine do not count. Deno 2.9 refuses /proc reads without
 * --allow-all, so procps's `ps` reads it for us.
 */
async function processesFor(dataDir: string): Promise<{ pid: number; cmd: string }[]> {
  const out = await new Deno.Command("ps", {
    args: ["-e", "e", "-ww", "-o", "pid=,stat=,args="],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.ok(out.success, "ps failed (is procps installed?)");
  const marker = ` MEMCAP_DATA=${dataDir}`;
  const found: { pid: number; cmd: string }[] = [];
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const m = /^\s*(\d+)\s+(\S+)\s+(.*)$/.exec(line);
    if (!m || m[2].startsWith("Z")) continue; // Z: exited, unreaped
    const rest = m[3];
    if (!(rest + " ").includes(marker + " ")) continue;
    found.push({ pid: Number(m[1]), cmd: rest.slice(0, rest.indexOf(marker)) });
  }
  return found;
}

async function engineChildren(dataDir: string): Promise<number[]> {
  return (await processesFor(dataDir))
    .filter((p) => p.cmd.includes("engine_child.ts"))
    .map((p) => p.pid);
}

/** `pgrep -f engine_child.ts`: all engine processes on the machine (for the log only). */
async function pgrepEngineCount(): Promise<number> {
  const out = await new Deno.Command("pgrep", { args: ["-f", "engine_child.ts"], stdout: "piped" })
    .output().catch(() => null);
  if (!out) return -1;
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.trim() !== "").length;
}

async function waitUntil<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Every file under `dir`, relative to it. */
async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${dir}/${prefix}`)) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory) out.push(`${rel}/`, ...await listFiles(dir, rel));
    else out.push(rel);
  }
  return out.sort();
}

/**
 * Names a crash can leave behind: the store's `.<name>.tmp-<random>` artifact files (see
 * lib/store/kv_store.ts) or anything else hidden or temporary under artifacts/.
 */
function temporaryNames(files: string[]): string[] {
  return files.filter((f) => {
    const base = f.replace(/\/$/, "").split("/").at(-1)!;
    return /\.tmp/i.test(base) || (f.startsWith("artifacts/") && base.startsWith("."));
  });
}

/** Records as the service acknowledged them (the response body), by id. */
interface Acked {
  datasets: Map<string, any>;
  models: Map<string, any>;
}

/**
 * Creates small datasets and models, one after another, until `stop` is set (at most 400,
 * a few dozen a second, so the checks after the restart stay quick); records what was acked.
 */
async function writer(url: string, acked: Acked, stop: { now: boolean }, seed: number) {
  for (let i = 0; !stop.now && i < 400; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 20));
    try {
      if (i % 2 === 0) {
        const r = await api(url, "POST", "/v1/datasets", {
          kind: "uniform",
          vocabSize: 16,
          seqLen: 8,
          count: 32,
          seed: seed * 1000 + i,
        });
        if (r.status !== 201) throw new Error(`dataset: ${r.status} ${JSON.stringify(r.json)}`);
        // The record is acknowledged; its tokens are read back after the restart.
        acked.datasets.set(r.json.id, r.json);
      } else {
        const r = await api(url, "POST", "/v1/models", { config: CONFIG, seed: seed * 1000 + i });
        if (r.status !== 201) throw new Error(`model: ${r.status} ${JSON.stringify(r.json)}`);
        acked.models.set(r.json.id, r.json);
      }
    } catch (e) {
      // Connection refused or reset once the service is killed: not acknowledged.
      if (stop.now || e instanceof TypeError) return;
      throw e;
    }
  }
}

Deno.test({
  name: "kill -9 mid-run: acknowledged records survive, the run resumes, nothing stray",
  ignore: Deno.build.os !== "linux", // reads /proc
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "memcap-crash-" });
    const pgrepBefore = await pgrepEngineCount();
    let main: MainProcess | null = await startMain(dir);
    try {
      const url = main.url;
      const acked: Acked = { datasets: new Map(), models: new Map() };

      // Records made before the run: a uniform dataset, a token dataset, a model to train,
      // a model left alone, and a model with uploaded weights.
      const ds = await api(url, "POST", "/v1/datasets", {
        kind: "uniform",
        vocabSize: 16,
        seqLen: 8,
        count: 8,
        seed: 3,
      });
      assert.equal(ds.status, 201, JSON.stringify(ds.json));
      const tokens = await api(url, "POST", "/v1/datasets", {
        kind: "tokens",
        vocabSize: 16,
        sequences: [[0, 1, 2, 3, 4, 5, 6, 7], [15, 14, 13, 12, 11, 10, 9, 8]],
      });
      assert.equal(tokens.status, 201, JSON.stringify(tokens.json));
      for (const r of [ds, tokens]) acked.datasets.set(r.json.id, r.json);
      const models: string[] = [];
      for (const seed of [1, 2, 3]) {
        const m = await api(url, "POST", "/v1/models", { config: CONFIG, seed });
        assert.equal(m.status, 201, JSON.stringify(m.json));
        models.push(m.json.id);
      }
      const [trained, untouched, uploaded] = models;
      const upload = await fetch(`${url}/v1/models/${uploaded}/weights`, {
        method: "PUT",
        headers: { "content-type": "application/octet-stream" },
        body: await bytesOf(url, `/v1/models/${untouched}/weights`) as Uint8Array<ArrayBuffer>,
      });
      assert.equal(upload.status, 200, await upload.text());
      for (const id of models) {
        acked.models.set(id, (await api(url, "GET", `/v1/models/${id}`)).json);
      }
      const initialWeights = await sha256(await bytesOf(url, `/v1/models/${trained}/weights`));

      // A capacity sweep of one tiny model, finished before the run starts (one job at a time).
      const sweep = await api(url, "POST", "/v1/capacity", {
        config: CONFIG,
        datasetSizes: [2],
        seeds: [0],
        training: TINY_SWEEP_TRAINING,
        maxFleetSize: 1,
      });
      assert.equal(sweep.status, 202, JSON.stringify(sweep.json));
      const sweepId = sweep.json.id as string;
      const sweepDone = await waitUntil("the sweep to end", async () => {
        const r = (await api(url, "GET", `/v1/capacity/${sweepId}`)).json;
        return ["queued", "running"].includes(r.status) ? undefined : r;
      }, 60_000);
      assert.equal(sweepDone.status, "succeeded", JSON.stringify(sweepDone.error));

      const run = await api(url, "POST", "/v1/runs", {
        modelId: trained,
        datasetId: ds.json.id,
        optimizer: { type: "adamw", lr: 0.005 },
        batchSize: 8,
        steps: STEPS,
        evalEvery: EVAL_EVERY,
      });
      assert.equal(run.status, 202, JSON.stringify(run.json));
      const runId = run.json.id as string;

      // Writers keep creating records while the run trains; kill -9 once a few checkpoints
      // are recorded.
      const stop = { now: false };
      const writers = [1, 2].map((seed) => writer(url, acked, stop, seed));
      const before = await waitUntil(
        "a few checkpoints",
        async () => {
          const r = (await api(url, "GET", `/v1/runs/${runId}`)).json;
          if (r.status !== "queued" && r.status !== "running") {
            throw new Error(`the run ended before the kill: ${JSON.stringify(r)}`);
          }
          return r.progress?.step >= 3 * EVAL_EVERY ? r : undefined;
        },
        60_000,
        50,
      );
      const oldEngines = await engineChildren(dir);
      assert.equal(oldEngines.length, 1, "one engine process while the run trains");
      await main.stop("SIGKILL");
      main = null;
      stop.now = true;
      await Promise.all(writers);
      assert.ok(acked.datasets.size >= 3 && acked.models.size >= 4, "the writers wrote");

      // The orphaned engine child notices its parent is gone and exits by itself.
      await waitUntil(
        "the engine child to exit",
        async () => {
          const alive = (await engineChildren(dir)).filter((p) => oldEngines.includes(p));
          return alive.length === 0 ? true : undefined;
        },
        30_000,
        200,
      );
      const leftByCrash = temporaryNames(await listFiles(dir));

      main = await startMain(dir);
      const url2 = main.url;

      // Every acknowledged record is there, whole: datasets with readable tokens, models with
      // weights that download and, where nothing trained them, are byte for byte the same.
      for (const [id, record] of acked.datasets) {
        const got = await api(url2, "GET", `/v1/datasets/${id}`);
        assert.equal(got.status, 200, `dataset ${id} lost`);
        assert.deepEqual(got.json, record);
        const seqs = await allSequences(url2, id, record.count);
        assert.equal(seqs.length, record.count);
        assert.ok(seqs.every((s) => s.length === 8 && s.every((t) => t >= 0 && t < 16)));
      }
      const tokensBack = await allSequences(url2, tokens.json.id, 2);
      assert.deepEqual(tokensBack, [[0, 1, 2, 3, 4, 5, 6, 7], [15, 14, 13, 12, 11, 10, 9, 8]]);
      for (const [id, record] of acked.models) {
        const got = await api(url2, "GET", `/v1/models/${id}`);
        assert.equal(got.status, 200, `model ${id} lost`);
        if (id !== trained) assert.deepEqual(got.json, record);
        const weights = await bytesOf(url2, `/v1/models/${id}/weights`);
        assert.ok(weights.length > 8, `model ${id}: empty weights`);
      }
      assert.equal(
        await sha256(await bytesOf(url2, `/v1/models/${uploaded}/weights`)),
        await sha256(await bytesOf(url2, `/v1/models/${untouched}/weights`)),
        "the uploaded weights are the ones uploaded",
      );
      // A model made with the same seed as before the crash has the same weights: the store
      // holds exactly what was acknowledged.
      const again = await api(url2, "POST", "/v1/models", { config: CONFIG, seed: 2 });
      assert.equal(
        await sha256(await bytesOf(url2, `/v1/models/${again.json.id}/weights`)),
        await sha256(await bytesOf(url2, `/v1/models/${untouched}/weights`)),
      );

      // The sweep is there as it finished, its plot drawn from its stored points.
      assert.deepEqual((await api(url2, "GET", `/v1/capacity/${sweepId}`)).json, sweepDone);
      const plot = new TextDecoder().decode(
        await bytesOf(url2, `/v1/capacity/${sweepId}/plot.svg`),
      );
      assert.match(plot, /^<svg|<\?xml/);

      // Lists hold only whole records: each listed one reads back (nothing half-written).
      for (const collection of ["datasets", "models", "runs", "capacity"]) {
        const listed = await listAll(url2, collection);
        for (const id of listed) {
          assert.equal((await api(url2, "GET", `/v1/${collection}/${id}`)).status, 200, id);
        }
        const ackedIds = collection === "datasets"
          ? acked.datasets
          : collection === "models"
          ? acked.models
          : collection === "runs"
          ? new Map([[runId, null]])
          : new Map([[sweepId, null]]);
        for (const id of ackedIds.keys()) assert.ok(listed.includes(id), `${id} not listed`);
      }

      // The temporary files the crash left are swept at the restart (the resumed run may be
      // writing a checkpoint of its own now: no temporary file at all is checked at its end),
      // and every artifact folder belongs to a record.
      const files = await listFiles(dir);
      assert.deepEqual(
        temporaryNames(files).filter((f) => leftByCrash.includes(f)),
        [],
        `temporary files of the crash after the restart`,
      );
      for (const f of files) {
        const m = f.match(/^artifacts\/(datasets|models|runs|capacity)\/([^/]+)\/$/);
        if (!m) continue;
        const got = await api(url2, "GET", `/v1/${m[1]}/${m[2]}`);
        assert.equal(got.status, 200, `orphaned artifact folder ${f}`);
      }

      // The run resumes from its checkpoint and finishes with its result whole.
      const afterRestart = (await api(url2, "GET", `/v1/runs/${runId}`)).json;
      assert.ok(["queued", "running"].includes(afterRestart.status), afterRestart.status);
      assert.equal(afterRestart.input.steps, STEPS);
      const done = await waitUntil(
        "the resumed run to end",
        async () => {
          const r = (await api(url2, "GET", `/v1/runs/${runId}`)).json;
          return ["queued", "running"].includes(r.status) ? undefined : r;
        },
        90_000,
        200,
      );
      assert.equal(done.status, "succeeded", JSON.stringify(done.error));
      assert.deepEqual(temporaryNames(await listFiles(dir)), [], "temporary files at the end");
      assert.equal(done.attempts, 2, "started once, then resumed once");
      assert.equal(done.result.steps, STEPS);
      const curve = done.result.curve.map((p: { step: number }) => p.step);
      assert.equal(curve[0], EVAL_EVERY, "evaluations before the kill are kept");
      assert.equal(new Set(curve).size, curve.length, "no step evaluated twice");
      assert.deepEqual(curve, [...curve].sort((a, b) => a - b));
      assert.equal(curve.at(-1), STEPS);
      assert.ok(
        curve.length >= STEPS / EVAL_EVERY - 1,
        `curve has ${curve.length} points; checkpoint at ≥ ${before.progress.step}`,
      );

      // The trained weights are the run's: they memorize the data as the result says.
      const model = (await api(url2, "GET", `/v1/models/${trained}`)).json;
      assert.equal(model.trainedSteps, STEPS, JSON.stringify(model));
      assert.notEqual(
        await sha256(await bytesOf(url2, `/v1/models/${trained}/weights`)),
        initialWeights,
      );
      const mem = await api(url2, "POST", "/v1/memorization", {
        modelId: trained,
        datasetId: ds.json.id,
      });
      assert.equal(mem.status, 200, JSON.stringify(mem.json));
      assert.ok(
        Math.abs(mem.json.totalBits - done.result.memorizedBits) <= 1e-6 * mem.json.datasetBits,
        `memorization ${mem.json.totalBits} vs the run's ${done.result.memorizedBits}`,
      );
      console.log(
        `killed at step ~${before.progress.step}; acked ${acked.datasets.size} datasets, ` +
          `${acked.models.size} models; temp files left by the crash: ${leftByCrash.length} ` +
          `(${leftByCrash.join(", ") || "none"}; swept at the restart)`,
      );
    } finally {
      await main?.stop("SIGTERM");
      // No process of this data folder outlives the test, the engine child included.
      const stray = await waitUntil(
        "all service processes to exit",
        async () => {
          const left = await processesFor(dir);
          return left.length === 0 ? left : undefined;
        },
        30_000,
        200,
      ).catch(async () => await processesFor(dir));
      await Deno.remove(dir, { recursive: true });
      console.log(
        `pgrep -f engine_child.ts: ${pgrepBefore} before the test, ${await pgrepEngineCount()} ` +
          `after (other runs on this machine count too); this test's: ${stray.length}`,
      );
      assert.deepEqual(stray, [], "stray processes");
    }
  },
});
