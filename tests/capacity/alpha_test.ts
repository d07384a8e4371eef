import assert from "node:assert/strict";
import { fitAlpha, meanRelativeError, studentTQuantile } from "../../lib/capacity/alpha.ts";

const close = (got: number, want: number, tol: number, what = "") =>
  assert.ok(Math.abs(got - want) <= tol, `${what}: got ${got}, want ${want} ± ${tol}`);

Deno.test("studentTQuantile matches tabulated values", () => {
  // Standard t-table values.
  close(studentTQuantile(0.975, 2), 4.302653, 1e-4, "t(.975, 2)");
  close(studentTQuantile(0.975, 1), 12.706205, 1e-3, "t(.975, 1)");
  close(studentTQuantile(0.95, 10), 1.812461, 1e-4, "t(.95, 10)");
  close(studentTQuantile(0.995, 30), 2.749996, 1e-4, "t(.995, 30)");
  close(studentTQuantile(0.999, 1), 318.308839, 1e-2, "t(.999, 1)");
  close(studentTQuantile(0.025, 2), -4.302653, 1e-4, "lower tail is symmetric");
  close(studentTQuantile(0.5, 7), 0, 1e-9, "median");
  close(studentTQuantile(0.975, 1e6), 1.959966, 1e-4, "large df → normal");
  assert.throws(() => studentTQuantile(1, 3), RangeError);
  assert.throws(() => studentTQuantile(0.9, 0), RangeError);
});

Deno.test("fitAlpha on exactly proportional points returns the ratio with r2 = 1", () => {
  const fit = fitAlpha([
    { parameters: 1_000, capacityBits: 3_600 },
    { parameters: 20_000, capacityBits: 72_000 },
    { parameters: 500_000, capacityBits: 1_800_000 },
  ]);
  close(fit.alpha, 3.6, 1e-12, "alpha");
  close(fit.r2, 1, 1e-12, "r2");
  close(fit.interval[0], 3.6, 1e-9, "interval lo");
  close(fit.interval[1], 3.6, 1e-9, "interval hi");
  assert.equal(fit.points, 3);
});

Deno.test("fitAlpha interval and r2 on a hand-computed example", () => {
  // p = 1,2,3; c = 1,2,4. Σpc = 17, Σp² = 14 → α = 17/14. Residuals (−3, −6, 5)/14,
  // SSE = 70/196 = 5/14; s² = SSE/2 = 5/28; se = sqrt(5/28 / 14) = sqrt(5/392).
  // mean c = 7/3, SST = 14/3 → r2 = 1 − (5/14)/(14/3) = 181/196.
  const fit = fitAlpha([
    { parameters: 1, capacityBits: 1 },
    { parameters: 2, capacityBits: 2 },
    { parameters: 3, capacityBits: 4 },
  ]);
  const half = 4.302653 * Math.sqrt(5 / 392);
  close(fit.alpha, 17 / 14, 1e-12, "alpha");
  close(fit.r2, 181 / 196, 1e-12, "r2");
  close(fit.interval[0], 17 / 14 - half, 1e-5, "interval lo");
  close(fit.interval[1], 17 / 14 + half, 1e-5, "interval hi");
  // A lower level narrows the interval around the same slope.
  const ninety = fitAlpha([
    { parameters: 1, capacityBits: 1 },
    { parameters: 2, capacityBits: 2 },
    { parameters: 3, capacityBits: 4 },
  ], { level: 0.9 });
  close(ninety.interval[1] - ninety.alpha, 2.919986 * Math.sqrt(5 / 392), 1e-5, "90% half-width");
});

Deno.test("fitAlpha rejects too few points and bad input", () => {
  assert.throws(() => fitAlpha([]), RangeError);
  assert.throws(() => fitAlpha([{ parameters: 10, capacityBits: 36 }]), RangeError);
  const two = [{ parameters: 1, capacityBits: 1 }, { parameters: 2, capacityBits: 2 }];
  assert.throws(() => fitAlpha(two, { level: 1 }), RangeError);
  assert.throws(() => fitAlpha([...two, { parameters: 0, capacityBits: 0 }]), RangeError);
  assert.throws(() => fitAlpha([...two, { parameters: 3, capacityBits: NaN }]), RangeError);
});

Deno.test("meanRelativeError on a hand example", () => {
  // |110−100|/100 = 0.1, |150−200|/200 = 0.25, 0 → mean 0.35/3.
  const e = meanRelativeError([
    { predicted: 100, observed: 110 },
    { predicted: 200, observed: 150 },
    { predicted: 50, observed: 50 },
  ]);
  close(e, 0.35 / 3, 1e-12, "mean relative error");
  assert.throws(() => meanRelativeError([]), RangeError);
  assert.throws(() => meanRelativeError([{ predicted: 0, observed: 1 }]), RangeError);
});
