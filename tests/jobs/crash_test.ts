// kill -9 at any moment loses no acknowledged record, and no half-written
// artifact or record is ever visible; the restarted service resumes the job.
import assert from "node:assert/strict";
import { KvStore } from "../../lib/store/kv_store.ts";
import { type JobBody, JobQueue } from "../../lib/jobs/queue.ts";

const fixture = new URL("./fixtures/crash_worker.ts", import.meta.url).pathname;

/** Starts the worker, waits for `minStep` acknowledged steps, kills it with SIGKILL. */
async function runAndKill(
  dir: string,
  minStep: number,
): Promise<{ acked: number; started: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-kv", fixture, dir],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let acked = 0;
  let started = "";
  let buf = "";
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    while (acked < minStep) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const l of lines) {
        if (l.startsWith("STEP ")) acked = Number(l.slice(5));
        if (l.startsWith("START ")) started = l;
      }
    }
    child.kill("SIGKILL");
  } finally {
    await reader.cancel().catch(() => {});
    await child.status;
  }
  return { acked, started };
}

async function checkState(dir: string, id: string, acked: number): Promise<number> {
  const store = await KvStore.open(dir);
  try {
    const rec = await store.get<JobBody<unknown, { step: number }>>("runs", id);
    assert.equal(rec!.status, "running", "left running by the killed process");
    const step = rec!.body.progress!.step;
    assert.ok(step >= acked, `persisted step ${step} >= acknowledged ${acked}`);
    // The checkpoint is whole and at least as new as the persisted progress.
    assert.deepEqual(await store.listArtifacts("runs", id), ["checkpoint.bin"]);
    const names = (await Array.fromAsync(Deno.readDir(`${dir}/artifacts/runs/${id}`))).map((e) =>
      e.name
    );
    assert.deepEqual(names, ["checkpoint.bin"], "temp files were swept on open");
    const bytes = (await store.getArtifact("runs", id, "checkpoint.bin"))!;
    assert.equal(bytes.length, 256 * 1024);
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    const ck = words[0];
    assert.ok(words.every((w) => w === ck), "checkpoint not torn");
    assert.ok(ck === step || ck === step + 1, `checkpoint ${ck} vs progress ${step}`);
    return step;
  } finally {
    await store.close();
  }
}

Deno.test({
  name: "crash: kill -9 mid-job keeps acknowledged progress and whole artifacts; restart resumes",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "memcap_crash_" });
    try {
      let id: string;
      {
        const store = await KvStore.open(dir);
        id = (await new JobQueue(store).enqueue("runs", "train", {})).id;
        await store.close();
      }
      const first = await runAndKill(dir, 15);
      assert.equal(first.started, "START 0 false");
      const step1 = await checkState(dir, id, first.acked);

      // Second life (also killed): it must resume from the persisted step.
      const second = await runAndKill(dir, step1 + 10);
      assert.equal(second.started, `START ${step1} true`);
      const step2 = await checkState(dir, id, second.acked);
      assert.ok(step2 > step1);

      // Third life in-process: resumes and finishes.
      const store = await KvStore.open(dir);
      const q = new JobQueue(store, { log: () => {} });
      let from = -1;
      q.register<unknown, { step: number }>("train", (ctx) => {
        assert.ok(ctx.resumed);
        assert.equal(ctx.attempt, 3);
        from = ctx.lastProgress!.step;
        return Promise.resolve(from);
      });
      try {
        await q.start();
        const job = await q.wait("runs", id, 10_000);
        assert.equal(job.status, "succeeded");
        assert.equal(job.result, step2);
        assert.equal(job.recoveries, 2);
      } finally {
        await q.stop();
        await store.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
