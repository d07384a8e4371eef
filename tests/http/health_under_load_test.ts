// Heavy work stays off the HTTP event loop (issue 25, item 4): while main.ts creates a large
// uniform dataset (generated in a Worker and streamed to its file), /v1/health keeps answering
// within HEALTH_P99_MS at the 99th percentile (or, on a machine so loaded that idle requests
// miss that, within 3× the idle p99), and no request waits for the generation.
import assert from "node:assert/strict";
import { type MainProcess, startMain } from "./_main_process.ts";
import { fetchJson as api } from "./_client.ts";

/** The bound. */
const HEALTH_P99_MS = 50;

/** 2^26 tokens at 4 bytes (V > 65536): a 256 MiB file, a few seconds to generate here. */
const BIG = { kind: "uniform", vocabSize: 1 << 20, seqLen: 4096, count: 16384, seed: 7 };

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

/** Health latencies (ms), one request after another with `gapMs` between, until `until()`. */
async function pollHealth(url: string, until: () => boolean, gapMs = 5): Promise<number[]> {
  const times: number[] = [];
  while (!until()) {
    const t0 = performance.now();
    const r = await fetch(`${url}/v1/health`);
    await r.body?.cancel();
    times.push(performance.now() - t0);
    assert.equal(r.status, 200);
    await new Promise((res) => setTimeout(res, gapMs));
  }
  return times;
}

Deno.test({
  name: "GET /v1/health stays fast (50 ms p99) while a 256 MiB dataset is generated",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "memcap-health-load-" });
    let main: MainProcess | null = null;
    try {
      main = await startMain(dir);
      // Warm up: the first health call starts the engine and asks it for the adapter.
      for (let i = 0; i < 20; i++) await (await fetch(`${main.url}/v1/health`)).body?.cancel();
      let stop = false;
      const idle = await Promise.all([
        pollHealth(main.url, () => stop),
        new Promise((r) => setTimeout(r, 1000)).then(() => (stop = true)),
      ]).then(([t]) => t);

      let done = false;
      const t0 = performance.now();
      const created = api(main.url, "POST", "/v1/datasets", BIG).finally(() => (done = true));
      const busy = await pollHealth(main.url, () => done);
      const seconds = (performance.now() - t0) / 1000;
      const r = await created;
      assert.equal(r.status, 201, JSON.stringify(r.json));
      assert.equal(r.json.count, BIG.count);

      const p99 = percentile(busy, 99), p50 = percentile(busy, 50);
      console.log(
        `dataset of 2^26 tokens in ${seconds.toFixed(1)} s; health during it: ${busy.length} ` +
          `requests, p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ` +
          `${Math.max(...busy).toFixed(1)} ms (idle: p50 ${percentile(idle, 50).toFixed(1)} ms, ` +
          `p99 ${percentile(idle, 99).toFixed(1)} ms)`,
      );
      assert.ok(seconds >= 1, `the dataset took ${seconds} s: too fast to show anything`);
      assert.ok(busy.length >= 100, `only ${busy.length} health samples`);
      // Generated on the event loop, the dataset would hold one health request for all of its
      // seconds (the audit saw 8.4 s): no request may wait anywhere near that.
      assert.ok(Math.max(...busy) < 1000, `a health request waited ${Math.max(...busy)} ms`);
      // The 50 ms, unless the machine is too loaded for even idle requests to meet it
      // (shared 2-core CI machines: then within 3× the idle p99 measured just before).
      const bound = Math.max(HEALTH_P99_MS, 3 * percentile(idle, 99));
      assert.ok(p99 < bound, `health p99 ${p99.toFixed(1)} ms ≥ ${bound.toFixed(1)} ms`);
      // The file is whole: its last page reads back.
      const page = await api(
        main.url,
        "GET",
        `/v1/datasets/${r.json.id}/sequences?offset=${BIG.count - 1}&limit=1`,
      );
      assert.equal(page.status, 200);
      assert.equal(page.json.sequences[0].length, BIG.seqLen);
    } finally {
      await main?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
