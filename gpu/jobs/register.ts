// The GPU jobs the queue can run, by kind.
import type { GpuEngine } from "../engine.ts";
import type { JobQueue } from "../../lib/jobs/queue.ts";
import type { RunCreateRequest, RunProgress, RunResult } from "../../lib/runs/schemas.ts";
import { trainRunJob } from "./train_run.ts";

export function registerEngineJobs(engine: GpuEngine, jobs: JobQueue): void {
  jobs.register<RunCreateRequest, RunProgress, RunResult>(
    "train",
    (ctx) => trainRunJob(engine, ctx),
  );
}
