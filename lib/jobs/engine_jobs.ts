// The GPU job kinds the queue hands to the engine, wherever it runs.
import type { Engine, JobKind } from "../engine_interface.ts";
import type { JobQueue } from "./queue.ts";
import { storeHost } from "./store_host.ts";

export const ENGINE_JOB_KINDS: readonly JobKind[] = ["train", "capacity"];

export function registerEngineJobs(engine: Engine, jobs: JobQueue): void {
  for (const kind of ENGINE_JOB_KINDS) {
    jobs.register(kind, (ctx) => engine.runJob(kind, storeHost(ctx)));
  }
}
