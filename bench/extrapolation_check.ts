// `deno task bench extrapolation`: is the asymptote fit (lib/capacity/asymptote.ts) a
// prediction? Out of sample, on every committed run curve (docs/results/**/results.json):
//
//   within a curve: fit m(t) = m∞ − a·t^(−b) on the points at steps ≤ t_last/2 (and
//     ≤ t_last/4 where ≥ 4 points remain), with minStep 1, with minStep 2000, and, for
//     cosine-restarts, on the cycle ends (firstCycleSteps·2^k, annealed models) only; then
//     predict m(t_last) and compare it, and m∞ itself, with the measured m(t_last).
//   across reports: fit each capacity-grid curve and compare with the same model (config,
//     precision, dataset size, seed, optimizer, batch, schedule) trained to a larger step
//     budget in another capacity-grid report (capacity-grid-cpu at 8,000 steps against
//     capacity-grid-cpu-32000steps).
//
// Errors are relative, (predicted − measured) / measured. Three interval checks:
//   m(t) interval: the 90% interval of a measurement of m(t_last) by the same residual
//     bootstrap asymptote.ts uses for m∞ (5th-95th percentile of refits' predictions,
//     each plus a resampled residual);
//     does it contain the measured m(t_last)? This is the one interval a later
//     measurement can test directly.
//   m∞ not below m(t): the m∞ interval "covers" a later measurement unless its upper
//     end lies below it (m∞ is a capacity; a later measurement is a lower bound on it).
//   m∞ vs later m∞: does the m∞ interval contain the m∞ of the fit to the whole (or the
//     longer run's) curve, where that fit is bounded? Not truth, but the same quantity
//     estimated from more and later data.
// "needs ×k" is the factor on an interval's half-width (about its midpoint) that would
// bring that check to 90% on these cases ("none" when it is there already). Lines read
// `memcap extrapolation <what>: …`.
//
// `deno run --allow-read bench/extrapolation_check.ts [results dir]` runs it alone.
import {
  type AsymptoteFit,
  type CurvePoint,
  fitAsymptote,
  predictAsymptote,
} from "../lib/capacity/asymptote.ts";
import { Rng } from "../lib/prng.ts";

/** One run's memorization curve, with what identifies it. */
export interface CurveRecord {
  /** Report folder under docs/results, e.g. "capacity-grid-cpu". */
  report: string;
  /** The report's study ("capacity-grid", …), when it says. */
  study?: string;
  /** Human label, e.g. "fp32 L1 d16 N=531 seed 0". */
  label: string;
  /** Same model, data and training (all but the step budget): pairs runs across reports. */
  key: string;
  /** The step budget the run was given. */
  maxSteps: number;
  schedule: string;
  /** cosine-restarts only: cycle k ends at firstCycleSteps·2^k. */
  firstCycleSteps?: number;
  curve: CurvePoint[];
  /** The asymptote fit the report committed for this run, if any. */
  committed?: AsymptoteFit | null;
}

export interface Variant {
  name: string;
  minStep: number;
  /** Keep only cosine-restarts cycle ends. */
  annealedOnly?: boolean;
}

export const VARIANTS: readonly Variant[] = [
  { name: "minStep=1", minStep: 1 },
  { name: "minStep=2000", minStep: 2000 },
  { name: "annealed", minStep: 1, annealedOnly: true },
];

/** One out-of-sample comparison: a fit on early points against a later measurement. */
export interface Case {
  record: CurveRecord;
  variant: string;
  /** "t/2", "t/4", or "→<budget>" for the cross-report check. */
  cut: string;
  /** Last step the fit could see. */
  cutStep: number;
  fit: AsymptoteFit;
  /** The later measurement predicted. */
  target: CurvePoint;
  /** m(target.step) from the fit. */
  predicted: number;
  /** 90% residual-bootstrap interval of a measurement at target.step (predictionInterval). */
  predInterval: [number, number];
  /** m∞ of the fit to the whole curve (or the longer run's), same variant, when bounded. */
  laterMInf: number | null;
  /** (predicted − measured) / measured. */
  predErr: number;
  /** (m∞ − measured) / measured. */
  mInfErr: number;
  /** The m∞ interval does not lie below the measurement (upper end ≥ measured). */
  covered: boolean;
  /** lo ≤ measured ≤ hi. */
  contained: boolean;
}

export interface FitOptions {
  /** Bootstrap resamples (default 200, as the sweeps). */
  resamples?: number;
  /** Bootstrap seed (default 0, as the sweeps). */
  seed?: number;
}

const PARAMS = 3;

/**
 * 90% interval for a measurement of m(step), by asymptote.ts's bootstrap: residuals
 * inflated by sqrt(n/(n − 3)), resampled onto the fitted curve, refitted (same b range),
 * predicted, plus one more resampled residual (a measurement is the curve plus its noise).
 */
export function predictionInterval(
  points: readonly CurvePoint[],
  fit: AsymptoteFit,
  step: number,
  opts: FitOptions = {},
): [number, number] {
  const n = points.length, resamples = opts.resamples ?? 200;
  const fitted = points.map((p) => predictAsymptote(fit, p.step));
  const inflate = Math.sqrt(n / (n - PARAMS));
  const resid = points.map((p, i) => (p.bits - fitted[i]) * inflate);
  const rng = new Rng(opts.seed ?? 0);
  const preds: number[] = [];
  for (let r = 0; r < resamples; r++) {
    const star = points.map((p, i) => ({ step: p.step, bits: fitted[i] + resid[rng.int(n)] }));
    const f = fitAsymptote(star, { minStep: 1, resamples: 1 })!;
    preds.push(predictAsymptote(f, step) + resid[rng.int(n)]);
  }
  preds.sort((p, q) => p - q);
  return [quantile(preds, 0.05), quantile(preds, 0.95)];
}

/** Is step a cosine-restarts cycle end (first·2^k)? */
function isCycleEnd(step: number, first: number): boolean {
  let end = first;
  while (end < step) end *= 2;
  return end === step;
}

/** The points a variant fits: steps ≤ cutStep, ≥ minStep, cycle ends only if asked. */
export function fitPoints(
  record: CurveRecord,
  variant: Variant,
  cutStep: number,
): CurvePoint[] {
  return record.curve.filter((p) =>
    p.step <= cutStep && p.step >= variant.minStep &&
    (!variant.annealedOnly || isCycleEnd(p.step, record.firstCycleSteps!))
  );
}

/**
 * Fits a variant's points up to cutStep and compares the fit with `target`, a
 * measurement after cutStep. Null when the fit has too few points (asymptote.ts
 * needs 4) or the target is not out of sample.
 */
export function checkCut(
  record: CurveRecord,
  variant: Variant,
  cutStep: number,
  target: CurvePoint,
  cut: string,
  opts: FitOptions = {},
  later: CurveRecord = record,
): Case | null {
  if (!(target.step > cutStep)) return null;
  if (variant.annealedOnly && record.firstCycleSteps === undefined) return null;
  const points = fitPoints(record, variant, cutStep);
  // minStep is applied above; pass 1 so the fit sees exactly these points.
  const fit = fitAsymptote(points, { ...opts, minStep: 1 });
  if (!fit) return null;
  const predicted = predictAsymptote(fit, target.step);
  const m = target.bits;
  const whole = fitAsymptote(fitPoints(later, variant, Infinity), { ...opts, minStep: 1 });
  return {
    record,
    variant: variant.name,
    cut,
    cutStep,
    fit,
    target,
    predicted,
    predInterval: predictionInterval(points, fit, target.step, opts),
    laterMInf: whole?.bounded ? whole.mInf : null,
    predErr: (predicted - m) / m,
    mInfErr: (fit.mInf - m) / m,
    covered: fit.interval[1] >= m,
    contained: fit.interval[0] <= m && m <= fit.interval[1],
  };
}

/** Cuts at t_last/2 and t_last/4 of one curve, each variant: the cases that can be fitted. */
export function withinCurveCases(
  record: CurveRecord,
  variants: readonly Variant[] = VARIANTS,
  opts: FitOptions = {},
): Case[] {
  const last = record.curve.at(-1);
  if (!last) return [];
  const cases: Case[] = [];
  for (const [cut, div] of [["t/2", 2], ["t/4", 4]] as const) {
    for (const v of variants) {
      const c = checkCut(record, v, last.step / div, last, cut, opts);
      if (c) cases.push(c);
    }
  }
  return cases;
}

/**
 * The cross-report check: each capacity-grid curve fitted whole against the last
 * measurement of the same run key in a report with a larger step budget.
 */
export function crossReportCases(
  records: readonly CurveRecord[],
  variants: readonly Variant[] = VARIANTS,
  opts: FitOptions = {},
): Case[] {
  const cases: Case[] = [];
  for (const short of records) {
    if (short.study !== "capacity-grid") continue;
    const shortLast = short.curve.at(-1);
    if (!shortLast) continue;
    for (const long of records) {
      if (long.key !== short.key || long.report === short.report) continue;
      if (!(long.maxSteps > short.maxSteps)) continue;
      const target = long.curve.at(-1)!;
      for (const v of variants) {
        const c = checkCut(short, v, shortLast.step, target, `→${long.maxSteps}`, opts, long);
        if (c) cases.push(c);
      }
    }
  }
  return cases;
}

export interface Stats {
  median: number;
  p10: number;
  p90: number;
  mean: number;
}

export interface Summary {
  n: number;
  unbounded: number;
  predErr: Stats;
  mInfErr: Stats;
  /** Fraction of cases whose m(t) interval contains the measured m(t). */
  predContainment: number;
  /** Least factor on the m(t) half-width (about its midpoint) giving ≥ 90% containment. */
  widenPred: number;
  /** Fraction of cases whose m∞ interval is not below the measurement. */
  coverage: number;
  /** Fraction whose m∞ interval contains the measurement. */
  containment: number;
  /** Least factor on the m∞ half-width giving ≥ 90% coverage (not below). */
  widenCoverage: number;
  /** Cases with a bounded later m∞ to compare with. */
  laterN: number;
  /** Fraction of those whose m∞ interval contains the later m∞. */
  laterContainment: number;
  /** Least factor on the m∞ half-width giving ≥ 90% containment of the later m∞. */
  widenLater: number;
}

/** Linear-interpolated quantile of sorted values (q in [0, 1]). */
function quantile(sorted: readonly number[], q: number): number {
  const h = (sorted.length - 1) * q, i = Math.floor(h);
  return i + 1 < sorted.length ? sorted[i] + (h - i) * (sorted[i + 1] - sorted[i]) : sorted[i];
}

function stats(values: readonly number[]): Stats {
  const s = [...values].sort((p, q) => p - q);
  return {
    median: quantile(s, 0.5),
    p10: quantile(s, 0.1),
    p90: quantile(s, 0.9),
    mean: s.reduce((a, v) => a + v, 0) / s.length,
  };
}

/** Smallest k with at least `level` of the needs ≤ k (needs: each case's own factor). */
function factorFor(needs: number[], level: number): number {
  const s = [...needs].sort((p, q) => p - q);
  return s[Math.max(0, Math.ceil(level * s.length) - 1)];
}

/**
 * The factor one case needs: the interval's half-width scaled by k about its midpoint
 * reaches x (0 when the midpoint already does; ∞ for a zero-width interval). One-sided:
 * only an upper end below x counts.
 */
export function widening(interval: readonly [number, number], x: number, twoSided = true): number {
  const [lo, hi] = interval;
  const mid = (lo + hi) / 2, half = (hi - lo) / 2;
  const gap = twoSided ? Math.abs(x - mid) : x - mid;
  if (gap <= 0) return 0;
  return half > 0 ? gap / half : Infinity;
}

const inside = ([lo, hi]: readonly [number, number], x: number) => lo <= x && x <= hi;

export function summarize(cases: readonly Case[]): Summary | null {
  if (cases.length === 0) return null;
  const n = cases.length;
  const later = cases.filter((c) => c.laterMInf !== null);
  return {
    n,
    unbounded: cases.filter((c) => !c.fit.bounded).length,
    predErr: stats(cases.map((c) => c.predErr)),
    mInfErr: stats(cases.map((c) => c.mInfErr)),
    predContainment: cases.filter((c) => inside(c.predInterval, c.target.bits)).length / n,
    widenPred: factorFor(cases.map((c) => widening(c.predInterval, c.target.bits)), 0.9),
    coverage: cases.filter((c) => c.covered).length / n,
    containment: cases.filter((c) => c.contained).length / n,
    widenCoverage: factorFor(
      cases.map((c) => widening(c.fit.interval, c.target.bits, false)),
      0.9,
    ),
    laterN: later.length,
    laterContainment: later.length > 0
      ? later.filter((c) => inside(c.fit.interval, c.laterMInf!)).length / later.length
      : NaN,
    widenLater: later.length > 0
      ? factorFor(later.map((c) => widening(c.fit.interval, c.laterMInf!)), 0.9)
      : NaN,
  };
}

// ---- reading the committed reports ----

interface Json {
  [k: string]: any;
}

/** Run curves of one results.json (sweeps[] or sweep, each with request and result.runs). */
export function recordsOf(report: string, results: Json): CurveRecord[] {
  const sweeps: Json[] = [...(results.sweeps ?? []), ...(results.sweep ? [results.sweep] : [])];
  const out: CurveRecord[] = [];
  for (const s of sweeps) {
    const req = s.request, runs = s.result?.runs;
    if (!req || !Array.isArray(runs)) continue;
    const t = req.training ?? {}, sch = t.schedule ?? {}, cfg = req.config ?? {};
    const kind = sch.kind ?? "cosine-restarts";
    const what = `${req.precision ?? "fp32"} L${cfg.layers} d${cfg.dModel}`;
    for (const r of runs) {
      if (!Array.isArray(r.curve) || r.curve.length === 0) continue;
      const curve = (r.curve as CurvePoint[]).map((p) => ({ step: p.step, bits: p.bits }))
        .sort((p, q) => p.step - q.step);
      out.push({
        report,
        study: results.study,
        label: `${s.label ?? what}${s.label?.includes(what) ? "" : ` (${what})`} ` +
          `N=${r.datasetSize} seed ${r.seed}`,
        key: JSON.stringify([
          results.study,
          cfg,
          req.precision,
          r.datasetSize,
          r.seed,
          t.optimizer,
          t.batchSize,
          sch,
        ]),
        maxSteps: t.maxSteps,
        schedule: kind,
        firstCycleSteps: kind === "cosine-restarts" ? sch.firstCycleSteps ?? 500 : undefined,
        curve,
        committed: r.asymptote,
      });
    }
  }
  return out;
}

async function resultFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) files.push(...await resultFiles(path));
    else if (e.name === "results.json") files.push(path);
  }
  return files.sort();
}

/** Every run curve committed under dir (docs/results). */
export async function loadRecords(dir: string): Promise<CurveRecord[]> {
  const out: CurveRecord[] = [];
  for (const f of await resultFiles(dir)) {
    const report = f.slice(dir.length + 1, -"/results.json".length);
    out.push(...recordsOf(report, JSON.parse(await Deno.readTextFile(f))));
  }
  return out;
}

// ---- printing ----

const pct = (x: number) =>
  Number.isFinite(x) ? `${x >= 0 ? "+" : "−"}${Math.abs(x * 100).toFixed(1)}%` : String(x);
const share = (x: number) => `${(x * 100).toFixed(0)}%`;
const bits = (x: number) => Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : String(x);
const times = (k: number) =>
  Number.isNaN(k) ? "–" : k <= 1 ? "none" : Number.isFinite(k) ? `×${k.toFixed(1)}` : "×∞";
const statLine = (s: Stats) =>
  `median ${pct(s.median)} p10 ${pct(s.p10)} p90 ${pct(s.p90)} mean ${pct(s.mean)}`;

function printGroup(what: string, cases: readonly Case[]) {
  const s = summarize(cases);
  if (!s) {
    console.log(`memcap extrapolation ${what}: n 0 (no curve has the 4 points a fit needs)`);
    return;
  }
  console.log(
    `memcap extrapolation ${what} m(t): n ${s.n} (unbounded ${s.unbounded}) | ` +
      `error ${statLine(s.predErr)} | ` +
      `90% interval contains m(t) ${share(s.predContainment)}, needs ${times(s.widenPred)}`,
  );
  console.log(
    `memcap extrapolation ${what} m∞: (m∞ − m(t)) / m(t) ${statLine(s.mInfErr)} | ` +
      `interval not below m(t) ${share(s.coverage)} (contains it ${share(s.containment)}), ` +
      `needs ${times(s.widenCoverage)} | contains later m∞ ` +
      (s.laterN > 0
        ? `${share(s.laterContainment)} of ${s.laterN}, needs ${times(s.widenLater)}`
        : "(none bounded)"),
  );
}

function printGroups(prefix: string, cases: readonly Case[]) {
  if (cases.length === 0) return printGroup(prefix, cases);
  printGroup(`${prefix} all`, cases);
  printGroup(`${prefix} bounded`, cases.filter((c) => c.fit.bounded));
  const unbounded = cases.filter((c) => !c.fit.bounded);
  if (unbounded.length > 0) printGroup(`${prefix} unbounded`, unbounded);
}

/** Does the annealed variant fit the same points as minStep=1 on every curve and cut? */
function annealedSameAsAll(records: readonly CurveRecord[]): boolean {
  const all = VARIANTS[0], ann = VARIANTS[2];
  return records.every((r) =>
    r.firstCycleSteps === undefined ||
    fitPoints(r, ann, Infinity).length === fitPoints(r, all, Infinity).length
  );
}

export async function extrapolationCheck(dir = "docs/results") {
  const records = await loadRecords(dir);
  const reports = [...new Set(records.map((r) => r.report))];
  const fittable = records.filter((r) => r.curve.length >= 4);
  console.log(
    `memcap extrapolation curves: ${records.length} run curves in ${reports.length} reports ` +
      `(${reports.join(", ")}); ${fittable.length} with ≥ 4 points`,
  );
  const sameAnnealed = annealedSameAsAll(records);
  const variants = sameAnnealed ? VARIANTS.filter((v) => !v.annealedOnly) : VARIANTS;
  if (sameAnnealed) {
    console.log(
      "memcap extrapolation annealed: every cosine-restarts checkpoint is a cycle end " +
        "(firstCycleSteps·2^k), so cycle-ends-only fits are the minStep=1 fits: not repeated",
    );
  }

  const within = records.flatMap((r) => withinCurveCases(r, variants));
  for (const cut of ["t/2", "t/4"]) {
    for (const v of variants) {
      printGroups(
        `${cut} ${v.name}`,
        within.filter((c) => c.cut === cut && c.variant === v.name),
      );
    }
  }
  // The same cases by schedule (a single cosine is annealed only at its end).
  for (const kind of [...new Set(within.map((c) => c.record.schedule))]) {
    printGroup(
      `t/2 minStep=1 schedule ${kind}`,
      within.filter((c) =>
        c.cut === "t/2" && c.variant === "minStep=1" && c.record.schedule === kind
      ),
    );
  }

  // Full-curve sensitivity to minStep (the fits the reports make, from step 500 on).
  const shifts: number[] = [];
  for (const r of records) {
    const a = fitAsymptote(r.curve, { minStep: 1 });
    const b = fitAsymptote(r.curve, { minStep: 2000 });
    if (a && b) shifts.push(b.mInf / a.mInf - 1);
  }
  if (shifts.length > 0) {
    const s = stats(shifts);
    console.log(
      `memcap extrapolation minStep-shift: whole curves, m∞(minStep=2000) / m∞(minStep=1) − 1 ` +
        `over ${shifts.length} curves: ${statLine(s)} min ${pct(Math.min(...shifts))} ` +
        `max ${pct(Math.max(...shifts))}`,
    );
  }

  // The committed fits are minStep=1 fits of whole curves with the default seed: refit.
  let same = 0, committed = 0;
  for (const r of records) {
    if (!r.committed) continue;
    committed++;
    const f = fitAsymptote(r.curve);
    if (f && Math.abs(f.mInf - r.committed.mInf) <= 1e-6 * Math.abs(f.mInf)) same++;
  }
  console.log(
    `memcap extrapolation refit: ${same}/${committed} committed asymptotes reproduced ` +
      `(minStep=1, seed 0, 200 resamples)`,
  );

  const cross = crossReportCases(records, variants);
  const budgets = [...new Set(cross.map((c) => `${c.record.maxSteps}${c.cut}`))].join(", ");
  for (const v of variants) {
    const cs = cross.filter((c) => c.variant === v.name);
    printGroups(`cross ${budgets || "(none)"} ${v.name}`, cs);
    for (const c of cs) {
      const [lo, hi] = c.fit.interval, [plo, phi] = c.predInterval;
      const m = c.target.bits;
      const verdict = c.contained ? "contains" : c.covered ? "above" : "BELOW";
      console.log(
        `  ${c.record.label}: m∞ ${bits(c.fit.mInf)} (${bits(lo)}–${bits(hi)})` +
          `${c.fit.bounded ? "" : " unbounded"} b ${c.fit.b.toFixed(2)}; ` +
          `m(${c.target.step}) predicted ${bits(c.predicted)} (${bits(plo)}–${bits(phi)}), ` +
          `measured ${bits(m)} (${pct(c.predErr)}, ${inside(c.predInterval, m) ? "in" : "OUT"}); ` +
          `m∞ interval vs measured: ${verdict}; ` +
          `longer run's m∞ ${c.laterMInf === null ? "unbounded" : bits(c.laterMInf)}` +
          (c.laterMInf === null ? "" : inside(c.fit.interval, c.laterMInf) ? " (in)" : " (OUT)"),
      );
    }
  }
  const all = [...within, ...cross];
  console.log(
    `memcap extrapolation unbounded: ${all.filter((c) => !c.fit.bounded).length} of ` +
      `${all.length} out-of-sample fits`,
  );
}

if (import.meta.main) await extrapolationCheck(Deno.args[0]);
