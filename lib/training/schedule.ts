// Learning-rate schedules. docs/method.md ("Reference runs on our CPUs"): linear warmup then cosine
// decay memorized ~5.6% more than a constant rate at equal steps.
//
// Why "cosine-restarts": an annealed model memorizes markedly more than the
// same model mid-schedule, but a single cosine must know its length in
// advance, and training to saturation does not. With restarts, cycle k ends
// at step firstCycleSteps·2^k, each cycle a full cosine from the peak rate down
// to the floor; every cycle end is an annealed measurement, and consecutive
// ends are exactly one doubling of steps apart, which is what the saturation
// rule (lib/training/saturation.ts) compares. Training may stop at any cycle
// end with a fully annealed model.
import { z } from "zod";

const ScheduleKind = z.enum(["constant", "cosine", "cosine-restarts"]);

/** How a restart ramps up; the default is named in its description. */
function restartWarmupField(defaultValue: number) {
  return z.number().min(0).max(0.5).describe(
    "cosine-restarts only: each restart ramps the rate up linearly over this fraction of its " +
      "cycle instead of jumping to the peak (Adam's moments were estimated at a near-zero " +
      `rate). Default ${defaultValue}.`,
  );
}

/** The schedule fields, with `kind` defaulting to `defaultKind` when a request leaves it out. */
function scheduleFields(defaultKind: z.infer<typeof ScheduleKind>) {
  return {
    kind: ScheduleKind.default(defaultKind).describe(
      "constant: the peak rate after warmup. cosine: one cosine decay over the whole step " +
        "budget. cosine-restarts: cosine cycles ending at firstCycleSteps·2^k (a restart on " +
        `every doubling of steps), so every cycle end is an annealed model. Default ${defaultKind}.`,
    ),
    warmupSteps: z.number().int().min(0).default(100).describe(
      "Linear warmup from 0 at the start of training (restarts ramp by restartWarmupFraction).",
    ),
    /** Final rate of the cosine as a fraction of the peak. */
    minLrFraction: z.number().min(0).max(1).default(0),
    firstCycleSteps: z.number().int().min(1).default(500).describe(
      "cosine-restarts only: the length of the first cycle; cycle k ends at " +
        "firstCycleSteps·2^k.",
    ),
    restartWarmupFraction: restartWarmupField(0).optional(),
    restartPeakDecay: z.number().gt(0).max(1).optional().describe(
      "cosine-restarts only: cycle k peaks at lr·restartPeakDecay^k. Default 1 (every cycle " +
        "at lr).",
    ),
  };
}

export const Schedule = z.object(scheduleFields("cosine")).meta({
  id: "Schedule",
  example: { kind: "cosine", warmupSteps: 100, minLrFraction: 0, firstCycleSteps: 500 },
});

/**
 * The same fields for capacity sweeps, where a schedule without `kind` means cosine-restarts
 * with a 10% ramp on every restart: in bench/restart_recipes.ts restarts that jump straight
 * to the peak stopped gaining after 20,000 steps (and in a sweep lost up to 37% of what they
 * held), while ramped ones went on memorizing (docs/results/reference-cpu/report.md).
 */
export const CapacitySchedule = z.object({
  ...scheduleFields("cosine-restarts"),
  restartWarmupFraction: restartWarmupField(0.1).default(0.1),
}).meta({
  id: "CapacitySchedule",
  example: {
    kind: "cosine-restarts",
    warmupSteps: 100,
    minLrFraction: 0,
    firstCycleSteps: 500,
    restartWarmupFraction: 0.1,
  },
});

export type Schedule = z.infer<typeof Schedule>;
export type ScheduleInput = z.input<typeof Schedule>;

/** Learning rate at step (1-based) of totalSteps for peak rate lr. */
export function learningRate(s: Schedule, lr: number, step: number, totalSteps: number): number {
  if (s.warmupSteps > 0 && step <= s.warmupSteps) return (lr * step) / s.warmupSteps;
  if (s.kind === "constant") return lr;
  let start: number, end: number;
  if (s.kind === "cosine-restarts") {
    [start, end] = cycleAround(s.firstCycleSteps, step);
    if (start === 0) start = Math.min(s.warmupSteps, end - 1); // the first cycle decays after warmup
    const k = Math.round(Math.log2(end / s.firstCycleSteps));
    lr *= (s.restartPeakDecay ?? 1) ** k;
    // A restart's ramp: Adam's second moments were estimated at a near-zero rate.
    const ramp = k === 0 ? 0 : Math.floor((s.restartWarmupFraction ?? 0) * (end - start));
    if (step - start <= ramp) return (lr * (step - start)) / ramp;
    start += ramp;
  } else {
    [start, end] = [s.warmupSteps, Math.max(s.warmupSteps + 1, totalSteps)];
  }
  const progress = Math.min(1, Math.max(0, (step - start) / (end - start)));
  const min = lr * s.minLrFraction;
  return min + (lr - min) * 0.5 * (1 + Math.cos(Math.PI * progress));
}

/** [start, end] of the restart cycle holding step (1-based): end = first·2^k ≥ step. */
function cycleAround(first: number, step: number): [number, number] {
  let end = first;
  while (end < step) end *= 2;
  return [end === first ? 0 : end / 2, end];
}

/**
 * The steps at which a run measures memorized bits. For cosine-restarts the
 * cycle ends (annealed models) up to maxSteps; a budget between two cycle
 * ends is cut back to the last whole cycle, so the final model is annealed
 * too. Otherwise every `evalEvery` steps and maxSteps itself.
 */
export function evaluationSteps(s: Schedule, evalEvery: number, maxSteps: number): number[] {
  const steps: number[] = [];
  if (s.kind === "cosine-restarts") {
    for (let end = s.firstCycleSteps; end <= maxSteps; end *= 2) steps.push(end);
    return steps;
  }
  for (let t = evalEvery; t < maxSteps; t += evalEvery) steps.push(t);
  steps.push(maxSteps);
  return steps;
}
