// A capacity sweep reports progress from its first second: what it is doing
// (preparing, compiling, training, evaluating), the step its fleet trains to,
// and an ETA once its throughput is measured.
import assert from "node:assert/strict";
import { getGpu } from "../../gpu/device.ts";
import { GpuEngine } from "../../gpu/engine.ts";
import { capacitySweepJob } from "../../gpu/jobs/capacity_sweep.ts";
import { memoryJobHost } from "../../lib/jobs/memory_host.ts";
import { oneFleetSweep } from "../http/_fixtures.ts";
import { CapacityCreateRequest, type SweepProgress } from "../../lib/capacity/schemas.ts";

Deno.test("a sweep's progress names its phase from the start and gives an ETA while it trains", async () => {
  const steps = 1200;
  // Two fleets of one model each: the first fleet's ETA counts the second's steps.
  const input = CapacityCreateRequest.parse({ ...oneFleetSweep(steps), maxFleetSize: 1 });
  const seen: SweepProgress[] = [];
  const host = memoryJobHost<CapacityCreateRequest, SweepProgress>(input, {
    artifacts: new Map(),
    resumed: false,
    onProgress: (p) => seen.push(structuredClone(p)),
  });
  await capacitySweepJob(new GpuEngine(getGpu), host);

  // Before any compile or step: preparing, with no estimate yet.
  assert.equal(seen[0].phase, "preparing");
  assert.equal(seen[0].etaSeconds, null);
  const phases = seen.map((p) => p.phase);
  const firstTraining = phases.indexOf("training");
  assert.ok(phases.indexOf("compiling") > 0, phases.join(","));
  assert.ok(phases.indexOf("compiling") < firstTraining, phases.join(","));
  assert.equal(phases.at(-1), "evaluating");

  const training = seen.filter((p) => p.phase === "training" && p.step < steps);
  assert.ok(training.length >= 4, `${training.length} training reports`);
  for (const p of training) {
    assert.equal(p.stepsPlanned, steps);
    assert.equal(p.fleets, 2);
    assert.ok(p.etaSeconds !== null && p.etaSeconds > 0, JSON.stringify(p));
  }
  // In the first fleet the ETA covers the second fleet's steps too: the model-steps left over
  // the measured rate, so at equal step it is larger in the first fleet than in the last.
  const at = (fleet: number) => training.find((p) => p.fleet === fleet && p.step === 600)!;
  const [first, last] = [at(0), at(1)];
  const rate = (p: SweepProgress) => p.tokensPerSec / (input.training.batchSize * 8);
  assert.ok(Math.abs(first.etaSeconds! - (600 + steps) / rate(first)) < 1e-6 * first.etaSeconds!);
  assert.ok(Math.abs(last.etaSeconds! - 600 / rate(last)) < 1e-6 * last.etaSeconds!);
  // Elapsed time only grows.
  for (let i = 1; i < seen.length; i++) {
    assert.ok(seen[i].elapsedSeconds >= seen[i - 1].elapsedSeconds);
  }
});
