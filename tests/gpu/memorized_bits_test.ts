import assert from "node:assert/strict";
import { clipCreditBits, memorizedBits } from "../../gpu/jobs/train_run.ts";

Deno.test("memorized bits clip each sequence at 0; the clip credit is what that adds", () => {
  // Uniform code 60 bits; sequences coded in 20, 55, 60, 70 and 90 bits.
  const nll = Float64Array.from([20, 55, 60, 70, 90]);
  assert.equal(memorizedBits(nll, 60), 40 + 5);
  assert.equal(clipCreditBits(nll, 60), 10 + 30);
  // Clipped minus credit is the net saving Σ (uniform − NLL) = 300 − 295.
  assert.equal(memorizedBits(nll, 60) - clipCreditBits(nll, 60), 300 - 295);
  assert.equal(clipCreditBits(Float64Array.from([1, 2]), 60), 0, "all shorter: no credit");
});
