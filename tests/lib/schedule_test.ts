import assert from "node:assert/strict";
import { evaluationSteps, learningRate } from "../../lib/training/schedule.ts";
import { Schedule } from "../../lib/training/schemas.ts";

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

Deno.test("cosine-restarts: a restart may ramp up, and each cycle's peak may decay", () => {
  const s = Schedule.parse({
    kind: "cosine-restarts",
    warmupSteps: 10,
    firstCycleSteps: 100,
    restartWarmupFraction: 0.1,
    restartPeakDecay: 0.5,
  });
  close(learningRate(s, 1, 10, 0), 1, "the first cycle peaks at lr, after the warmup only");
  // Cycle (100, 200] (k = 1): peak 0.5, reached over 10 steps, then a cosine to 0 at 200.
  close(learningRate(s, 1, 101, 0), 0.05, "ramping, not jumping");
  close(learningRate(s, 1, 110, 0), 0.5, "the decayed peak at the ramp's end");
  close(learningRate(s, 1, 155, 0), 0.25, "half way down");
  close(learningRate(s, 1, 200, 0), 0, "annealed at the cycle end");
  // Cycle (400, 800] (k = 3): peak 0.125 after a 40-step ramp.
  close(learningRate(s, 1, 420, 0), 0.0625, "half the ramp");
  close(learningRate(s, 1, 440, 0), 0.125, "peak 0.5^3");
  close(learningRate(s, 1, 800, 0), 0, "annealed");
  // The defaults keep every restart at the full peak at once.
  const plain = Schedule.parse({ kind: "cosine-restarts", warmupSteps: 10, firstCycleSteps: 100 });
  assert.ok(learningRate(plain, 1, 401, 0) > 0.999);
});
