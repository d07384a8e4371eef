// Job leases: several queues (nodes) on one PostgreSQL database share the jobs, each runs
// exactly once, and a job whose node died (or stalled) is taken over by another node once
// its lease expires, resumed from its last persisted progress; the old node's late outcome
// never overwrites the new owner's. Needs Debian's `postgresql` (see tests/store/_postgres.ts).
import assert from "node:assert/strict";
import { PgStore } from "../../lib/store/pg_store.ts";
import type { Store } from "../../lib/store/store.ts";
import { type JobBody, JobQueue, type JobQueueOptions } from "../../lib/jobs/queue.ts";
import { startPostgres } from "../store/_postgres.ts";

const pg = await startPostgres();
globalThis.addEventListener("unload", () => pg.stopSync());

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));
const shared = (nodeId: string): JobQueueOptions => ({
  nodeId,
  shared: true,
  leaseMs: 600,
  pollMs: 50,
  log: () => {},
});

/** Polls the record until `pred` holds (at most `ms`). */
async function until(
  store: Store,
  id: string,
  pred: (status: string, body: JobBody) => boolean,
  ms = 20_000,
): Promise<{ status: string; body: JobBody }> {
  for (const deadline = Date.now() + ms;; await tick(25)) {
    const rec = await store.get<JobBody>("runs", id);
    if (rec && pred(rec.status!, rec.body)) return { status: rec.status!, body: rec.body };
    if (Date.now() > deadline) {
      throw new Error(`runs/${id} not as expected after ${ms} ms: ${JSON.stringify(rec)}`);
    }
  }
}

/** Two stores on one fresh database; both closed after `fn`. */
async function twoNodes(fn: (a: Store, b: Store) => Promise<void>): Promise<void> {
  const url = await pg.newDatabase();
  const a = await PgStore.open(url);
  let b: Store | null = null;
  try {
    b = await PgStore.open(url);
    await fn(a, b);
  } finally {
    await b?.close();
    await a.close();
  }
}

Deno.test("leases: two nodes on one database share the jobs, each runs exactly once", async () => {
  await twoNodes(async (storeA, storeB) => {
    const ran = new Map<number, string[]>();
    const handler = (node: string) => async (ctx: { input: { n: number } }) => {
      ran.set(ctx.input.n, [...(ran.get(ctx.input.n) ?? []), node]);
      await tick(60);
      return { by: node };
    };
    const a = new JobQueue(storeA, shared("node-a")).register("work", handler("a"));
    const b = new JobQueue(storeB, shared("node-b")).register("work", handler("b"));
    try {
      await a.start();
      await b.start();
      const ids: string[] = [];
      for (let n = 0; n < 8; n++) ids.push((await a.enqueue("runs", "work", { n })).id);
      for (const id of ids) {
        const { status, body } = await until(storeA, id, (s) => !["queued", "running"].includes(s));
        assert.equal(status, "succeeded", JSON.stringify(body));
        assert.equal(body.attempts, 1);
        assert.equal(body.lease ?? null, null, "a finished job holds no lease");
        // The lease stays inside the queue: jobs as the routes see them do not carry it.
        assert.ok(!("lease" in (await a.get("runs", id))!));
      }
      for (let n = 0; n < 8; n++) assert.equal(ran.get(n)?.length, 1, `job ${n}: ${ran.get(n)}`);
      const nodes = [...ran.values()].map((r) => r[0]);
      assert.ok(nodes.includes("a") && nodes.includes("b"), `ran on ${nodes}`);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});

Deno.test("leases: a dead node's job is taken over after its lease expires and resumed", async () => {
  await twoNodes(async (storeA, storeB) => {
    let startedOnA!: () => void;
    const aStarted = new Promise<void>((r) => (startedOnA = r));
    const a = new JobQueue(storeA, shared("node-a")).register<unknown, { step: number }>(
      "train",
      async (ctx) => {
        await ctx.progress({ step: 5 }, { persist: true }); // a "checkpoint"
        startedOnA();
        // Blocks until the node goes away.
        await new Promise((_, reject) => {
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true });
        });
        return { by: "a" };
      },
    );
    const seen: { resumed: boolean; attempt: number; last: unknown }[] = [];
    const b = new JobQueue(storeB, shared("node-b")).register<unknown, { step: number }>(
      "train",
      (ctx) => {
        seen.push({ resumed: ctx.resumed, attempt: ctx.attempt, last: ctx.lastProgress });
        return Promise.resolve({ by: "b" });
      },
    );
    try {
      await a.start();
      const job = await a.enqueue("runs", "train", {});
      await aStarted;
      const held = await until(storeA, job.id, (s) => s === "running");
      assert.equal(held.body.lease?.node, "node-a");
      // B comes up while A holds the job: it leaves a live job alone.
      await b.start();
      await tick(400);
      assert.equal((await storeB.get<JobBody>("runs", job.id))!.body.lease?.node, "node-a");
      assert.equal(seen.length, 0);
      // A renews its lease while it lives (600 ms lease, well past its first expiry).
      await tick(600);
      assert.equal(seen.length, 0, "B took a job whose node is alive");
      // A dies: nothing more is written, its lease runs out, B takes the job over.
      const diedAt = Date.now();
      await a.abandon();
      const { status, body } = await until(
        storeB,
        job.id,
        (s) => s !== "queued" && s !== "running",
      );
      assert.ok(Date.now() - diedAt >= 300, "taken over before the lease could expire");
      assert.equal(status, "succeeded", JSON.stringify(body));
      assert.deepEqual(body.result, { by: "b" });
      assert.equal(body.attempts, 2);
      assert.equal(body.recoveries, 1);
      assert.deepEqual(seen, [{ resumed: true, attempt: 2, last: { step: 5 } }]);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});

Deno.test("leases: a stalled node that lost its job stops it and never writes its outcome", async () => {
  await twoNodes(async (storeA, storeB) => {
    let startedOnA!: () => void;
    const aStarted = new Promise<void>((r) => (startedOnA = r));
    let bDone!: () => void;
    const bFinished = new Promise<void>((r) => (bDone = r));
    let aAborted: unknown = null;
    let aReturned!: () => void;
    const aLate = new Promise<void>((r) => (aReturned = r));
    // A's lease is long (a renewal once a second) so B surely sweeps before A renews.
    const a = new JobQueue(storeA, { ...shared("node-a"), leaseMs: 3000 }).register(
      "train",
      async (ctx) => {
        startedOnA();
        await new Promise<void>((resolve) => {
          ctx.signal.addEventListener("abort", () => resolve(), { once: true });
        });
        aAborted = ctx.signal.reason;
        // A slow handler that finishes anyway, after the new owner did.
        await bFinished;
        await tick(100);
        aReturned();
        return { by: "a" };
      },
    );
    const b = new JobQueue(storeB, shared("node-b")).register("train", async (ctx) => {
      assert.equal(ctx.resumed, true);
      await tick(50);
      return { by: "b" };
    });
    try {
      await a.start();
      const job = await a.enqueue("runs", "train", {});
      await aStarted;
      await b.start();
      // A stalls (say, a long GC pause or a network partition): its lease runs out. Simulated
      // by writing an expired lease of A's, as a missed heartbeat would leave it.
      await storeA.atomicUpdate<JobBody>("runs", job.id, (cur) => ({
        body: { ...cur.body, lease: { node: "node-a", until: new Date(0).toISOString() } },
      }));
      const done = await until(storeB, job.id, (s) => s === "succeeded");
      bDone();
      assert.deepEqual(done.body.result, { by: "b" });
      // A's next renewal found B's lease: its handler was aborted as interrupted.
      await aLate;
      assert.equal((aAborted as Error | null)?.name, "JobInterruptedError");
      await tick(200);
      const after = await storeA.get<JobBody>("runs", job.id);
      assert.equal(after!.status, "succeeded");
      assert.deepEqual(after!.body.result, { by: "b" });
      assert.equal(after!.body.attempts, 2);
    } finally {
      bDone();
      await a.stop();
      await b.stop();
    }
  });
});

Deno.test("leases: a cancel sent to one node stops the job running on another", async () => {
  await twoNodes(async (storeA, storeB) => {
    let startedOnA!: () => void;
    const aStarted = new Promise<void>((r) => (startedOnA = r));
    let reason: unknown = null;
    // The handler reports no progress: the cancel reaches A through its lease heartbeat.
    const a = new JobQueue(storeA, shared("node-a")).register("train", async (ctx) => {
      startedOnA();
      await new Promise((_, reject) => {
        ctx.signal.addEventListener("abort", () => reject(reason = ctx.signal.reason), {
          once: true,
        });
      });
    });
    const b = new JobQueue(storeB, shared("node-b")).register("train", () => {
      throw new Error("B must not run it");
    });
    try {
      await a.start();
      const job = await a.enqueue("runs", "train", {});
      await aStarted;
      await b.start();
      const asked = await b.cancel("runs", job.id);
      assert.equal(asked!.status, "running");
      assert.equal(asked!.cancelRequested, true);
      const { status, body } = await until(storeB, job.id, (s) => s === "cancelled", 5_000);
      assert.equal(status, "cancelled");
      assert.equal(body.attempts, 1);
      assert.equal((reason as Error | null)?.name, "JobCancelledError");
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});

// LISTEN/NOTIFY: with polls a minute apart, a job enqueued on a busy node is claimed by an
// idle one at once, because the enqueue notifies every node.
Deno.test("signals: an idle node claims a job enqueued on a busy one without waiting to poll", async () => {
  await twoNodes(async (storeA, storeB) => {
    const slow = { ...shared("node-a"), pollMs: 60_000 };
    const gate = Promise.withResolvers<void>();
    const claimedBy = new Map<string, string>();
    const handler = (node: string) => async (ctx: { id: string; input: unknown }) => {
      claimedBy.set(ctx.id, node);
      if ((ctx.input as { block?: boolean }).block) await gate.promise;
      return {};
    };
    const a = new JobQueue(storeA, slow).register("work", handler("a"));
    const b = new JobQueue(storeB, { ...slow, nodeId: "node-b" }).register("work", handler("b"));
    try {
      await a.start();
      await b.start();
      // One node takes the blocking job and is busy (concurrency 1); the other has been idle
      // since its start, its next poll a minute away.
      const busy = await a.enqueue("runs", "work", { block: true });
      await until(storeA, busy.id, (s) => s === "running");
      const [busyNode, idleNode] = claimedBy.get(busy.id) === "a" ? [a, "b"] : [b, "a"];
      const t0 = performance.now();
      const next = await busyNode.enqueue("runs", "work", {});
      const { status } = await until(storeA, next.id, (s) => s === "succeeded", 5_000);
      assert.equal(status, "succeeded");
      assert.equal(claimedBy.get(next.id), idleNode);
      assert.ok(performance.now() - t0 < 5_000);
    } finally {
      gate.resolve();
      await a.stop();
      await b.stop();
    }
  });
});

Deno.test("signals: a node that takes no jobs hears the progress and end of one on another", async () => {
  await twoNodes(async (storeA, storeB) => {
    // Record polls a minute apart: what B hears came as signals.
    const opts = { ...shared("node-a"), pollMs: 60_000 };
    const gate = Promise.withResolvers<void>();
    const subscribed = Promise.withResolvers<void>();
    const a = new JobQueue(storeA, opts).register("work", async (ctx) => {
      await subscribed.promise;
      for (let step = 1; step <= 3; step++) await ctx.progress({ step }, { persist: true });
      await gate.promise;
      return {};
    });
    // B has no handler and claims nothing (MEMCAP_WORKER=0): it only serves, and listens.
    const b = new JobQueue(storeB, { ...opts, nodeId: "node-b", worker: false });
    const heard: string[] = [];
    const ended = Promise.withResolvers<void>();
    try {
      await a.start();
      await b.start();
      const job = await b.enqueue("runs", "work", {});
      b.subscribe(job.id, (ev) => {
        if (ev.type === "progress") heard.push(`step ${(ev.progress as { step: number }).step}`);
        else {
          heard.push(ev.job.status);
          if (ev.job.status === "succeeded") ended.resolve();
        }
      });
      subscribed.resolve();
      await until(storeA, job.id, (_, body) => (body.progress as { step?: number })?.step === 3);
      for (let i = 0; i < 100 && !heard.includes("step 3"); i++) await tick(20);
      gate.resolve();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        ended.promise,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no end heard: ${heard}`)), 5_000);
        }),
      ]).finally(() => clearTimeout(timer));
      // Progress in order, then the end (running may come before or after the first step).
      assert.deepEqual(heard.filter((h) => h.startsWith("step")), ["step 1", "step 2", "step 3"]);
      assert.equal(heard.at(-1), "succeeded");
      assert.equal((await storeA.get<JobBody>("runs", job.id))!.body.attempts, 1);
    } finally {
      subscribed.resolve();
      gate.resolve();
      await a.stop();
      await b.stop();
    }
  });
});
