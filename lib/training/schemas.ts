// Learning-rate schedules as requests name them (zod v4; `.meta({id})` makes Schedule and
// CapacitySchedule named components in the OpenAPI document). What the kinds do, and why
// cosine-restarts, is lib/training/schedule.ts.
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
