import assert from "node:assert/strict";
import { type CurvePoint, fitAsymptote, predictAsymptote } from "../../lib/capacity/asymptote.ts";
import { Rng } from "../../lib/prng.ts";

/** Steps first, 2·first, 4·first, … (count of them). */
const doubling = (first: number, count: number) =>
  Array.from({ length: count }, (_, i) => first * 2 ** i);

const powerCurve = (steps: number[], mInf: number, a: number, b: number, noise = 0, seed = 1) => {
  const rng = new Rng(seed);
  return steps.map((step) => ({ step, bits: mInf - a * step ** -b + noise * rng.normal() }));
};

Deno.test("fitAsymptote recovers the parameters of a noiseless curve", () => {
  const curve = powerCurve(doubling(250, 7), 1000, 800, 0.5); // steps 250..16000
  const fit = fitAsymptote(curve);
  assert.ok(fit);
  assert.ok(Math.abs(fit.mInf - 1000) / 1000 < 1e-3, `mInf ${fit.mInf}`);
  assert.ok(Math.abs(fit.a - 800) / 800 < 1e-2, `a ${fit.a}`);
  assert.ok(Math.abs(fit.b - 0.5) < 1e-3, `b ${fit.b}`);
  assert.ok(fit.rmsBits < 1e-3, `rms ${fit.rmsBits}`);
  assert.equal(fit.points, 7);
  assert.equal(fit.bounded, true);
  assert.ok(fit.interval[0] <= fit.mInf + 1e-6 && fit.mInf - 1e-6 <= fit.interval[1]);
  assert.ok(fit.interval[1] - fit.interval[0] < 1, `interval ${fit.interval}`);
  // Extrapolation beyond the data follows the true curve.
  const want = 1000 - 800 * 1e6 ** -0.5;
  assert.ok(Math.abs(predictAsymptote(fit, 1e6) - want) < 0.5);
});

Deno.test("fitAsymptote intervals on noisy curves cover the true asymptote", () => {
  // 10 points, 100..51200 steps; rise 800 → 991 bits with sd 3 noise.
  let covered = 0;
  const trials = 20;
  for (let s = 1; s <= trials; s++) {
    const fit = fitAsymptote(powerCurve(doubling(100, 10), 1000, 2000, 0.5, 3, s), {
      resamples: 100,
    });
    assert.ok(fit);
    assert.ok(fit.interval[0] <= fit.interval[1]);
    if (fit.interval[0] <= 1000 && 1000 <= fit.interval[1]) covered++;
  }
  // Nominal 90%; percentile bootstrap on 10 points runs ~80% in practice (200-seed
  // check). A broken interval (no resampling, wrong residuals) would cover far less.
  assert.ok(covered >= 14, `covered ${covered}/${trials}`);
  const one = fitAsymptote(powerCurve(doubling(100, 10), 1000, 2000, 0.5, 3, 2));
  assert.ok(one && one.interval[0] <= 1000 && 1000 <= one.interval[1], `${one?.interval}`);
});

Deno.test("fitAsymptote is deterministic for a seed", () => {
  const curve = powerCurve(doubling(100, 8), 500, 900, 0.7, 4, 7);
  const a = fitAsymptote(curve, { seed: 3 });
  const b = fitAsymptote(curve, { seed: 3 });
  assert.deepEqual(a, b);
  const c = fitAsymptote(curve, { seed: 4 });
  assert.ok(a && c);
  assert.equal(c.mInf, a.mInf); // the point fit does not depend on the seed
  assert.notDeepEqual(c.interval, a.interval);
});

Deno.test("fitAsymptote returns null with fewer than 4 usable points", () => {
  const curve = powerCurve([0, 100, 200, 400, 800], 1000, 800, 0.5);
  assert.equal(fitAsymptote(curve.slice(0, 4)), null); // step 0 is not usable
  assert.ok(fitAsymptote(curve));
  assert.equal(fitAsymptote(curve, { minStep: 200 }), null);
  assert.equal(fitAsymptote([]), null);
});

Deno.test("fitAsymptote flags a logarithmic curve as unbounded", () => {
  const curve: CurvePoint[] = doubling(250, 7).map((step) => ({
    step,
    bits: 100 + 50 * Math.log(step),
  }));
  const fit = fitAsymptote(curve);
  assert.ok(fit);
  assert.equal(fit.bounded, false);
  assert.ok(fit.b <= 0.05 * 1.01, `b ${fit.b}`);
});

Deno.test("fitAsymptote gives a flat fit at the mean for a falling curve", () => {
  const curve = doubling(100, 5).map((step, i) => ({ step, bits: 100 - i }));
  const fit = fitAsymptote(curve);
  assert.ok(fit);
  assert.equal(fit.a, 0);
  assert.ok(Math.abs(fit.mInf - 98) < 1e-9);
  assert.throws(() => fitAsymptote(curve, { bRange: [0, 1] }), RangeError);
  assert.throws(() => fitAsymptote(curve, { resamples: 0 }), RangeError);
});
