import assert from "node:assert/strict";
import { fitMembershipLaw } from "../../lib/privacy/law_fit.ts";
import { membershipF1Law } from "../../lib/privacy/scaling_law.ts";

Deno.test("fitMembershipLaw recovers known constants from noiseless points", () => {
  const truth = { c1: 1.1, c2: -0.08, c3: -20 };
  const points = [1, 3, 6, 10, 15, 20, 25, 30, 40, 60, 100].map((x) => ({
    x,
    f1: membershipF1Law(x, truth),
  }));
  const fit = fitMembershipLaw(points);
  assert.ok(fit.rms < 1e-4, `rms ${fit.rms}`);
  for (const p of points) {
    assert.ok(Math.abs(membershipF1Law(p.x, fit) - p.f1) < 5e-4, `at x=${p.x}`);
  }
  assert.ok(Math.abs(fit.c3 - truth.c3) < 0.5, `c3 ${fit.c3}`);
});

Deno.test("fitMembershipLaw: too few points or non-finite values are refused", () => {
  assert.throws(() => fitMembershipLaw([{ x: 1, f1: 0.9 }, { x: 2, f1: 0.8 }]), /≥ 3 points/);
  assert.throws(
    () => fitMembershipLaw([{ x: 1, f1: 0.9 }, { x: 2, f1: NaN }, { x: 3, f1: 0.7 }]),
    /non-finite/,
  );
});
