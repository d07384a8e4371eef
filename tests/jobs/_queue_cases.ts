// The job queue's cases, registered once per store backend: queue_test.ts (Deno KV) and
// queue_pg_test.ts (PostgreSQL). `place` makes a fresh place for a store (a folder, a
// database) and `open` opens a store there, as often as a case restarts the "process".
import assert from "node:assert/strict";
import type { Store } from "../../lib/store/store.ts";
import {
  type JobBody,
  type JobEvent,
  JobFailure,
  JobQueue,
  type JobQueueOptions,
  QueueFullError,
  ShuttingDownError,
} from "../../lib/jobs/queue.ts";

const quiet = { log: () => {} };

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface QueueBackend {
  /** A fresh, empty place for a store; `where` is handed to `open`. */
  place(): Promise<{ where: string; cleanup(): Promise<void> }>;
  /** Opens a store at `where` (again after a simulated crash: it must see the same data). */
  open(where: string): Promise<Store>;
}

/** Registers the queue's cases against `backend`; names get `label` appended. */
export function queueCases(
  label: string,
  backend: QueueBackend,
  testOptions: Partial<Deno.TestDefinition> = {},
): void {
  const open = backend.open;
  const test = (name: string, fn: () => Promise<void>) =>
    Deno.test({ ...testOptions, name: label ? `${name} (${label})` : name, fn });

  async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
    const { where, cleanup } = await backend.place();
    try {
      await fn(where);
    } finally {
      await cleanup();
    }
  }

  /** A store and a queue at `dir`; always stopped and closed. */
  async function withQueue(
    dir: string,
    opts: JobQueueOptions,
    fn: (q: JobQueue, store: Store) => Promise<void>,
  ): Promise<void> {
    const store = await open(dir);
    const q = new JobQueue(store, { ...quiet, ...opts });
    try {
      await fn(q, store);
    } finally {
      await q.stop();
      await store.close();
    }
  }

  test("queue: jobs run one at a time, in enqueue order, and succeed", async () => {
    await withDir(async (dir) => {
      await withQueue(dir, {}, async (q) => {
        const log: string[] = [];
        let active = 0, maxActive = 0;
        q.register<{ n: number }, unknown, number>("work", async (ctx) => {
          active++;
          maxActive = Math.max(maxActive, active);
          log.push(`start ${ctx.input.n}`);
          assert.equal(ctx.attempt, 1);
          assert.equal(ctx.resumed, false);
          await tick(15);
          log.push(`end ${ctx.input.n}`);
          active--;
          return ctx.input.n * 10;
        });
        const jobs = [];
        for (let n = 0; n < 4; n++) jobs.push(await q.enqueue("runs", "work", { n }));
        for (const j of jobs) assert.equal(j.status, "queued");
        assert.deepEqual(await q.depth(), { queued: 4, running: 0 });
        await q.start();
        const done = await Promise.all(jobs.map((j) => q.wait("runs", j.id, 10_000)));
        assert.equal(maxActive, 1);
        assert.deepEqual(log, [0, 1, 2, 3].flatMap((n) => [`start ${n}`, `end ${n}`]));
        for (const [n, j] of done.entries()) {
          assert.equal(j.status, "succeeded");
          assert.equal(j.result, n * 10);
          assert.equal(j.attempts, 1);
          assert.ok(j.startedAt && j.finishedAt);
        }
        assert.deepEqual(await q.depth(), { queued: 0, running: 0 });
        // A job enqueued while the worker idles starts without waiting for a poll.
        const late = await q.enqueue("capacity", "work", { n: 9 });
        const t0 = Date.now();
        assert.equal((await q.wait("capacity", late.id, 10_000)).result, 90);
        assert.ok(Date.now() - t0 < 500);
      });
    });
  });

  test("queue: reopen queues an ended job again, as a resume; delete and reopen exclude", async () => {
    await withDir(async (dir) => {
      await withQueue(dir, {}, async (q, store) => {
        const seen: unknown[] = [];
        const hold = deferred();
        q.register<{ n: number }, unknown, number>("work", async (ctx) => {
          const kept = await ctx.store.getArtifact(ctx.collection, ctx.id, "kept.bin");
          seen.push({ n: ctx.input.n, resumed: ctx.resumed, kept: kept?.[0] ?? null });
          await ctx.store.putArtifact(ctx.collection, ctx.id, "kept.bin", new Uint8Array([7]));
          if (ctx.input.n === 3) await hold.promise;
          return ctx.input.n * 10;
        });
        await q.start();
        const job = await q.enqueue("capacity", "work", { n: 1 });
        assert.equal((await q.wait("capacity", job.id, 10_000)).result, 10);
        // Deaths of the first attempts do not count against the reopened one.
        await store.atomicUpdate<JobBody>("capacity", job.id, (cur) => ({
          body: { ...cur.body, recoveries: 2 },
        }));
        const statuses: string[] = [];
        const unsubscribe = q.subscribe(job.id, (ev) => {
          if (ev.type === "status") statuses.push(ev.job.status);
        });
        // `may` sees the job as stored and can refuse.
        const refused = await q.reopen("capacity", job.id, { n: 9 }, (j) => j.result !== 10);
        assert.equal(refused?.reopened, false);
        assert.equal(refused?.job.status, "succeeded");
        const r = await q.reopen("capacity", job.id, { n: 2 }, (j) => j.result === 10);
        assert.equal(r?.reopened, true);
        assert.equal(r?.job.status, "queued");
        assert.equal(r?.job.recoveries, 0);
        // The answer it had stays until the new one replaces it.
        assert.equal(r?.job.result, 10);
        const again = await q.wait("capacity", job.id, 10_000);
        unsubscribe();
        assert.equal(again.status, "succeeded");
        assert.equal(again.result, 20);
        assert.deepEqual(again.input, { n: 2 });
        assert.equal(again.attempts, 2);
        // The second start is a resume and finds what the first one kept.
        assert.deepEqual(seen, [
          { n: 1, resumed: false, kept: null },
          { n: 2, resumed: true, kept: 7 },
        ]);
        assert.deepEqual(statuses.filter((s, i) => s !== statuses[i - 1]), [
          "queued",
          "running",
          "succeeded",
        ]);

        // A job that has not ended is neither reopened nor deleted.
        const running = await q.enqueue("capacity", "work", { n: 3 });
        while ((await q.get("capacity", running.id))?.status !== "running") await tick(5);
        const busy = await q.reopen("capacity", running.id, { n: 4 }, () => true);
        assert.equal(busy?.reopened, false);
        assert.equal(await q.delete("capacity", running.id), false);
        assert.equal((await q.get("capacity", running.id))?.status, "running");
        hold.resolve();
        assert.equal((await q.wait("capacity", running.id, 10_000)).status, "succeeded");
        // A delete marks the ended job first: a reopen after that mark finds nothing to queue.
        await store.atomicUpdate<JobBody>("capacity", running.id, (cur) => ({
          body: { ...cur.body, deleting: true },
        }));
        assert.equal(
          (await q.reopen("capacity", running.id, { n: 5 }, () => true))?.reopened,
          false,
        );
        assert.equal(await q.delete("capacity", running.id), true);
        assert.equal(await q.get("capacity", running.id), null);
        assert.equal(await q.reopen("capacity", running.id, { n: 6 }, () => true), null);
      });
    });
  });

  test("queue: concurrency 2 runs two at once", async () => {
    await withDir(async (dir) => {
      await withQueue(dir, { concurrency: 2 }, async (q) => {
        let active = 0, maxActive = 0;
        q.register("work", async () => {
          active++;
          maxActive = Math.max(maxActive, active);
          await tick(30);
          active--;
        });
        await q.start();
        const jobs = await Promise.all([1, 2, 3, 4].map((n) => q.enqueue("runs", "work", { n })));
        await Promise.all(jobs.map((j) => q.wait("runs", j.id, 10_000)));
        assert.equal(maxActive, 2);
      });
    });
  });

  test("queue: cancel a queued job and a running one", async () => {
    await withDir(async (dir) => {
      await withQueue(dir, {}, async (q) => {
        const started = deferred();
        const ran: number[] = [];
        q.register<{ n: number }>("work", async (ctx) => {
          ran.push(ctx.input.n);
          started.resolve();
          let step = 0;
          while (!ctx.cancelled()) {
            await ctx.progress({ step: ++step });
            await tick(5);
          }
          ctx.throwIfAborted();
          return "unreachable";
        });
        const a = await q.enqueue("runs", "work", { n: 1 });
        const b = await q.enqueue("runs", "work", { n: 2 });
        await q.start();
        await started.promise;
        // b is still queued: cancelled at once, never runs.
        const cb = await q.cancel("runs", b.id);
        assert.equal(cb!.status, "cancelled");
        assert.equal(cb!.cancelRequested, true);
        // a is running: flag set, handler stops, state becomes cancelled.
        const ca = await q.cancel("runs", a.id);
        assert.equal(ca!.status, "running");
        assert.equal(ca!.cancelRequested, true);
        const fa = await q.wait("runs", a.id, 10_000);
        assert.equal(fa.status, "cancelled");
        assert.equal(fa.result, null);
        assert.ok((fa.progress as { step: number }).step >= 1, "last progress kept");
        assert.deepEqual(ran, [1]);
        // cancelling a finished job changes nothing; unknown id is null.
        assert.equal((await q.cancel("runs", a.id))!.status, "cancelled");
        assert.equal(await q.cancel("runs", "run_doesnotexist"), null);
      });
    });
  });

  test("queue: progress and outcomes are persisted; events reach subscribers", async () => {
    await withDir(async (dir) => {
      await withQueue(dir, { persistProgressMs: 60_000 }, async (q, store) => {
        const gate = deferred();
        const persisted = deferred();
        q.register("train", async (ctx) => {
          await ctx.progress({ step: 1, loss: 7.6 }); // first report persists (interval elapsed)
          await ctx.progress({ step: 2, loss: 7.5 }); // throttled: event only
          await ctx.progress({ step: 3, loss: 7.4, memorizedBits: 12 }, { persist: true });
          persisted.resolve();
          await gate.promise;
          await ctx.progress({ step: 4, loss: 7.3 }); // throttled; stored with the outcome
          return { finalLoss: 7.3 };
        });
        q.register("boom", () => Promise.reject(new JobFailure("nan_loss", "loss became NaN")));
        q.register("crash", () => Promise.reject(new Error("kaboom")));

        const job = await q.enqueue("runs", "train", { steps: 4 });
        const events: JobEvent[] = [];
        const unsubscribe = q.subscribe(job.id, (e) => events.push(e));
        await q.start();
        await persisted.promise;
        const mid = await store.get<JobBody>("runs", job.id);
        assert.equal(mid!.status, "running");
        assert.deepEqual(mid!.body.progress, { step: 3, loss: 7.4, memorizedBits: 12 });
        gate.resolve();
        const done = await q.wait("runs", job.id, 10_000);
        unsubscribe();
        assert.equal(done.status, "succeeded");
        assert.deepEqual(done.result, { finalLoss: 7.3 });
        assert.deepEqual(done.progress, { step: 4, loss: 7.3 });
        const kinds = events.map((e) =>
          e.type === "status"
            ? `status:${e.job.status}`
            : `p${(e.progress as { step: number }).step}`
        );
        assert.deepEqual(kinds, ["status:running", "p1", "p2", "p3", "p4", "status:succeeded"]);

        const f = await q.wait("runs", (await q.enqueue("runs", "boom", {})).id, 10_000);
        assert.equal(f.status, "failed");
        assert.deepEqual(f.error, { code: "nan_loss", message: "loss became NaN" });
        const g = await q.wait("runs", (await q.enqueue("runs", "crash", {})).id, 10_000);
        assert.deepEqual(g.error, { code: "job_failed", message: "kaboom" });
        const h = await q.wait("runs", (await q.enqueue("runs", "nobody", {})).id, 10_000);
        assert.equal(h.status, "failed");
        assert.equal(h.error!.code, "no_handler");

        // The queue keeps serving after failures; records are in the store.
        const page = await store.list("runs");
        assert.equal(page.items.length, 4);
        assert.equal(await store.count("runs", { status: "failed" }), 3);
      });
    });
  });

  // A job that reports twice in quick succession and then works long without reporting (a
  // sweep's first step, then its evaluation) must not leave its stored progress at the first.
  test("queue: a throttled report is stored once the interval ends", async () => {
    await withDir(async (dir) => {
      await withQueue(dir, { persistProgressMs: 200 }, async (q, store) => {
        const gate = deferred();
        q.register("train", async (ctx) => {
          await ctx.progress({ phase: "compiling", step: 0 }); // persisted at once
          await ctx.progress({ phase: "training", step: 1 }); // throttled, then written
          await gate.promise; // a long evaluation with no report
          return {};
        });
        const job = await q.enqueue("runs", "train", {});
        await q.start();
        let stored: unknown = null;
        for (const deadline = Date.now() + 5_000; Date.now() < deadline; await tick(20)) {
          stored = (await store.get<JobBody>("runs", job.id))?.body.progress ?? null;
          if ((stored as { step?: number } | null)?.step === 1) break;
        }
        gate.resolve();
        assert.deepEqual(stored, { phase: "training", step: 1 });
        assert.equal((await q.wait("runs", job.id, 10_000)).status, "succeeded");
      });
    });
  });

  test("queue: max queue length gives QueueFullError; refs give active users", async () => {
    await withDir(async (dir) => {
      await withQueue(dir, { maxQueued: 2 }, async (q, store) => {
        const model = await store.create("models", {});
        const a = await q.enqueue("runs", "work", {}, { refs: [model.id] });
        await q.enqueue("capacity", "work", {});
        await assert.rejects(() => q.enqueue("runs", "work", {}), QueueFullError);
        // concurrent enqueues cannot overshoot
        const results = await Promise.allSettled([1, 2, 3].map(() => q.enqueue("runs", "w", {})));
        assert.ok(results.every((r) => r.status === "rejected"));
        assert.equal(await store.count("runs"), 1);
        assert.deepEqual((await q.activeJobsUsing(model.id)).map((j) => j.id), [a.id]);
        await q.cancel("runs", a.id);
        assert.deepEqual(await q.activeJobsUsing(model.id), []);
        await q.enqueue("runs", "work", {}); // room again
      });
    });
  });

  test("queue: while stop() waits for a running job, enqueue refuses and writes nothing", async () => {
    await withDir(async (dir) => {
      await withQueue(dir, {}, async (q, store) => {
        const started = deferred();
        const release = deferred();
        q.register("slow", async (ctx) => {
          started.resolve();
          await release.promise; // a checkpoint being written
          ctx.throwIfAborted();
        });
        await q.start();
        await q.enqueue("runs", "slow", {});
        await started.promise;
        const stopping = q.stop();
        await assert.rejects(() => q.enqueue("capacity", "slow", {}), ShuttingDownError);
        release.resolve();
        await stopping;
        assert.equal(await store.count("capacity"), 0);
        assert.equal(await store.count("runs", { status: "queued" }), 1, "the running one resumes");
      });
    });
  });

  test("queue: restart re-queues a job left running and resumes it", async () => {
    await withDir(async (dir) => {
      // First life: a job was claimed, checkpointed at step 5, then the process died.
      let id = "";
      {
        const store = await open(dir);
        const q = new JobQueue(store, quiet);
        id = (await q.enqueue("runs", "train", { steps: 10 })).id;
        // What a worker leaves behind when killed mid-job (see the kill -9 test
        // for the real thing): status running, one attempt, last progress.
        await store.atomicUpdate<JobBody>("runs", id, (cur) => ({
          status: "running",
          body: {
            ...cur.body,
            attempts: 1,
            progress: { step: 5 },
            startedAt: new Date().toISOString(),
          },
        }));
        await store.putArtifact("runs", id, "checkpoint.bin", new Uint8Array([5]));
        await store.close(); // never stopped: a crash
      }
      // Second life.
      await withQueue(dir, {}, async (q, store) => {
        const seen: unknown[] = [];
        q.register<{ steps: number }, { step: number }>("train", async (ctx) => {
          const ckpt = await ctx.store.getArtifact(ctx.collection, ctx.id, "checkpoint.bin");
          seen.push({
            resumed: ctx.resumed,
            attempt: ctx.attempt,
            last: ctx.lastProgress,
            ckpt: ckpt?.[0],
          });
          for (let s = (ctx.lastProgress?.step ?? 0) + 1; s <= ctx.input.steps; s++) {
            await ctx.progress({ step: s });
          }
          return "done";
        });
        const before = await store.get<JobBody>("runs", id);
        assert.equal(before!.status, "running");
        await q.start();
        const job = await q.wait("runs", id, 10_000);
        assert.equal(job.status, "succeeded");
        assert.deepEqual(seen, [{ resumed: true, attempt: 2, last: { step: 5 }, ckpt: 5 }]);
        assert.equal(job.attempts, 2);
        assert.equal(job.recoveries, 1);
        assert.deepEqual(job.progress, { step: 10 });
      });
    });
  });

  test("queue: a job that keeps dying with the process fails after maxRecoveries", async () => {
    await withDir(async (dir) => {
      let id = "";
      {
        const store = await open(dir);
        id = (await new JobQueue(store, quiet).enqueue("runs", "train", {})).id;
        await store.update<JobBody>("runs", id, { status: "running" });
        await store.close();
      }
      for (let life = 1; life <= 3; life++) {
        const store = await open(dir);
        const q = new JobQueue(store, { ...quiet, maxRecoveries: 2 });
        const claimed = deferred();
        q.register("train", async () => {
          claimed.resolve();
          await new Promise(() => {}); // hangs; the "process" dies below
        });
        await q.start();
        const rec = await store.get<JobBody>("runs", id);
        if (life <= 2) {
          await claimed.promise;
          // die: leave it running (do not stop the queue), close the store
          await store.close();
          assert.equal(rec!.body.recoveries, life);
        } else {
          assert.equal(rec!.status, "failed");
          assert.equal(rec!.body.error!.code, "interrupted");
          await q.stop();
          await store.close();
        }
        // The abandoned queue's loop only polls; stop it so no timer leaks.
        if (life <= 2) await Promise.race([q.stop(), tick(50)]);
      }
    });
  });

  test("queue: graceful stop re-queues the running job; next start resumes it", async () => {
    await withDir(async (dir) => {
      let id = "";
      await withQueue(dir, {}, async (q) => {
        const started = deferred();
        q.register("train", async (ctx) => {
          await ctx.progress({ step: 1 }, { persist: true });
          started.resolve();
          await new Promise((_, reject) =>
            ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
          );
        });
        id = (await q.enqueue("runs", "train", {})).id;
        await q.start();
        await started.promise;
      }); // stop() here
      await withQueue(dir, {}, async (q, store) => {
        assert.equal((await store.get("runs", id))!.status, "queued");
        let resumed = false;
        q.register("train", (ctx) => {
          resumed = ctx.resumed && (ctx.lastProgress as { step: number }).step === 1;
          return Promise.resolve(1);
        });
        await q.start();
        assert.equal((await q.wait("runs", id, 10_000)).status, "succeeded");
        assert.ok(resumed);
      });
    });
  });
}
