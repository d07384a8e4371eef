// When has a model stopped memorizing? Capacity is measured on models trained
// to saturation (docs/method.md), so the stop rule decides how much we under-measure.
//
// Why the window doubles instead of staying fixed: on random tokens memorized
// bits creep up roughly like m(t) ≈ c + a·ln t long after the loss looks flat.
// Over a fixed window of w steps that curve gains m(t) - m(t-w) ≈ a·w/t bits,
// a relative gain that shrinks like 1/t whether or not the model is still
// learning: a rule such as "< 0.5% gain over 500 steps" fires after a few
// thousand steps. In the PyTorch reference runs (docs/method.md) it fired at 2-5.5k steps and
// under-measured capacity by 11-22%. Over the last doubling of steps the same
// curve gains a·ln 2 bits every time: the test is scale-free, so it keeps a
// log-growing curve running and stops only once a doubling of the training
// budget buys less than `fraction` of what is already memorized.
//
// All values are memorized bits (tokens 2..S, see lib/memorization/memorization.ts) at an
// optimizer step count.

/** Memorized bits measured after `step` optimizer steps. */
export interface CurvePoint {
  step: number;
  bits: number;
}

export interface SaturationOptions {
  /** Saturated when (m(t) - m(t/2)) / m(t) < fraction. Default 0.01. */
  fraction?: number;
  /** No verdict before this many steps (default 1000): early curves are all noise. */
  minSteps?: number;
}

export interface Saturation {
  /**
   * True when memorized bits grew by a fraction in [0, `fraction`) over the last doubling of
   * steps and the last point is within `fraction` of the best one: flat, not falling.
   */
  saturated: boolean;
  /** (m(t) - m(t/2)) / m(t) as a fraction (0.01 = 1%); null when it cannot be computed. */
  gain: number | null;
  /** The step whose bits stand for m(t/2): the latest point at or before t/2. */
  fromStep: number | null;
  /** t: the step of the last point. */
  toStep: number | null;
  /** (best - m(t)) / best over the curve's points: how far the last point fell, ≥ 0. */
  drop: number;
}

/** The default `fraction`: shared by the run and sweep request schemas. */
export const DEFAULT_SATURATION_FRACTION = 0.01;
/** The default `minSteps`: shared by the run and sweep request schemas. */
export const DEFAULT_SATURATION_MIN_STEPS = 1000;

/**
 * Saturation test over the last doubling of steps. `curve` must be in
 * ascending step order (steps ≥ 0, bits finite). With t the last step:
 * not saturated, gain null, when t < minSteps, when no point lies at or
 * before t/2, or when m(t) ≤ 0 (nothing memorized yet). Otherwise m(t/2) is
 * the bits of the latest point at or before t/2 (an earlier, lower point
 * overstates the gain, so the rule errs towards training longer) and
 * saturated = 0 ≤ gain < fraction and drop ≤ fraction. Falling bits are never
 * saturation: a model that lost what it held is unstable (see `certify`).
 */
export function saturation(curve: readonly CurvePoint[], opts: SaturationOptions = {}): Saturation {
  const fraction = opts.fraction ?? DEFAULT_SATURATION_FRACTION;
  const minSteps = opts.minSteps ?? DEFAULT_SATURATION_MIN_STEPS;
  if (!(fraction > 0)) throw new RangeError(`fraction: ${fraction} is not > 0`);
  if (!(minSteps >= 0)) throw new RangeError(`minSteps: ${minSteps} is not ≥ 0`);
  checkCurve(curve);
  const none: Saturation = { saturated: false, gain: null, fromStep: null, toStep: null, drop: 0 };
  if (curve.length === 0) return none;
  const last = curve[curve.length - 1];
  const t = last.step;
  const drop = dropFromBest(curve);
  const notYet = { ...none, toStep: t, drop };
  if (t < minSteps || t <= 0) return notYet;
  const half = halfPoint(curve, t / 2);
  if (half === null || half.step >= t) return notYet;
  if (!(last.bits > 0)) return { ...notYet, fromStep: half.step };
  const gain = (last.bits - half.bits) / last.bits;
  const saturated = gain >= 0 && gain < fraction && drop <= fraction;
  return { saturated, gain, fromStep: half.step, toStep: t, drop };
}

/** How a run's training ended, as its certificate says. */
export type RunStatus = "saturated" | "unstable" | "budget-exhausted";

/**
 * What a finished run can claim: its memorized bits are the best annealed
 * measurement (a later, lower one does not undo what the model once held),
 * and the status says whether that figure is a saturated one.
 */
export interface Certificate {
  status: RunStatus;
  /** Optimizer steps trained. */
  steps: number;
  /** Training tokens seen: steps · batch · S. */
  tokens: number;
  /** The best annealed measurement, bits. */
  bestBits: number;
  /** The step of bestBits. */
  bestStep: number;
  /** The last measurement, bits. */
  lastBits: number;
  /** Gain over the last doubling of steps (see `saturation`); null when not computable. */
  gain: number | null;
  /** (bestBits - lastBits) / bestBits. */
  drop: number;
}

/**
 * The certificate of a finished run. `annealed` says which measurements are
 * of an annealed model: "all" (cycle ends of cosine-restarts) or "last" (the
 * end of a single schedule); the best of those is the run's figure. The
 * status comes from the whole curve: saturated when `saturation` says so at
 * the last point; unstable when bits fell over the last doubling (gain < 0)
 * or the last point lies more than `fraction` under the best; otherwise
 * budget-exhausted (still gaining at least `fraction` per doubling, or too
 * short to tell).
 */
export function certify(
  curve: readonly CurvePoint[],
  run: { steps: number; tokensPerStep: number; annealed?: "all" | "last" },
  opts: SaturationOptions = {},
): Certificate {
  if (curve.length === 0) throw new RangeError("curve: no measurements");
  const s = saturation(curve, opts);
  const fraction = opts.fraction ?? DEFAULT_SATURATION_FRACTION;
  const last = curve[curve.length - 1];
  const best = (run.annealed ?? "all") === "all" ? bestPoint(curve) : last;
  const status: RunStatus = s.saturated
    ? "saturated"
    : (s.gain !== null && s.gain < 0) || s.drop > fraction
    ? "unstable"
    : "budget-exhausted";
  return {
    status,
    steps: run.steps,
    tokens: run.steps * run.tokensPerStep,
    bestBits: best.bits,
    bestStep: best.step,
    lastBits: last.bits,
    gain: s.gain,
    drop: (best.bits - last.bits) / (best.bits > 0 ? best.bits : 1),
  };
}

/** The point with the most bits (the earliest of equals). */
export function bestPoint(curve: readonly CurvePoint[]): CurvePoint {
  let best = curve[0];
  for (const p of curve) if (p.bits > best.bits) best = p;
  return best;
}

/** (best - last) / best, 0 when the best is not positive. */
function dropFromBest(curve: readonly CurvePoint[]): number {
  const best = bestPoint(curve).bits;
  const last = curve[curve.length - 1].bits;
  return best > 0 ? (best - last) / best : 0;
}

/**
 * The first recorded step at which `saturation` of the curve up to and
 * including that point says saturated, or null if it never does. Lets a
 * caller replay a finished curve with another fraction.
 */
export function saturationStep(
  curve: readonly CurvePoint[],
  opts: SaturationOptions = {},
): number | null {
  checkCurve(curve);
  for (let i = 0; i < curve.length; i++) {
    if (saturation(curve.slice(0, i + 1), opts).saturated) return curve[i].step;
  }
  return null;
}

/** The latest point with step ≤ limit (binary search), or null. */
function halfPoint(curve: readonly CurvePoint[], limit: number): CurvePoint | null {
  let lo = 0, hi = curve.length - 1, found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (curve[mid].step <= limit) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found < 0 ? null : curve[found];
}

function checkCurve(curve: readonly CurvePoint[]) {
  for (let i = 0; i < curve.length; i++) {
    const p = curve[i];
    if (!Number.isFinite(p.step) || p.step < 0) {
      throw new RangeError(`curve[${i}].step: ${p.step} is not a finite number ≥ 0`);
    }
    if (!Number.isFinite(p.bits)) throw new RangeError(`curve[${i}].bits: ${p.bits} is not finite`);
    if (i > 0 && p.step < curve[i - 1].step) {
      throw new RangeError(`curve[${i}].step: ${p.step} < previous step ${curve[i - 1].step}`);
    }
  }
}
