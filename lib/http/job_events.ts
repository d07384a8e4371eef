// The Server-Sent Events stream of one job (GET /v1/{runs,capacity}/{id}/events): the job's
// whole state first, then `progress` events as the job reports them and `status` events on
// every change of state, until the job ends. A comment every 15 s keeps the connection from
// the idle timeout (lib/http/connection_guard.ts) while nothing happens. A job that runs on
// another node (a shared database) reaches this node's queue as signals (JobQueue's relay:
// each change of state, and progress as often as it is stored); its record is also read now
// and then (every second without signals), and a `status` event goes out when it changed.
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { Job, JobEvent, JobQueue } from "../jobs/queue.ts";

const KEEP_ALIVE_MS = 15_000;
/** How often the record of a job running elsewhere is read, with and without relayed events. */
const STORE_POLL_MS = { relayed: 5_000, alone: 1_000 };
const ENDED = ["succeeded", "failed", "cancelled"];

export function jobEventStream<J extends Job<any, any>, R>(
  c: Context,
  jobs: JobQueue,
  find: () => Promise<J>,
  present: (job: J) => R,
): Response {
  return streamSSE(c, async (stream) => {
    const id = (await find()).id;
    const queue: JobEvent[] = [];
    let wake = () => {};
    const unsubscribe = jobs.subscribe(id, (ev) => {
      queue.push(ev);
      wake();
    });
    stream.onAbort(() => {
      unsubscribe();
      wake();
    });
    try {
      const current = await find();
      await stream.writeSSE({ event: "status", data: JSON.stringify(present(current)) });
      let done = ENDED.includes(current.status);
      let seen = current.updatedAt;
      let lastWrite = Date.now();
      while (!done && !stream.aborted) {
        if (queue.length === 0) {
          const elsewhere = !jobs.runsHere(id);
          await new Promise<void>((resolve) => {
            const pollMs = jobs.relaysEvents ? STORE_POLL_MS.relayed : STORE_POLL_MS.alone;
            const timer = setTimeout(resolve, elsewhere ? pollMs : KEEP_ALIVE_MS);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          if (queue.length > 0 || stream.aborted) continue;
          if (elsewhere) {
            const latest = await find();
            if (latest.updatedAt !== seen) {
              seen = latest.updatedAt;
              await stream.writeSSE({ event: "status", data: JSON.stringify(present(latest)) });
              lastWrite = Date.now();
              done = ENDED.includes(latest.status);
              continue;
            }
          }
          if (Date.now() - lastWrite >= KEEP_ALIVE_MS || !elsewhere) {
            await stream.write(": keep-alive\n\n");
            lastWrite = Date.now();
          }
          continue;
        }
        const ev = queue.shift()!;
        if (ev.type === "progress") {
          await stream.writeSSE({ event: "progress", data: JSON.stringify(ev.progress) });
        } else {
          seen = ev.job.updatedAt;
          await stream.writeSSE({ event: "status", data: JSON.stringify(present(ev.job as J)) });
          done = ENDED.includes(ev.job.status);
        }
        lastWrite = Date.now();
      }
    } finally {
      unsubscribe();
    }
  });
}
