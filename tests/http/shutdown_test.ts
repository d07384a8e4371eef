// Graceful shutdown as an operator triggers it: Ctrl-C in a terminal and systemd's stop send
// the signal to the whole process group, main.ts and its engine child alike. The engine child
// must outlive the signal long enough to write the running job's shutdown checkpoint, so the
// run resumes after the restart from where it stopped, not from step 0.
import assert from "node:assert/strict";
import { type MainProcess, startMain } from "./_main_process.ts";
import { fetchJson as api } from "./_client.ts";

const CONFIG = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 16, heads: 2 };
const STEPS = 3000;
/** Far past the steps done before the signal: the shutdown's checkpoint is the only one. */
const NEVER = 1_000_000;

/** Polls the run until `done` says so (or `ms` pass); returns its last state. */
async function pollRun(url: string, id: string, done: (r: any) => boolean, ms: number) {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = (await api(url, "GET", `/v1/runs/${id}`)).json;
    if (done(r) || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 20));
  }
}

const ended = (r: any) => !["queued", "running"].includes(r.status);

Deno.test({
  name: "SIGINT to the whole process group checkpoints the running job; the run resumes there",
  ignore: Deno.build.os !== "linux", // setsid
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "memcap-shutdown-" });
    let main: MainProcess | null = null;
    try {
      main = await startMain(dir, {}, { ownGroup: true });
      const ds = await api(main.url, "POST", "/v1/datasets", {
        kind: "uniform",
        vocabSize: 16,
        seqLen: 8,
        count: 8,
        seed: 4,
      });
      assert.equal(ds.status, 201, JSON.stringify(ds.json));
      const model = await api(main.url, "POST", "/v1/models", { config: CONFIG, seed: 4 });
      assert.equal(model.status, 201, JSON.stringify(model.json));
      const run = await api(main.url, "POST", "/v1/runs", {
        modelId: model.json.id,
        datasetId: ds.json.id,
        optimizer: { type: "adamw", lr: 0.005 },
        batchSize: 8,
        steps: STEPS,
        evalEvery: NEVER,
        checkpointEvery: NEVER,
      });
      assert.equal(run.status, 202, JSON.stringify(run.json));
      const id = run.json.id as string;

      const before = await pollRun(main.url, id, (r) => r.progress?.step > 0 || ended(r), 60_000);
      assert.equal(before.status, "running", JSON.stringify(before));
      const seen = before.progress.step as number;

      const code = await main.stop("SIGINT");
      const log = `${main.out.join("\n")}\n${main.err.join("\n")}`;
      assert.equal(code, 0, log);
      assert.ok(main.out.some((l) => /SIGINT: shutting down/.test(l)), log);
      // The engine child ignored the signal and was closed by the service, not killed by it.
      assert.ok(!main.err.some((l) => /engine process .*(killed|exited)/.test(l)), log);

      main = await startMain(dir, {}, { ownGroup: true });
      const done = await pollRun(main.url, id, ended, 60_000);
      assert.equal(done.status, "succeeded", JSON.stringify(done.error ?? done.status));
      assert.equal(done.result.steps, STEPS);
      const resumed = done.result.resumedFromSteps as number[];
      assert.ok(resumed.length >= 1, "resumed from a checkpoint, not from step 0");
      assert.ok(resumed[0] > 0 && resumed[0] >= seen, `resumed from ${resumed[0]}, seen ${seen}`);
      console.log(`signalled at step ≥ ${seen}; resumed from step ${resumed[0]}`);
    } finally {
      await main?.stop("SIGKILL");
      await Deno.remove(dir, { recursive: true });
    }
  },
});
