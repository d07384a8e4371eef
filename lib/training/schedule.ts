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
import type { Schedule } from "./schemas.ts";

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
