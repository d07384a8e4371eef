// A capacity sweep whose engine dies mid-fleet (here: a fault thrown from the
// progress report, as a crash would end the attempt) resumes from its last
// periodic fleet checkpoint, and ends with exactly the results of the same
// sweep run in one go.
import assert from "node:assert/strict";
import { getGpu } from "../../gpu/device.ts";
import { GpuEngine } from "../../gpu/engine.ts";
import { capacitySweepJob } from "../../gpu/jobs/capacity_sweep.ts";
import { memoryJobHost } from "../../lib/jobs/memory_host.ts";
import { oneFleetSweep } from "../http/_fixtures.ts";
import { CapacityCreateRequest, type SweepProgress } from "../../lib/capacity/schemas.ts";

const STEPS = 1200;
const input = CapacityCreateRequest.parse(oneFleetSweep(STEPS));

/** The sweep's job host: artifacts in `artifacts`; `onProgress` may throw to end the attempt. */
const host = (
  artifacts: Map<string, Uint8Array>,
  resumed: boolean,
  onProgress?: (p: SweepProgress) => void,
) => memoryJobHost<CapacityCreateRequest, SweepProgress>(input, { artifacts, resumed, onProgress });

Deno.test("a sweep cut short mid-fleet resumes from its periodic checkpoint, same results", async () => {
  // Checkpoint at every progress read (each 200 steps), so one exists before the fault.
  const engine = new GpuEngine(getGpu, { sweepCheckpointSeconds: 0 });
  const whole = await capacitySweepJob(engine, host(new Map(), false));
  assert.deepEqual(whole.resumedFrom, []);

  const artifacts = new Map<string, Uint8Array>();
  await assert.rejects(
    capacitySweepJob(
      engine,
      host(artifacts, false, (p) => {
        if (p.step >= 600) throw new Error("engine crashed");
      }),
    ),
    /engine crashed/,
  );
  assert.ok(
    artifacts.has("fleet-base-0.safetensors"),
    "a fleet checkpoint was written before the fault",
  );
  const resumed = await capacitySweepJob(engine, host(artifacts, true));
  // The read of step 600 checkpoints, then reports the progress where the fault comes.
  assert.deepEqual(resumed.resumedFrom, [{ group: "base", fleet: 0, step: 600 }]);
  assert.ok(
    !artifacts.has("fleet-base-0.safetensors"),
    "the finished fleet's checkpoint is deleted",
  );
  const bits = (r: typeof whole) => r.runs.map((x) => [x.datasetSize, x.steps, x.memorizedBits]);
  assert.deepEqual(bits(resumed), bits(whole));
});
