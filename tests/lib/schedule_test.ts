import assert from "node:assert/strict";
import { evaluationSteps, learningRate, Schedule } from "../../lib/training/schedule.ts";

const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

Deno.test("cosine-restarts: annealed at every cycle end, back to the peak after it", () => {
  const s = Schedule.parse({ kind: "cosine-restarts", warmupSteps: 10, firstCycleSteps: 100 });
  close(learningRate(s, 1, 5, 0), 0.5, "warmup");
  close(learningRate(s, 1, 10, 0), 1, "end of warmup");
  // First cycle decays from step 10 to 100; then cycles (100, 200], (200, 400], ...
  for (const end of [100, 200, 400, 800]) {
    close(learningRate(s, 1, end, 0), 0, `cycle end ${end}`);
    assert.ok(learningRate(s, 1, end + 1, 0) > 0.999, `restart after ${end}`);
  }
  close(learningRate(s, 1, 300, 0), 0.5, "middle of (200, 400]");
  // totalSteps does not matter to restarts.
  close(learningRate(s, 1, 300, 7), learningRate(s, 1, 300, 1e6), "no budget");
});

Deno.test("cosine: one decay over the budget; constant: flat after warmup", () => {
  const cos = Schedule.parse({ kind: "cosine", warmupSteps: 0, minLrFraction: 0.1 });
  close(learningRate(cos, 2, 1000, 1000), 0.2, "floor at the end");
  close(learningRate(cos, 2, 500, 1000), 1.1, "half way");
  const flat = Schedule.parse({ kind: "constant", warmupSteps: 4 });
  close(learningRate(flat, 2, 2, 100), 1, "warmup");
  close(learningRate(flat, 2, 99, 100), 2, "flat");
});

Deno.test("evaluationSteps: cycle ends for restarts, every evalEvery otherwise", () => {
  const r = Schedule.parse({ kind: "cosine-restarts", firstCycleSteps: 500 });
  assert.deepEqual(evaluationSteps(r, 123, 5000), [500, 1000, 2000, 4000]);
  const c = Schedule.parse({ kind: "cosine" });
  assert.deepEqual(evaluationSteps(c, 400, 1000), [400, 800, 1000]);
  assert.deepEqual(evaluationSteps(c, 500, 1000), [500, 1000]);
});
