// Membership-inference metrics against cases computed by hand.
import assert from "node:assert/strict";
import {
  auc,
  bestF1,
  f1AtMemberCount,
  rocCurve,
  thinRoc,
  tprAtFpr,
} from "../../lib/privacy/membership.ts";
import { membershipBody } from "../../lib/privacy/schemas.ts";

const close = (a: number, b: number, tol = 1e-12) =>
  assert.ok(Math.abs(a - b) <= tol, `${a} is not ${b} (±${tol})`);

Deno.test("perfect separation: AUC 1, F1 1, TPR 1 at FPR 0", () => {
  const roc = rocCurve([1, 2, 3], [10, 11, 12]);
  assert.equal(auc(roc), 1);
  const best = bestF1(roc);
  assert.equal(best.f1, 1);
  assert.equal(best.threshold, 3);
  assert.equal(best.accuracy, 1);
  assert.equal(f1AtMemberCount(roc).f1, 1);
  assert.equal(tprAtFpr(roc, 0.001).tpr, 1);
});

Deno.test("reversed separation: AUC 0, TPR 0 at low FPR", () => {
  const roc = rocCurve([10, 11, 12], [1, 2, 3]);
  assert.equal(auc(roc), 0);
  assert.equal(tprAtFpr(roc, 0.01).tpr, 0);
  assert.equal(f1AtMemberCount(roc).f1, 0);
});

Deno.test("identical distributions: AUC 0.5 and balanced F1 0.5; best F1 is 2/3", () => {
  // Pairs: 3 of 9 member < non-member, 3 of 9 equal: 3/9 + ½·3/9 = 0.5.
  const same = rocCurve([1, 2, 3], [1, 2, 3]);
  assert.equal(auc(same), 0.5);
  close(f1AtMemberCount(same).f1, 0.5);
  // All tied: the ROC is the diagonal; flagging everyone gives F1 = 2·3/(2·3 + 3) = 2/3.
  const tied = rocCurve([7, 7], [7, 7]);
  assert.deepEqual(tied.points.map((p) => [p.fpr, p.tpr]), [[0, 0], [1, 1]]);
  assert.equal(auc(tied), 0.5);
  close(bestF1(tied).f1, 2 / 3);
  assert.equal(f1AtMemberCount(tied).f1, 0.5);
  assert.equal(tprAtFpr(tied, 0.5).tpr, 0);
});

Deno.test("a worked example with ties", () => {
  // members M = [1, 2, 2, 4], non-members N = [2, 3, 5, 5]; predict member when score ≤ t.
  //   t     TP FP   FPR  TPR   F1 = 2TP/(2TP+FP+FN)
  //   -inf   0  0   0    0     0
  //   1      1  0   0    .25   2/5  = 0.4
  //   2      3  1   .25  .75   6/8  = 0.75   (the tie at 2 goes in whole)
  //   3      3  2   .5   .75   6/9  = 0.667
  //   4      4  2   .5   1     8/10 = 0.8    <- best F1, accuracy (4 + 2)/8 = 0.75
  //   5      4  4   1    1     8/12 = 0.667
  // AUC by pairs: m=1 beats 4; each m=2 beats 3 and ties 1 (3.5, twice); m=4 beats 2:
  //   (4 + 7 + 2)/16 = 13/16. By trapezoids: .25·(.25+.75)/2 + .25·.75 + .5·1 = 0.8125.
  // Flag 4 (= P): the four lowest are 1, 2, 2, 2 -> TP 3, F1 = 3/4 at threshold 2.
  const roc = rocCurve([1, 2, 2, 4], [2, 3, 5, 5]);
  assert.deepEqual(
    roc.points.map((p) => [p.threshold, p.tp, p.fp]),
    [[-Infinity, 0, 0], [1, 1, 0], [2, 3, 1], [3, 3, 2], [4, 4, 2], [5, 4, 4]],
  );
  assert.equal(auc(roc), 13 / 16);
  const best = bestF1(roc);
  assert.equal(best.f1, 0.8);
  assert.equal(best.threshold, 4);
  assert.equal(best.accuracy, 0.75);
  assert.deepEqual(f1AtMemberCount(roc), {
    f1: 0.75,
    threshold: 2,
    accuracy: 0.75,
    tpr: 0.75,
    fpr: 0.25,
  });
  // Largest threshold with FPR ≤ 0.25 is 2 (TPR .75); with FPR ≤ 0.01 it is 1 (TPR .25).
  assert.equal(tprAtFpr(roc, 0.25).tpr, 0.75);
  assert.equal(tprAtFpr(roc, 0.01).tpr, 0.25);
  assert.equal(tprAtFpr(roc, 0.01).threshold, 1);
  assert.equal(tprAtFpr(roc, 1).tpr, 1);
});

Deno.test("balanced F1 splits a tie at the cut in expectation", () => {
  // M = [1, 3, 3], N = [3, 3, 5]: flag 3; 1 is in, then 2 of the four 3s (two members):
  // expected TP = 1 + 2·(2/4) = 2, F1 = 2/3, threshold 3.
  const r = f1AtMemberCount(rocCurve([1, 3, 3], [3, 3, 5]));
  close(r.f1, 2 / 3);
  assert.equal(r.threshold, 3);
});

Deno.test("TPR at FPR counts false positives exactly (0.01 of 100 allows one)", () => {
  const members = Array.from({ length: 100 }, (_, i) => i); // 0..99
  const non = Array.from({ length: 100 }, (_, i) => 10.5 + i); // 10.5..109.5
  const roc = rocCurve(members, non);
  // No false positive up to threshold 10 (members 0..10: TPR .11); one (10.5) up to
  // threshold 11 (members 0..11: TPR .12); the second comes at 11.5.
  assert.equal(tprAtFpr(roc, 0.01).tpr, 0.12);
  assert.equal(tprAtFpr(roc, 0.01).threshold, 11);
  assert.equal(tprAtFpr(roc, 0.001).tpr, 0.11);
});

Deno.test("thinned ROC keeps (0,0) and (1,1) and at most max points", () => {
  const n = 1000;
  const roc = rocCurve(
    Array.from({ length: n }, (_, i) => i),
    Array.from({ length: n }, (_, i) => i + 0.5),
  );
  assert.equal(roc.points.length, 2 * n + 1);
  const thin = thinRoc(roc, 256);
  assert.equal(thin.length, 256);
  assert.deepEqual(thin[0], { fpr: 0, tpr: 0 });
  assert.deepEqual(thin[255], { fpr: 1, tpr: 1 });
  for (let i = 1; i < thin.length; i++) {
    assert.ok(thin[i].fpr >= thin[i - 1].fpr && thin[i].tpr >= thin[i - 1].tpr);
  }
  assert.equal(thinRoc(rocCurve([1], [2])).length, 3);
});

Deno.test("bad scores are refused naming the field", () => {
  assert.throws(() => rocCurve([], [1]), /memberScores: no scores/);
  assert.throws(() => rocCurve([1], [1, NaN]), /nonMemberScores\[1\]: NaN is not finite/);
  assert.throws(() => tprAtFpr(rocCurve([1], [2]), 2), /maxFpr/);
});

Deno.test("membershipBody gathers every figure from the two sides' NLLs", () => {
  const ids = { modelId: "m", membersDatasetId: "a", nonMembersDatasetId: "b" };
  const body = membershipBody(ids, [1, 2, 2, 4], [2, 3, 5, 5]);
  assert.equal(body.count, 4);
  assert.equal(body.f1, 0.8);
  assert.equal(body.threshold, 4);
  assert.equal(body.accuracy, 0.75);
  assert.deepEqual(body.balanced, { f1: 0.75, threshold: 2 });
  assert.equal(body.auc, 13 / 16);
  assert.deepEqual(body.tprAtFpr, { "0.01": 0.25, "0.001": 0.25 });
  assert.equal(body.roc.length, 6);
  assert.equal(body.members.meanBits, 2.25);
  assert.equal(body.nonMembers.meanBits, 3.75);
});
