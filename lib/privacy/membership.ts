// Loss-threshold membership inference (docs/method.md, "Membership inference").
//
// Convention: a score is a sequence's NLL in bits (tokens 2..S) under the
// model, and LOWER means "member" (the model codes its training data
// shorter). A threshold t predicts member when score ≤ t, so a threshold
// always takes every score equal to it: tied sequences cannot be split, and
// the ROC walks from one distinct score to the next (a tie between a member
// and a non-member is a diagonal segment, which is what makes the trapezoid
// area equal the AUC with ties counted half).
//
// F1 depends on the class balance, so memcap measures it on a balanced set
// (as many non-members as members). Two F1 figures come out of one curve:
// - bestF1: the maximum over thresholds. Calling everything a member already
//   scores 2P/(2P+N) = 2/3 on a balanced set, so its chance level is 2/3.
// - f1AtMemberCount: flag exactly as many sequences as there are members
//   (ties at the cut broken at random, in expectation). Then precision =
//   recall = F1 = accuracy, chance is 0.5 and perfect is 1: the scale of the
//   paper's membership F1 and its scaling law.

/** One threshold of the ROC: predict member when score ≤ threshold. */
export interface RocPoint {
  /** -Infinity for the first point (nothing predicted member). */
  threshold: number;
  /** Members with score ≤ threshold. */
  tp: number;
  /** Non-members with score ≤ threshold. */
  fp: number;
  tpr: number;
  fpr: number;
}

export interface RocCurve {
  members: number;
  nonMembers: number;
  /** One point per distinct score, ascending, after a first (0, 0) point. */
  points: RocPoint[];
}

type Scores = ArrayLike<number>;

function checkScores(scores: Scores, field: string): void {
  if (scores.length === 0) throw new RangeError(`${field}: no scores`);
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i])) {
      throw new RangeError(`${field}[${i}]: ${scores[i]} is not finite`);
    }
  }
}

/** The full ROC curve of "score ≤ t ⇒ member" over every distinct score t. */
export function rocCurve(memberScores: Scores, nonMemberScores: Scores): RocCurve {
  checkScores(memberScores, "memberScores");
  checkScores(nonMemberScores, "nonMemberScores");
  const P = memberScores.length, N = nonMemberScores.length;
  const all: { s: number; member: boolean }[] = [];
  for (let i = 0; i < P; i++) all.push({ s: memberScores[i], member: true });
  for (let i = 0; i < N; i++) all.push({ s: nonMemberScores[i], member: false });
  all.sort((a, b) => a.s - b.s);
  const points: RocPoint[] = [{ threshold: -Infinity, tp: 0, fp: 0, tpr: 0, fpr: 0 }];
  let tp = 0, fp = 0;
  for (let i = 0; i < all.length; i++) {
    if (all[i].member) tp++;
    else fp++;
    // Emit a point only after the last of a run of equal scores.
    if (i + 1 < all.length && all[i + 1].s === all[i].s) continue;
    points.push({ threshold: all[i].s, tp, fp, tpr: tp / P, fpr: fp / N });
  }
  return { members: P, nonMembers: N, points };
}

/**
 * Area under the ROC (trapezoids): P(member score < non-member score) +
 * ½·P(equal), the Mann-Whitney statistic with ties counted half.
 */
export function auc(roc: RocCurve): number {
  let area = 0;
  const pts = roc.points;
  for (let i = 1; i < pts.length; i++) {
    area += (pts[i].fpr - pts[i - 1].fpr) * (pts[i].tpr + pts[i - 1].tpr) / 2;
  }
  return area;
}

export interface ThresholdResult {
  f1: number;
  /** Predict member when score ≤ threshold (bits). */
  threshold: number;
  /** (TP + TN) / (P + N) at that threshold. */
  accuracy: number;
  tpr: number;
  fpr: number;
}

function f1Of(tp: number, fp: number, P: number): number {
  return tp === 0 ? 0 : 2 * tp / (2 * tp + fp + (P - tp));
}

/**
 * The threshold with the highest F1 (the smallest such threshold on a tie).
 * On a balanced set its chance level is 2/3, not 0.5 (see the file header).
 */
export function bestF1(roc: RocCurve): ThresholdResult {
  const { members: P, nonMembers: N } = roc;
  let best = roc.points[roc.points.length - 1];
  let bestValue = -1;
  for (const p of roc.points) {
    const f1 = f1Of(p.tp, p.fp, P);
    if (f1 > bestValue) {
      bestValue = f1;
      best = p;
    }
  }
  return {
    f1: bestValue,
    threshold: best.threshold,
    accuracy: (best.tp + N - best.fp) / (P + N),
    tpr: best.tpr,
    fpr: best.fpr,
  };
}

/**
 * F1 when exactly P sequences (as many as there are members) are flagged:
 * the lowest-scoring P, with the tied group at the cut split at random (its
 * expected true positives). Precision = recall = F1 = accuracy there when the
 * set is balanced; chance is 0.5. `threshold` is the score at the cut.
 */
export function f1AtMemberCount(roc: RocCurve): ThresholdResult {
  const { members: P, nonMembers: N, points } = roc;
  let i = 1;
  while (points[i].tp + points[i].fp < P) i++;
  const lo = points[i - 1], hi = points[i];
  const kLo = lo.tp + lo.fp, kHi = hi.tp + hi.fp;
  // Taking P - kLo of the kHi - kLo tied sequences at random yields that
  // share of the group's members in expectation.
  const tp = lo.tp + (P - kLo) * (hi.tp - lo.tp) / (kHi - kLo);
  const fp = P - tp;
  return {
    f1: f1Of(tp, fp, P),
    threshold: hi.threshold,
    accuracy: (tp + N - fp) / (P + N),
    tpr: tp / P,
    fpr: fp / N,
  };
}

/**
 * TPR at the largest threshold whose FPR ≤ maxFpr (the attack's power when
 * it may wrongly accuse at most that share of non-members). With fewer than
 * 1/maxFpr non-members this means no false positive at all.
 */
export function tprAtFpr(roc: RocCurve, maxFpr: number): ThresholdResult {
  if (!(maxFpr >= 0 && maxFpr <= 1)) throw new RangeError(`maxFpr: ${maxFpr} is not in [0, 1]`);
  const { members: P, nonMembers: N } = roc;
  let at = roc.points[0];
  // Compare counts, not ratios, so 0.01 × 100 non-members allows exactly 1.
  const allowed = maxFpr * N * (1 + 1e-12);
  for (const p of roc.points) if (p.fp <= allowed) at = p;
  return {
    f1: f1Of(at.tp, at.fp, P),
    threshold: at.threshold,
    accuracy: (at.tp + N - at.fp) / (P + N),
    tpr: at.tpr,
    fpr: at.fpr,
  };
}

/**
 * At most `max` (≥ 2) points of the curve, evenly spaced by index, always
 * with the first (0, 0) and last (1, 1): enough to draw; the AUC and every
 * threshold metric are computed on the full curve.
 */
export function thinRoc(roc: RocCurve, max = 256): { fpr: number; tpr: number }[] {
  if (!Number.isInteger(max) || max < 2) throw new RangeError(`max: ${max} is not an integer ≥ 2`);
  const pts = roc.points;
  const keep = pts.length <= max
    ? pts
    : Array.from({ length: max }, (_, i) => pts[Math.round(i * (pts.length - 1) / (max - 1))]);
  return keep.map((p) => ({ fpr: p.fpr, tpr: p.tpr }));
}
