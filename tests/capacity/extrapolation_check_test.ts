import assert from "node:assert/strict";
import {
  checkCut,
  crossReportCases,
  type CurveRecord,
  fitPoints,
  recordsOf,
  summarize,
  type Variant,
  VARIANTS,
  widening,
  withinCurveCases,
} from "../../bench/extrapolation_check.ts";
import type { CurvePoint } from "../../lib/capacity/asymptote.ts";
import { Rng } from "../../lib/prng.ts";

const ALL: Variant = VARIANTS.find((v) => v.name === "minStep=1")!;
const FAST = { resamples: 100 };

/** Steps 100, 200, …, 100·2^9 = 51,200. */
const STEPS = Array.from({ length: 10 }, (_, i) => 100 * 2 ** i);
const [M_INF, A, B] = [1000, 2000, 0.5];
const truth = (t: number) => M_INF - A * t ** -B;

const record = (curve: CurvePoint[], extra: Partial<CurveRecord> = {}): CurveRecord => ({
  report: "synthetic",
  label: "synthetic",
  key: "k",
  maxSteps: curve.at(-1)!.step,
  schedule: "constant",
  curve,
  ...extra,
});

/** The exact power law m∞ − a·t^(−b) plus seeded N(0, sd²) noise. */
const powerRecord = (seed: number, sd = 1) => {
  const rng = new Rng(seed);
  return record(STEPS.map((step) => ({ step, bits: truth(step) + sd * rng.normal() })));
};

Deno.test("extrapolation check: an exact power law is predicted out of sample", () => {
  const cases = Array.from({ length: 30 }, (_, i) => powerRecord(i + 1))
    .flatMap((r) => withinCurveCases(r, [ALL], FAST))
    .filter((c) => c.cut === "t/2");
  assert.equal(cases.length, 30);
  for (const c of cases) {
    assert.equal(c.fit.points, 9, "t/2 fits steps ≤ 25,600");
    assert.equal(c.target.step, 51200);
  }
  const s = summarize(cases)!;
  assert.equal(s.unbounded, 0);
  // m(51,200) is 8.8 bits (0.89%) below m∞: predicting m∞ instead of m(t) would fail here.
  assert.ok(Math.abs(s.predErr.median) < 0.002, `m(t) median error ${s.predErr.median}`);
  assert.ok(Math.abs(s.predErr.mean) < 0.002, `m(t) mean error ${s.predErr.mean}`);
  assert.ok(s.predErr.p90 - s.predErr.p10 < 0.01, `m(t) error spread ${s.predErr.p10}..`);
  const gap = (M_INF - truth(51200)) / truth(51200);
  assert.ok(Math.abs(s.mInfErr.median - gap) < 0.003, `m∞ − m(t) ${s.mInfErr.median} vs ${gap}`);
  // The bootstrap's m(t) interval is calibrated when the model is right.
  assert.ok(s.predContainment >= 0.7, `m(t) interval contains ${s.predContainment}`);
  assert.ok(s.widenPred <= 1.6, `m(t) interval needs ×${s.widenPred}`);
  // m∞ lies above m(t): its interval is never below the measurement.
  assert.equal(s.coverage, 1);
  assert.equal(s.laterN, 30);
});

Deno.test("extrapolation check: m∞ intervals cover the true asymptote near 90%", () => {
  // The "later measurement" is the truth far out: m(10^12) = m∞ − 0.002 bits.
  const far = { step: 1e12, bits: truth(1e12) };
  const cases = Array.from({ length: 30 }, (_, i) => powerRecord(i + 1, 3))
    .map((r) => checkCut(r, ALL, 25600, far, "t/2", FAST)!);
  const s = summarize(cases)!;
  assert.ok(Math.abs(s.predErr.median) < 0.005, `m∞ error ${s.predErr.median}`);
  // Nominal 90%; percentile bootstrap on 9 points runs ~80% (asymptote_test.ts).
  assert.ok(s.containment >= 0.65, `m∞ interval contains truth ${s.containment}`);
  assert.ok(s.coverage >= 0.8, `m∞ interval not below truth ${s.coverage}`);
});

Deno.test("extrapolation check: a log-growing curve is flagged unbounded and overshoots", () => {
  const log = record(STEPS.map((step) => ({ step, bits: 100 + 50 * Math.log(step) })));
  const cases = withinCurveCases(log, [ALL], FAST);
  assert.deepEqual(cases.map((c) => c.cut), ["t/2", "t/4"]);
  const s = summarize(cases)!;
  assert.equal(s.unbounded, 2, "both cuts' fits are unbounded");
  for (const c of cases) assert.ok(c.fit.b <= 0.05 * 1.01, `b ${c.fit.b}`);
  // m∞ runs far above anything measured: no capacity.
  assert.ok(s.mInfErr.p10 > 0.3, `m∞ − m(t) ${s.mInfErr.p10}`);
  // The whole curve's fit is unbounded too: nothing to compare m∞ with.
  assert.equal(s.laterN, 0);
});

Deno.test("extrapolation check: variants pick their points; too few points give no case", () => {
  // Cosine-restarts cycle ends (500·2^k) and, between them, depressed mid-cycle points.
  const curve = [500, 750, 1000, 1500, 2000, 3000, 4000, 8000, 16000].map((step) => ({
    step,
    bits: truth(step) - (Math.log2(step / 500) % 1 === 0 ? 0 : 50),
  }));
  const r = record(curve, { schedule: "cosine-restarts", firstCycleSteps: 500 });
  const [all, from2000, annealed] = VARIANTS;
  assert.deepEqual(
    fitPoints(r, annealed, 8000).map((p) => p.step),
    [500, 1000, 2000, 4000, 8000],
  );
  assert.deepEqual(fitPoints(r, from2000, 8000).map((p) => p.step), [2000, 3000, 4000, 8000]);
  assert.equal(fitPoints(r, all, 4000).length, 7);
  // t/4 = 4,000: minStep 2000 keeps 2,000, 3,000, 4,000 (3 points): no fit.
  const cases = withinCurveCases(r, VARIANTS, FAST);
  assert.deepEqual(
    cases.map((c) => `${c.cut} ${c.variant}`),
    ["t/2 minStep=1", "t/2 minStep=2000", "t/2 annealed", "t/4 minStep=1", "t/4 annealed"],
  );
  // Cycle ends lie on the true curve: the annealed fit predicts m(16,000) exactly.
  const ann = cases.find((c) => c.cut === "t/2" && c.variant === "annealed")!;
  assert.ok(Math.abs(ann.predErr) < 1e-4, `annealed error ${ann.predErr}`);
  // Not out of sample, or no cycle to anneal: no case.
  assert.equal(checkCut(r, all, 16000, curve.at(-1)!, "x"), null);
  assert.equal(checkCut(record(curve), annealed, 8000, curve.at(-1)!, "x"), null);
});

Deno.test("extrapolation check: cross-report pairs a grid run with its longer twin", () => {
  const rng = new Rng(5);
  const noisy = (steps: number[]) =>
    steps.map((step) => ({ step, bits: truth(step) + 0.5 * rng.normal() }));
  const short = record(noisy([500, 1000, 2000, 4000, 8000]), {
    report: "grid-8k",
    study: "capacity-grid",
    maxSteps: 8000,
  });
  const long = record(noisy([500, 1000, 2000, 4000, 8000, 16000, 32000]), {
    report: "grid-32k",
    study: "capacity-grid",
    maxSteps: 32000,
  });
  const other = { ...long, key: "other" };
  const cases = crossReportCases([short, long, other], [ALL], FAST);
  assert.equal(cases.length, 1, "only the short run with the same key, towards the longer one");
  const [c] = cases;
  assert.equal(c.record, short);
  assert.equal(c.cut, "→32000");
  assert.deepEqual(c.target, long.curve.at(-1));
  assert.ok(Math.abs(c.predErr) < 0.01, `8k→32k error ${c.predErr}`);
  // The later m∞ is the 32,000-step curve's own fit, near the truth.
  assert.ok(c.laterMInf !== null && Math.abs(c.laterMInf - M_INF) < 20, `${c.laterMInf}`);
  // Other studies are not paired.
  assert.equal(crossReportCases([{ ...short, study: "x" }, long], [ALL], FAST).length, 0);
});

Deno.test("extrapolation check: widening factors and the coverage they reach", () => {
  assert.equal(widening([90, 110], 120), 2);
  assert.equal(widening([90, 110], 80), 2);
  assert.equal(widening([90, 110], 80, false), 0, "one-sided: below the interval is covered");
  assert.equal(widening([90, 110], 105), 0.5);
  assert.equal(widening([100, 100], 101), Infinity);
  // Ten cases, m∞ interval [90, 110] each, measured 100 + 10·i: half-widths needed 0..9.
  const base = checkCut(powerRecord(1), ALL, 25600, { step: 51200, bits: 1 }, "t/2", FAST)!;
  const cases = Array.from({ length: 10 }, (_, i) => ({
    ...base,
    fit: { ...base.fit, interval: [90, 110] as [number, number] },
    predInterval: [90, 110] as [number, number],
    target: { step: 51200, bits: 100 + 10 * i },
    covered: 110 >= 100 + 10 * i,
    contained: 100 + 10 * i <= 110,
  }));
  const s = summarize(cases)!;
  assert.equal(s.coverage, 0.2);
  assert.equal(s.predContainment, 0.2);
  assert.equal(s.widenPred, 8, "9 of 10 within 8 half-widths of the midpoint");
  assert.equal(s.widenCoverage, 8);
});

Deno.test("extrapolation check: records read from a results.json shape", () => {
  const results = {
    study: "capacity-grid",
    sweeps: [{
      label: "fp32 L1 d16",
      request: {
        config: { vocabSize: 64, seqLen: 16, layers: 1, dModel: 16, heads: 2 },
        precision: "fp32",
        training: { maxSteps: 8000, schedule: { kind: "cosine-restarts", warmupSteps: 100 } },
      },
      result: {
        runs: [
          { datasetSize: 531, seed: 0, curve: [{ step: 1000, bits: 2 }, { step: 500, bits: 1 }] },
          { datasetSize: 7, seed: 1, curve: [] },
        ],
      },
    }],
  };
  const [r, ...rest] = recordsOf("grid", results);
  assert.equal(rest.length, 0, "an empty curve is no record");
  assert.equal(r.label, "fp32 L1 d16 N=531 seed 0");
  assert.equal(r.maxSteps, 8000);
  assert.equal(r.firstCycleSteps, 500, "the schedule's default first cycle");
  assert.deepEqual(r.curve.map((p) => p.step), [500, 1000], "sorted by step");
  assert.equal(r.study, "capacity-grid");
});
