// Spearman's ρ against cases computed by hand.
import assert from "node:assert/strict";
import { averageRanks, spearman } from "../../lib/privacy/spearman.ts";

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);

Deno.test("average ranks: ties share the mean of the ranks they span", () => {
  assert.deepEqual(Array.from(averageRanks([10, 30, 20])), [1, 3, 2]);
  // 5 takes ranks 2 and 3 -> 2.5 each; the three 9s take 4, 5, 6 -> 5.
  assert.deepEqual(Array.from(averageRanks([9, 5, 1, 9, 5, 9])), [5, 2.5, 1, 5, 2.5, 5]);
});

Deno.test("spearman: perfect monotone = 1 (not only linear), reversed = -1", () => {
  assert.equal(spearman([1, 2, 3, 4, 5], [2, 4, 6, 8, 10]), 1);
  assert.equal(spearman([1, 2, 3, 4, 5], [1, 8, 27, 64, 125]), 1); // monotone, not linear
  assert.equal(spearman([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]), -1);
  assert.equal(spearman([0.1, 0.2, 0.3], [-1, -10, -100]), -1);
});

Deno.test("spearman: one swap and a tie, by hand", () => {
  // x = 1,2,3 and y = 1,3,2: no ties, ρ = 1 - 6Σd²/(n(n²-1)) = 1 - 6·2/24 = 0.5.
  close(spearman([1, 2, 3], [1, 3, 2]), 0.5);
  // x = 1,2,2,3 -> ranks 1, 2.5, 2.5, 4; y = 1,2,3,4 -> ranks 1,2,3,4; mean rank 2.5.
  // Deviations x: -1.5, 0, 0, 1.5; y: -1.5, -0.5, 0.5, 1.5.
  // Σdxdy = 2.25 + 0 + 0 + 2.25 = 4.5; Σdx² = 4.5; Σdy² = 5. ρ = 4.5/√22.5 = √0.9 ≈ 0.9487
  // (the no-ties shortcut would give 1 - 6·0.5/60 = 0.95: wrong with ties).
  close(spearman([1, 2, 2, 3], [1, 2, 3, 4]), Math.sqrt(0.9));
});

Deno.test("spearman: undefined (NaN) for a constant side or under 2 pairs; bad input throws", () => {
  assert.ok(Number.isNaN(spearman([1, 1, 1], [1, 2, 3])));
  assert.ok(Number.isNaN(spearman([1], [2])));
  assert.ok(Number.isNaN(spearman([], [])));
  assert.throws(() => spearman([1, 2], [1]), /y: 1 values for 2/);
  assert.throws(() => spearman([1, NaN], [1, 2]), /x\[1\]: NaN/);
});
