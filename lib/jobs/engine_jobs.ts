// The job kinds the queue hands to handlers: training runs and capacity fleets on the
// engine (wherever it runs), and the capacity sweep's coordinator in this process.
import type { Engine } from "../engine_interface.ts";
import type { JobQueue } from "./queue.ts";
import { storeHost } from "./store_host.ts";
import { FLEET_JOB_KIND, type FleetJobResult, queueFleets } from "./fleet_jobs.ts";
import { runCapacitySweep } from "../capacity/sweep_coordinator.ts";
import type { FleetResult, FleetTask } from "../capacity/fleet_task.ts";
import type { CapacityCreateRequest, SweepProgress } from "../capacity/schemas.ts";

export function registerEngineJobs(engine: Engine, jobs: JobQueue): void {
  jobs.register("train", (ctx) => engine.runJob("train", storeHost(ctx)));
  jobs.register<CapacityCreateRequest, SweepProgress>(
    "capacity",
    (ctx) => runCapacitySweep(storeHost(ctx), queueFleets(jobs, ctx)),
  );
  jobs.register<FleetTask>(FLEET_JOB_KIND, async (ctx): Promise<FleetJobResult> => {
    const sweep = { collection: "capacity" as const, id: ctx.input.sweepId };
    const result = await engine.runJob(FLEET_JOB_KIND, storeHost(ctx, sweep)) as FleetResult;
    return { ...result, node: jobs.nodeId };
  });
}
