// Cancel and SIGTERM take effect within seconds whatever a capacity sweep is doing (issue 25,
// item 4), measured on main.ts as its own process: a sweep over a dataset of 4M sequences
// spends seconds generating it in the engine and hours evaluating it (2M batches of 2), and
// both are interruptible now (chunked generation, a check before every evaluation batch).
import assert from "node:assert/strict";
import { type MainProcess, startMain } from "./_main_process.ts";
import { fetchJson as api } from "./_client.ts";
import { TINY_SWEEP_TRAINING } from "./_fixtures.ts";

/** A sweep of one model on 4,194,304 sequences of 16 tokens: 256 MiB of u32 tokens. */
const HUGE = {
  config: { vocabSize: 64, seqLen: 16, layers: 1, dModel: 8, heads: 1 },
  datasetSizes: [4194304],
  seeds: [0],
  testSequences: 0,
  maxExtraSizes: 0,
  training: TINY_SWEEP_TRAINING,
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(url: string, id: string, ok: (s: any) => boolean, ms = 120_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = (await api(url, "GET", `/v1/capacity/${id}`)).json;
    if (ok(s)) return s;
    if (Date.now() > deadline) throw new Error(`timed out; last state ${JSON.stringify(s)}`);
    await sleep(20);
  }
}

/** Cancels sweep `id` and returns the seconds until GET reports it cancelled. */
async function cancelLatency(url: string, id: string): Promise<number> {
  const t0 = performance.now();
  const r = await api(url, "POST", `/v1/capacity/${id}/cancel`);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  await waitFor(url, id, (s) => s.status !== "running", 60_000).then((s) =>
    assert.equal(s.status, "cancelled", JSON.stringify(s))
  );
  return (performance.now() - t0) / 1000;
}

Deno.test({
  name: "a huge capacity sweep is cancelled within seconds, generating or evaluating; SIGTERM too",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "memcap-cancel-latency-" });
    let main: MainProcess | null = null;
    try {
      main = await startMain(dir);
      const start = async () => {
        const r = await api(main!.url, "POST", "/v1/capacity", HUGE);
        assert.equal(r.status, 202, JSON.stringify(r.json));
        return r.json.id as string;
      };

      // 1. While the engine generates the 256 MiB dataset (a few seconds here).
      const a = await start();
      await waitFor(main.url, a, (s) => s.status === "running");
      await sleep(500);
      const generating = await cancelLatency(main.url, a);

      // 2. While it evaluates the model on all 4M sequences, after the first step.
      const b = await start();
      await waitFor(main.url, b, (s) => (s.progress?.step ?? 0) >= 1);
      await sleep(1000);
      const evaluating = await cancelLatency(main.url, b);

      // 3. SIGTERM while evaluating: the service stops (the sweep goes back to the queue).
      const c = await start();
      await waitFor(main.url, c, (s) => (s.progress?.step ?? 0) >= 1);
      await sleep(1000);
      const t0 = performance.now();
      const code = await main.stop("SIGTERM");
      const sigterm = (performance.now() - t0) / 1000;
      main = null;

      console.log(
        `cancel while generating: ${generating.toFixed(2)} s; while evaluating: ` +
          `${evaluating.toFixed(2)} s; SIGTERM while evaluating: exit after ${
            sigterm.toFixed(2)
          } s`,
      );
      assert.equal(code, 0);
      assert.ok(generating < 3, `cancel while generating took ${generating} s`);
      assert.ok(evaluating < 3, `cancel while evaluating took ${evaluating} s`);
      // Under the engine's 5 s close grace: the engine exits on its own, it is not killed.
      assert.ok(sigterm < 4.5, `SIGTERM took ${sigterm} s`);
    } finally {
      await main?.stop("SIGKILL");
      await Deno.remove(dir, { recursive: true });
    }
  },
});
