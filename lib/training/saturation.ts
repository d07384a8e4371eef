// When has a model stopped memorizing? Capacity is measured on models trained
// to saturation (PAPER.md), so the stop rule decides how much we under-measure.
//
// Why the window doubles instead of staying fixed: on random tokens memorized
// bits creep up roughly like m(t) ≈ c + a·ln t long after the loss looks flat.
// Over a fixed window of w steps that curve gains m(t) - m(t-w) ≈ a·w/t bits,
// a relative gain that shrinks like 1/t whether or not the model is still
// learning: a rule such as "< 0.5% gain over 500 steps" fires after a few
// thousand steps. In our CPU study (PAPER.md) it fired at 2-5.5k steps and
// under-measured capacity by 11-22%. Over the last doubling of steps the same
// curve gains a·ln 2 bits every time: the test is scale-free, so it keeps a
// log-growing curve running and stops only once a doubling of the training
// budget buys less than `fraction` of what is already memorized.
//
// All values are memorized bits (tokens 2..S, see lib/memorization.ts) at an
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
  /** True when memorized bits grew less than `fraction` over the last doubling of steps. */
  saturated: boolean;
  /** (m(t) - m(t/2)) / m(t) as a fraction (0.01 = 1%); null when it cannot be computed. */
  gain: number | null;
  /** The step whose bits stand for m(t/2): the latest point at or before t/2. */
  fromStep: number | null;
  /** t: the step of the last point. */
  toStep: number | null;
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
 * saturated = gain < fraction (a negative gain, bits falling, counts).
 */
export function saturation(curve: readonly CurvePoint[], opts: SaturationOptions = {}): Saturation {
  const fraction = opts.fraction ?? DEFAULT_SATURATION_FRACTION;
  const minSteps = opts.minSteps ?? DEFAULT_SATURATION_MIN_STEPS;
  if (!(fraction > 0)) throw new RangeError(`fraction: ${fraction} is not > 0`);
  if (!(minSteps >= 0)) throw new RangeError(`minSteps: ${minSteps} is not ≥ 0`);
  checkCurve(curve);
  const none: Saturation = { saturated: false, gain: null, fromStep: null, toStep: null };
  if (curve.length === 0) return none;
  const last = curve[curve.length - 1];
  const t = last.step;
  const notYet = { ...none, toStep: t };
  if (t < minSteps || t <= 0) return notYet;
  const half = halfPoint(curve, t / 2);
  if (half === null || half.step >= t) return notYet;
  if (!(last.bits > 0)) return { ...notYet, fromStep: half.step };
  const gain = (last.bits - half.bits) / last.bits;
  return { saturated: gain < fraction, gain, fromStep: half.step, toStep: t };
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
