// The "capacity" job in one process: the coordinator's plan and decisions
// (lib/capacity/sweep_coordinator.ts) with each fleet trained here, one after
// another, on this engine (gpu/jobs/capacity_fleet.ts). Every artifact is the
// sweep's own. The service runs sweeps through lib/jobs/fleet_jobs.ts instead,
// so that the fleets of a group may train on several nodes at once; benchmarks
// and tests run them here.
import type { GpuEngine } from "../engine.ts";
import type { JobHost } from "../../lib/engine_interface.ts";
import {
  fleetOutcomes,
  type FleetProgress,
  type FleetTask,
} from "../../lib/capacity/fleet_task.ts";
import type {
  CapacityCreateRequest,
  SweepProgress,
  SweepResult,
} from "../../lib/capacity/schemas.ts";
import { type FleetRunner, runCapacitySweep } from "../../lib/capacity/sweep_coordinator.ts";
import { capacityFleetJob } from "./capacity_fleet.ts";

export function capacitySweepJob(
  engine: GpuEngine,
  host: JobHost<CapacityCreateRequest, SweepProgress>,
): Promise<SweepResult> {
  return runCapacitySweep(host, localFleets(engine, host));
}

/** Trains each fleet of a group in turn on `engine`, with the sweep's artifacts. */
export function localFleets(
  engine: GpuEngine,
  host: JobHost<CapacityCreateRequest, SweepProgress>,
): FleetRunner {
  return {
    async runGroup(tasks, report) {
      const results = [];
      for (const [i, task] of tasks.entries()) {
        const fleetHost: JobHost<FleetTask, FleetProgress> = {
          ...host,
          input: task,
          progress: (p, opts) => report(i, p, { persist: opts?.persist ?? false }),
        };
        results.push(await capacityFleetJob(engine, fleetHost));
      }
      return results;
    },
    outcomes: (key) => fleetOutcomes(host, key),
  };
}
