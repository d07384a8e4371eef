// `deno task bench queue`: the job queue on PostgreSQL with 3 nodes (3 JobQueues sharing one
// throwaway database, as 3 main.ts processes would) against the Deno KV queue of one node.
// Prints, per backend:
//   memcap queue-<backend>-claim: p50 <x> ms, p99 <y> ms   (enqueue on node 0 → a handler starts)
//   memcap queue-<backend>-throughput: <n> jobs/s           (300 tiny jobs, enqueued round-robin)
// The handlers do nothing: this measures the queue, not training. Idle nodes other than the
// one that enqueued find a job by their 1 s poll (no LISTEN/NOTIFY yet), which the claim
// latency of the shared queue shows when node 0 is busy.
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
    const succeeded = () => stores[0].count("runs", { status: "succeeded" });
    const until = async (n: number) => {
      for (const deadline = Date.now() + 120_000; (await succeeded()) < n;) {
        if (Date.now() > deadline) throw new Error(`${name}: jobs did not finish`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };

    const claims: number[] = [];
    for (let i = 0; i < CLAIMS; i++) {
      const t0 = performance.now();
      const job = await queues[0].enqueue("runs", "tiny", {});
      await until(i + 1);
      claims.push(started.get(job.id)! - t0);
    }
    console.log(
      `memcap queue-${name}-claim: p50 ${percentile(claims, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(claims, 99).toFixed(1)} ms (${CLAIMS} jobs, one at a time)`,
    );

    const t0 = performance.now();
    for (let i = 0; i < JOBS; i++) await queues[i % queues.length].enqueue("runs", "tiny", {});
    await until(CLAIMS + JOBS);
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

export async function queueBench(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "memcap-queue-bench-" });
  const kv = await KvStore.open(dir);
  try {
    await measure("kv-1-node", [kv], false);
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
    } finally {
      for (const s of nodes) await s.close();
    }
  } finally {
    await pg.stop();
  }
}
