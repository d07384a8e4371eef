// An engine process whose parent dies exits promptly on its own (issue 25, item 4), even while
// its main thread is busy or stuck: a Worker in it (gpu/parent_watch.ts) sees its parent pid
// change and kills the process. Found through /proc, as an operator would.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { readLines } from "../../experiments/service.ts";
import { startMain } from "./_main_process.ts";
import { fetchJson as api } from "./_client.ts";
import { TINY_SWEEP_TRAINING } from "./_fixtures.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A file under /proc, read by `cat`: Deno wants --allow-all for /proc itself, and the test
 * task grants run permission, not all. Empty when it cannot be read (the process is gone).
 */
function proc(path: string): string {
  const out = new Deno.Command("sh", { args: ["-c", `cat ${path} 2>/dev/null`] }).outputSync();
  return new TextDecoder().decode(out.stdout);
}

/** Pids of `pid`'s children (every thread's), from /proc. */
function childrenOf(pid: number): number[] {
  const text = proc(`/proc/${pid}/task/*/children`).trim();
  return text ? text.split(/\s+/).map(Number) : [];
}

function cmdline(pid: number): string {
  return proc(`/proc/${pid}/cmdline`).replaceAll("\0", " ");
}

/** The engine process among `pid`'s children, waiting up to `ms` for it to start. */
async function engineOf(pid: number, ms = 30_000): Promise<number> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(50)) {
    const engine = childrenOf(pid).find((c) => cmdline(c).includes("engine_child.ts"));
    if (engine !== undefined) return engine;
  }
  throw new Error(`no engine process under ${pid}`);
}

/** A process is gone once /proc no longer has it, or it is a zombie (dead, not yet reaped). */
function alive(pid: number): boolean {
  const stat = proc(`/proc/${pid}/stat`);
  return stat !== "" && stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
}

/** Seconds until `pid` is gone (at most `ms`, then it is killed and the test fails). */
async function secondsUntilGone(pid: number, ms = 10_000): Promise<number> {
  const t0 = performance.now();
  while (alive(pid)) {
    if (performance.now() - t0 > ms) {
      Deno.kill(pid, "SIGKILL");
      assert.fail(`engine process ${pid} still runs ${ms} ms after its parent died`);
    }
    await sleep(20);
  }
  return (performance.now() - t0) / 1000;
}

Deno.test({
  name: "the engine exits on its own when main.ts is killed with -9 during a sweep",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "memcap-orphan-" });
    try {
      const main = await startMain(dir);
      const r = await api(main.url, "POST", "/v1/capacity", {
        config: { vocabSize: 64, seqLen: 16, layers: 1, dModel: 8, heads: 1 },
        datasetSizes: [1048576],
        seeds: [0],
        testSequences: 0,
        maxExtraSizes: 0,
        training: TINY_SWEEP_TRAINING,
      });
      assert.equal(r.status, 202, JSON.stringify(r.json));
      const engine = await engineOf(main.pid);
      // Busy: evaluating a million sequences in batches of two, after its first step.
      for (const deadline = Date.now() + 120_000;; await sleep(50)) {
        const s = (await api(main.url, "GET", `/v1/capacity/${r.json.id}`)).json;
        if ((s.progress?.step ?? 0) >= 1) break;
        assert.equal(s.status === "queued" || s.status === "running", true, JSON.stringify(s));
        if (Date.now() > deadline) {
          await main.stop("SIGKILL");
          assert.fail(`no step reported in 120 s: ${JSON.stringify(s)}`);
        }
      }
      const t0 = performance.now();
      await main.stop("SIGKILL");
      await secondsUntilGone(engine);
      const seconds = (performance.now() - t0) / 1000; // from the kill
      console.log(`engine gone ${seconds.toFixed(2)} s after main.ts was killed`);
      assert.ok(seconds < 3, `${seconds} s`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "an engine whose thread is stuck exits when its parent is killed",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const parent = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", fileURLToPath(new URL("./_engine_parent.ts", import.meta.url))],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    let hung!: () => void;
    const ready = new Promise<void>((r) => (hung = r));
    const reading = readLines(parent.stdout, (line) => line === "hung" && hung());
    let engine: number | undefined;
    try {
      await Promise.race([ready, sleep(60_000).then(() => assert.fail("the engine never hung"))]);
      engine = await engineOf(parent.pid);
      assert.ok(alive(engine));
      await sleep(300);
      parent.kill("SIGKILL");
      await parent.status;
      const seconds = await secondsUntilGone(engine);
      console.log(`stuck engine gone ${seconds.toFixed(2)} s after its parent was killed`);
      assert.ok(seconds < 3, `${seconds} s`);
    } finally {
      try {
        parent.kill("SIGKILL");
      } catch {
        // already gone
      }
      await parent.status;
      await reading.catch(() => {});
    }
  },
});
