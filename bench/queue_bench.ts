// `deno task bench queue`: the job queue on PostgreSQL with 3 nodes (3 JobQueues sharing one
// throwaway database, as 3 main.ts processes would) against the Deno KV queue of one node.
// Prints, per backend:
//   memcap queue-<backend>-claim: p50 <x> ms, p99 <y> ms   (enqueue on node 0 → a handler starts)
//   memcap queue-<backend>-throughput: <n> jobs/s           (300 tiny jobs, enqueued round-robin)
//   memcap queue-<backend>-claim-under-training: p50 <x> ms, p99 <y> ms
// The tiny jobs' handlers do nothing: this measures the queue. "Under training": on
// PostgreSQL nodes 0 and 1 each run a training job (concurrency 1, so they claim nothing
// else) and node 2 claims what node 0 enqueues, woken by LISTEN/NOTIFY; on Deno KV the one
// node trains in one slot and claims in another. A training job here is the store load a
// real one makes from its node (progress reported every 10 ms, stored once a second and
// relayed to the other nodes, the lease renewed); the GPU work itself is in the engine
// process and is not simulated.
import { JobQueue } from "../lib/jobs/queue.ts";
import { KvStore } from "../lib/store/kv_store.ts";
import { PgStore } from "../lib/store/pg_store.ts";
import type { Store } from "../lib/store/store.ts";
import { startPostgres } from "../tests/store/_postgres.ts";

const CLAIMS = 100;
const JOBS = 300;

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

async function measure(name: string, stores: Store[], shared: boolean): Promise<void> {
  const started = new Map<string, number>();
  const queues = stores.map((store, k) =>
    new JobQueue(store, { shared, nodeId: `bench-${k}`, maxQueued: 10 * JOBS, log: () => {} })
  );
  const ranOn = new Map<string, number>();
  queues.forEach((q, k) =>
    q.register("tiny", (ctx) => {
      started.set(ctx.id, performance.now());
      ranOn.set(ctx.id, k);
      return Promise.resolve({});
    })
  );
  try {
    for (const q of queues) await q.start();
    const claims = await claimLatencies(name, queues, started);
    console.log(
      `memcap queue-${name}-claim: p50 ${percentile(claims, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(claims, 99).toFixed(1)} ms (${CLAIMS} jobs, one at a time)`,
    );

    const t0 = performance.now();
    for (let i = 0; i < JOBS; i++) await queues[i % queues.length].enqueue("runs", "tiny", {});
    await succeeded(name, stores[0], CLAIMS + JOBS);
    const seconds = (performance.now() - t0) / 1000;
    const perNode = queues.map((_, k) => [...ranOn.values()].filter((v) => v === k).length);
    console.log(
      `memcap queue-${name}-throughput: ${(JOBS / seconds).toFixed(0)} jobs/s ` +
        `(${JOBS} jobs in ${seconds.toFixed(1)} s; all ${CLAIMS + JOBS} jobs by node: ${
          perNode.join(", ")
        })`,
    );
  } finally {
    for (const q of queues) await q.stop();
  }
}

/** Enqueues CLAIMS tiny jobs on queues[0], one at a time: ms from enqueue to the handler. */
async function claimLatencies(
  name: string,
  queues: JobQueue[],
  started: Map<string, number>,
): Promise<number[]> {
  const store = queues[0].store;
  const before = await store.count("runs", { status: "succeeded" });
  const claims: number[] = [];
  for (let i = 0; i < CLAIMS; i++) {
    const t0 = performance.now();
    const job = await queues[0].enqueue("runs", "tiny", {});
    await succeeded(name, store, before + i + 1);
    claims.push(started.get(job.id)! - t0);
  }
  return claims;
}

async function succeeded(name: string, store: Store, n: number): Promise<void> {
  for (const deadline = Date.now() + 120_000;;) {
    if ((await store.count("runs", { status: "succeeded" })) >= n) return;
    if (Date.now() > deadline) throw new Error(`${name}: jobs did not finish`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Claim latency while other jobs train (see the header): `training` nodes train, the rest claim. */
async function measureUnderTraining(name: string, stores: Store[], shared: boolean) {
  const trainers = shared ? stores.length - 1 : 1;
  const started = new Map<string, number>();
  let stopped = false;
  const queues = stores.map((store, k) =>
    new JobQueue(store, {
      shared,
      nodeId: `bench-${k}`,
      concurrency: shared ? 1 : 2,
      maxQueued: 10 * JOBS,
      log: () => {},
    })
      .register("tiny", (ctx) => {
        started.set(ctx.id, performance.now());
        return Promise.resolve({});
      })
      .register("train", async (ctx) => {
        for (let step = 0; !stopped && !ctx.signal.aborted; step++) {
          await ctx.progress({ phase: "training", step, tokensPerSec: 1e6, etaSeconds: 60 });
          await new Promise((r) => setTimeout(r, 10));
        }
        return {};
      })
  );
  try {
    // The training nodes start first and each takes one training job; the others join after.
    for (let k = 0; k < trainers; k++) {
      await queues[k].start();
      const job = await queues[k].enqueue("capacity", "train", {});
      while ((await stores[0].get("capacity", job.id))?.status !== "running") {
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    for (const q of queues.slice(trainers)) await q.start();
    const claims = await claimLatencies(name, queues, started);
    console.log(
      `memcap queue-${name}-claim-under-training: p50 ${percentile(claims, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(claims, 99).toFixed(1)} ms (${CLAIMS} jobs, one at a time, while ` +
        `${trainers} ${trainers === 1 ? "job trains" : "jobs train"})`,
    );
  } finally {
    stopped = true;
    for (const q of queues) await q.stop();
  }
}

export async function queueBench(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "memcap-queue-bench-" });
  const kv = await KvStore.open(dir);
  try {
    await measure("kv-1-node", [kv], false);
    await measureUnderTraining("kv-1-node", [kv], false);
  } finally {
    await kv.close();
    await Deno.remove(dir, { recursive: true });
  }
  const pg = await startPostgres();
  try {
    const url = await pg.newDatabase();
    const nodes = [await PgStore.open(url), await PgStore.open(url), await PgStore.open(url)];
    try {
      await measure("postgres-3-nodes", nodes, true);
      await measureUnderTraining("postgres-3-nodes", nodes, true);
    } finally {
      for (const s of nodes) await s.close();
    }
  } finally {
    await pg.stop();
  }
}
