// A capacity sweep in the service. Its coordinator (lib/capacity/sweep_coordinator.ts)
// runs as the "capacity" job and turns each fleet of a group into a "capacity-fleet" job
// in `fleets` (refs: the sweep), which any node's worker may claim. The node running the
// sweep trains its fleets too, one at a time inside the sweep's own slot
// (JobQueue.runHere): one node alone trains the whole sweep as before, and idle nodes
// sharing the database take the fleets it has not reached. A fleet's artifacts are on
// the sweep's record, so whichever node resumes a fleet, or the sweep's next group, finds
// them. The node that trained a fleet is in its job's result.
import {
  isTerminal,
  type Job,
  JobCancelledError,
  type JobContext,
  JobFailure,
  type JobQueue,
} from "./queue.ts";
import { storeHost } from "./store_host.ts";
import type { FleetRunner } from "../capacity/sweep_coordinator.ts";
import {
  fleetKey,
  fleetOutcomes,
  type FleetProgress,
  type FleetResult,
  type FleetTask,
  type RunKey,
  sameRun,
} from "../capacity/fleet_task.ts";
import type { CapacityCreateRequest, SweepProgress } from "../capacity/schemas.ts";

export const FLEET_JOB_KIND = "capacity-fleet";

/** What a fleet job's record holds as its result. */
export interface FleetJobResult extends FleetResult {
  /** The node that trained it (JobQueue.nodeId). */
  node: string;
}

const sameRuns = (a: RunKey[], b: RunKey[]) =>
  a.length === b.length && a.every((r, i) => sameRun(r, b[i]));

/** The FleetRunner of a sweep running as job `ctx` of `jobs`. */
export function queueFleets(
  jobs: JobQueue,
  ctx: JobContext<CapacityCreateRequest, SweepProgress>,
  pollMs = 1000,
): FleetRunner {
  const host = storeHost(ctx);
  /** This sweep's fleet jobs of a group, found (a resumed sweep) or enqueued. */
  const fleetJobs = async (tasks: FleetTask[]): Promise<string[]> => {
    const earlier = await jobs.subJobs<FleetTask>(ctx.id);
    const ids: string[] = [];
    for (const task of tasks) {
      const key = fleetKey(task.group, task.fleet);
      // A group's key can come back with other runs (an added dataset size doubled to the
      // steps the first sizes were doubled to): only the same fleet of the same runs is it.
      // One that failed or was cancelled ended a sweep that was queued again (extended): its
      // fleet trains anew, as a new job, from the states the group starts from.
      const found = earlier.find((j) =>
        fleetKey(j.input.group, j.input.fleet) === key && sameRuns(j.input.runs, task.runs) &&
        j.status !== "failed" && j.status !== "cancelled"
      );
      ids.push(
        found?.id ?? (await jobs.enqueue("fleets", FLEET_JOB_KIND, task, { refs: [ctx.id] })).id,
      );
    }
    return ids;
  };
  /** Waits `ms`, or less when the sweep is cancelled or the service stops. */
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        ctx.signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      ctx.signal.addEventListener("abort", done, { once: true });
    });
  const ended = (task: FleetTask, job: Job): FleetJobResult => {
    const what = `fleet ${task.fleet} of group ${task.group.key}`;
    if (job.status === "succeeded") return job.result as FleetJobResult;
    if (job.status === "cancelled") {
      if (ctx.cancelled()) throw new JobCancelledError();
      throw new JobFailure("fleet_cancelled", `${what} was cancelled`);
    }
    throw new JobFailure(job.error?.code ?? "job_failed", `${what}: ${job.error?.message}`);
  };
  return {
    outcomes: (key) => fleetOutcomes(host, key),
    async runGroup(tasks, report) {
      const ids = await fleetJobs(tasks);
      const results: FleetJobResult[] = new Array(tasks.length);
      const pending = new Set(tasks.keys());
      let shown: unknown = null;
      try {
        while (pending.size > 0) {
          ctx.throwIfAborted();
          let trainedOne = false;
          for (const i of [...pending]) {
            let job = await jobs.get("fleets", ids[i]);
            if (!job) throw new Error(`the job of fleet ${tasks[i].fleet} (${ids[i]}) is gone`);
            if (job.status === "queued") {
              // Nobody took it yet: train it here, its progress as the sweep's.
              const unsubscribe = jobs.subscribe<FleetProgress>(ids[i], (ev) => {
                // A report that cannot be stored now is one of many: the next one is.
                if (ev.type === "progress") {
                  report(i, ev.progress, { persist: false }).catch(() => {});
                }
              });
              try {
                job = await jobs.runHere("fleets", ids[i]) ?? job;
              } finally {
                unsubscribe();
              }
              ctx.throwIfAborted();
              trainedOne = true;
            }
            if (isTerminal(job.status)) {
              results[i] = ended(tasks[i], job);
              pending.delete(i);
            }
            if (trainedOne) break;
          }
          if (trainedOne || pending.size === 0) continue;
          // The rest train on other nodes: show one of them, as its record has it.
          const i = [...pending][0];
          const progress = (await jobs.get<FleetTask, FleetProgress>("fleets", ids[i]))?.progress;
          if (progress && JSON.stringify(progress) !== shown) {
            shown = JSON.stringify(progress);
            await report(i, progress, { persist: false });
          }
          await pause(pollMs);
        }
      } catch (e) {
        // A failed fleet fails the sweep: the others stop rather than train for nothing. (A
        // stop of the service leaves them be: they resume with the sweep; a cancel of the
        // sweep has cancelled them already.)
        if (e instanceof JobFailure) {
          for (const i of pending) await jobs.cancel("fleets", ids[i]).catch(() => {});
        }
        throw e;
      }
      return results;
    },
  };
}
