import assert from "node:assert/strict";
import { z } from "zod";
import {
  type CapacityPointInput,
  decidingSizes,
  fitCapacity,
  fitMinModel,
  needsLargerDatasets,
} from "../../lib/capacity/fit.ts";
import { CapacityResult } from "../../lib/capacity/schemas.ts";
import { autoDatasetSizes, datasetBits } from "../../lib/capacity/grid.ts";
import { Rng } from "../../lib/prng.ts";

const tiny = { vocabSize: 64, seqLen: 16, layers: 1, dModel: 16, heads: 2 }; // 4,592 params

/** Points of min(H, c)·(1 + noise·N(0,1)) over `sizes`, `seeds` values each. */
function synthetic(
  sizes: number[],
  c: number,
  seeds: number,
  noise: number,
  seed = 1,
): CapacityPointInput[] {
  const rng = new Rng(seed);
  return sizes.map((n) => {
    const h = datasetBits(n, 16, 64);
    return {
      datasetSize: n,
      datasetBits: h,
      memorizedBits: Array.from(
        { length: seeds },
        () => Math.min(h, c) * (1 + noise * rng.normal()),
      ),
    };
  });
}

Deno.test("fitMinModel: exact min(x, c) recovers c with zero residual", () => {
  const c = 1000;
  const obs = [100, 300, 700, 1500, 4000, 9000].map((x) => ({ x, y: Math.min(x, c) }));
  const f = fitMinModel(obs);
  assert.ok(Math.abs(f.capacityBits - c) < 1e-9, `${f.capacityBits}`);
  assert.ok(f.rmsBits < 1e-9);
  assert.equal(f.bounded, true);
  assert.equal(f.observations, 6);
});

Deno.test("fitMinModel: the least-squares c is the mean of the plateau points", () => {
  // x > c group: y = 900, 1000, 1100 -> c = 1000; x ≤ c points lie on y = x.
  const obs = [
    { x: 200, y: 200 },
    { x: 500, y: 500 },
    { x: 2000, y: 900 },
    { x: 4000, y: 1000 },
    { x: 8000, y: 1100 },
  ];
  const f = fitMinModel(obs);
  assert.ok(Math.abs(f.capacityBits - 1000) < 1e-9);
  assert.ok(Math.abs(f.rmsBits - Math.sqrt(20000 / 5)) < 1e-9);
  // brute-force check over a fine grid
  const sse = (c: number) => obs.reduce((s, o) => s + (o.y - Math.min(o.x, c)) ** 2, 0);
  for (let c = 0; c <= 10000; c += 1) assert.ok(sse(c) >= sse(f.capacityBits) - 1e-6);
});

Deno.test("fitMinModel: c clamped between points; all data-limited is unbounded", () => {
  // Plateau values above the next x: c lands on the boundary x = 600.
  const f = fitMinModel([{ x: 100, y: 100 }, { x: 600, y: 600 }, { x: 700, y: 650 }]);
  const sse = (c: number) =>
    [[100, 100], [600, 600], [700, 650]].reduce((s, [x, y]) => s + (y - Math.min(x, c)) ** 2, 0);
  for (let c = 0; c <= 1000; c += 0.5) assert.ok(sse(c) >= sse(f.capacityBits) - 1e-9);
  const all = fitMinModel([{ x: 100, y: 98 }, { x: 200, y: 196 }]);
  assert.equal(all.bounded, false);
  assert.ok(Math.abs(all.capacityBits - 196) < 1e-9); // the last point sits on the plateau
  // Exactly on y = x: flat for every c ≥ max x; c = max x.
  const flat = fitMinModel([{ x: 100, y: 100 }, { x: 200, y: 200 }]);
  assert.equal(flat.capacityBits, 200);
  assert.equal(flat.bounded, false);
  assert.throws(() => fitMinModel([]), /no observations/);
});

Deno.test("fitCapacity: synthetic min(H, c) + 1% noise recovers c within 2%", () => {
  const c = 12066;
  const sizes = autoDatasetSizes(tiny, { points: 9 }); // 46 .. 735
  for (const seed of [1, 2, 3]) {
    const r = fitCapacity(synthetic(sizes, c, 5, 0.01, seed), { parameterCount: 4592 });
    assert.ok(Math.abs(r.fit.capacityBits / c - 1) < 0.02, `fit ${r.fit.capacityBits}`);
    assert.ok(Math.abs(r.capacityBits / c - 1) < 0.02, `plateau ${r.capacityBits}`);
    assert.ok(r.fit.relativeRms < 0.02);
    assert.equal(r.fit.observations, 45);
    assert.equal(r.fit.bounded, true);
    assert.equal(r.plateauReached, true);
    assert.equal(r.bitsPerParameter, r.capacityBits / 4592);
    assert.equal(r.points.length, 9);
  }
});

Deno.test("fitCapacity: per-point statistics, regimes, plateau", () => {
  const pts: CapacityPointInput[] = [
    { datasetSize: 400, datasetBits: 36000, memorizedBits: [11700, 11800] },
    { datasetSize: 50, datasetBits: 4500, memorizedBits: [4450, 4470, 4490] },
    { datasetSize: 100, datasetBits: 9000, memorizedBits: [8900] },
    { datasetSize: 200, datasetBits: 18000, memorizedBits: [11500, 11700] },
  ];
  const r = fitCapacity(pts, { parameterCount: 4592 });
  assert.deepEqual(r.points.map((p) => p.datasetSize), [50, 100, 200, 400]);
  const p50 = r.points[0];
  assert.equal(p50.meanBits, 4470);
  assert.equal(p50.minBits, 4450);
  assert.equal(p50.maxBits, 4490);
  assert.deepEqual(r.points.map((p) => p.regime), [
    "data-limited",
    "data-limited",
    "capacity-limited",
    "capacity-limited",
  ]);
  assert.equal(r.capacityBits, 11750);
  assert.equal(r.capacityDatasetSize, 400);
  assert.equal(r.plateauReached, true);
  assert.deepEqual(r.plateau.datasetSizes, [200, 400]);
  // No certificates given: the shape is right, but nothing says the runs saturated.
  assert.equal(r.verdict, "lower-bound");
  assert.deepEqual(r.reasons.map((x) => x.code), ["saturation-unknown"]);
  assert.equal("paperConvention" in r, false);
  assert.deepEqual(CapacityResult.parse(r), r);
});

Deno.test("fitCapacity: plateau not reached when still rising or all data-limited", () => {
  // Largest size memorized 25% more than the one before: still rising.
  const rising = fitCapacity([
    { datasetSize: 100, datasetBits: 9000, memorizedBits: [8900] },
    { datasetSize: 200, datasetBits: 18000, memorizedBits: [9600] },
    { datasetSize: 400, datasetBits: 36000, memorizedBits: [12000] },
  ], { parameterCount: 4592 });
  assert.equal(rising.plateauReached, false);
  assert.equal(rising.capacityBits, 12000);
  // Every dataset fits: memorized ≈ all of it; capacity is only a lower bound.
  const fits = fitCapacity(
    synthetic([46, 92, 184], 1e9, 2, 0.001).map((p) => ({
      ...p,
      memorizedBits: p.memorizedBits.map((b) => b * 0.98),
    })),
    { parameterCount: 4592 },
  );
  assert.equal(fits.plateauReached, false);
  assert.ok(fits.points.every((p) => p.regime === "data-limited"));
  assert.equal(fits.fit.bounded, false);
  // One point cannot show a plateau.
  assert.equal(
    fitCapacity([{ datasetSize: 1, datasetBits: 90, memorizedBits: [10] }], { parameterCount: 1 })
      .plateauReached,
    false,
  );
});

Deno.test("fitCapacity: bad input names the field", () => {
  const ok = { datasetSize: 1, datasetBits: 90, memorizedBits: [10] };
  assert.throws(() => fitCapacity([], { parameterCount: 1 }), /points/);
  assert.throws(() => fitCapacity([ok], { parameterCount: 0 }), /parameterCount/);
  assert.throws(
    () => fitCapacity([ok, { ...ok, memorizedBits: [] }], { parameterCount: 1 }),
    /points\[1\]\.memorizedBits/,
  );
  assert.throws(
    () => fitCapacity([{ ...ok, memorizedBits: [1, NaN] }], { parameterCount: 1 }),
    /points\[0\]\.memorizedBits\[1\]/,
  );
});

Deno.test("CapacityResult: example parses and is self-consistent; JSON Schema builds", () => {
  const ex = CapacityResult.parse(CapacityResult.meta()?.example);
  const again = fitCapacity(ex.points, { parameterCount: ex.parameterCount });
  assert.equal(again.capacityBits, ex.capacityBits);
  assert.ok(Math.abs(again.bitsPerParameter - ex.bitsPerParameter) < 1e-4);
  assert.ok(Math.abs(again.fit.capacityBits - ex.fit.capacityBits) < 0.01);
  assert.equal(again.plateauReached, ex.plateauReached);
  assert.equal(again.verdict, ex.verdict);
  assert.deepEqual(again.plateau, {
    ...ex.plateau,
    spread: again.plateau.spread, // the example rounds it
  });
  assert.ok(Math.abs(again.plateau.spread! - ex.plateau.spread!) < 1e-4);
  assert.deepEqual(again.points.map((p) => p.regime), ex.points.map((p) => p.regime));
  z.toJSONSchema(CapacityResult, { io: "output", unrepresentable: "throw" });
});

/** Points from (size, bits, dataset bits) triples, every run with the same status. */
function grid(
  rows: [number, number, number][],
  status: "saturated" | "unstable" | "budget-exhausted" = "saturated",
): CapacityPointInput[] {
  return rows.map(([datasetSize, bits, datasetBits]) => ({
    datasetSize,
    datasetBits,
    memorizedBits: [bits],
    statuses: [status],
  }));
}

Deno.test("verdict: saturated runs on a flat plateau are certified", () => {
  // The example sweep: 1 layer d=16, V=64, S=16 (90 bits a sequence).
  const r = fitCapacity(
    grid([[46, 4101, 4140], [92, 8104, 8280], [184, 11802, 16560], [368, 12066, 33120], [
      735,
      11950,
      66150,
    ]]),
    { parameterCount: 4592 },
  );
  assert.equal(r.verdict, "certified");
  assert.deepEqual(r.reasons, []);
  assert.equal(r.capacityBits, 12066);
  assert.equal(r.plateau.trend, "flat");
  // The same with one unsaturated run on the plateau: a lower bound, and it says why.
  const pts = grid([[46, 4101, 4140], [184, 11802, 16560], [368, 12066, 33120], [
    735,
    11950,
    66150,
  ]]);
  pts[3].statuses = ["budget-exhausted"];
  const lb = fitCapacity(pts, { parameterCount: 4592 });
  assert.equal(lb.verdict, "lower-bound");
  assert.deepEqual(lb.reasons.map((x) => x.code), ["not-saturated"]);
  assert.match(lb.reasons[0].message, /1 of 3 runs .* \(1 budget-exhausted\)/);
});

// The committed H100 grid (docs/results/gpu-h100, fp32 L1 d32, 2,000 steps): a steady ~3% rise
// per point with the maximum at the largest size. The old rule (last two within 10%) called it a
// plateau.
Deno.test("verdict: a steady rise with the maximum at the largest size is still rising", () => {
  const bitsPerSeq = 63 * 11;
  const r = fitCapacity(
    grid(
      [[104, 71539], [209, 138606], [417, 182984], [835, 188558], [1670, 194755]].map((
        [n, b],
      ) => [n, b, n * bitsPerSeq]),
      "budget-exhausted",
    ),
    { parameterCount: 80352 },
  );
  assert.equal(r.verdict, "lower-bound");
  assert.equal(r.plateauReached, false);
  assert.equal(r.plateau.trend, "rising");
  assert.ok(r.reasons.some((x) => x.code === "still-rising"), JSON.stringify(r.reasons));
  assert.equal(needsLargerDatasets(r.reasons), true);
});

// The committed cpu grid (docs/results/capacity-grid-cpu, fp32 L1 d32, 8,000 steps): memorized bits
// fall with N (37,974 -> 34,707 -> 33,079), and the old rule took the capacity from N=443, which
// memorized 95% of its data (data-limited).
Deno.test("verdict: bits falling with N are under-training; capacity from capacity-limited points", () => {
  const r = fitCapacity(
    grid([[111, 9855], [221, 19439], [443, 37974], [886, 34707], [1771, 33079]].map((
      [n, b],
    ) => [n, b, n * 90])),
    { parameterCount: 15328 },
  );
  assert.equal(r.points[2].regime, "data-limited");
  assert.equal(r.capacityBits, 34707, "the largest capacity-limited mean, not N=443's");
  assert.equal(r.capacityDatasetSize, 886);
  assert.equal(r.verdict, "lower-bound");
  assert.equal(r.plateau.trend, "falling");
  assert.deepEqual(r.reasons.map((x) => x.code), ["falling"]);
  assert.match(r.reasons[0].message, /under-trained/);
  assert.equal(needsLargerDatasets(r.reasons), false);
  assert.deepEqual(decidingSizes(r.points), [886, 1771]);
});

Deno.test("verdict: no capacity-limited point, or too few past the knee, asks for larger data", () => {
  const all = fitCapacity(grid([[10, 890, 900], [20, 1790, 1800]]), { parameterCount: 100 });
  assert.equal(all.verdict, "lower-bound");
  assert.deepEqual(all.reasons.map((x) => x.code), ["no-capacity-limited-point"]);
  assert.equal(all.capacityBits, 1790);
  // Two capacity-limited points, flat, but only one past the knee (≤ 2/3 memorized).
  const knee = fitCapacity(
    grid([[10, 890, 900], [20, 1500, 1800], [40, 1510, 3600]]),
    { parameterCount: 100 },
  );
  assert.deepEqual(knee.reasons.map((x) => x.code), ["too-few-plateau-points"]);
  assert.equal(needsLargerDatasets(knee.reasons), true);
  // Past the knee but 5% apart below the top: not flat.
  const steep = fitCapacity(
    grid([[10, 890, 900], [40, 1500, 3600], [80, 1580, 7200], [160, 1575, 14400]]),
    { parameterCount: 100 },
  );
  assert.deepEqual(steep.reasons.map((x) => x.code), ["not-flat"]);
  assert.throws(
    () => fitCapacity([{ ...grid([[10, 1, 9]])[0], statuses: [] }], { parameterCount: 1 }),
    /points\[0\]\.statuses/,
  );
});

Deno.test("fitCapacity: chance credit over the tolerance keeps a verdict from certified", () => {
  const points = (unseen: number): CapacityPointInput[] => [
    { datasetSize: 100, datasetBits: 9000, memorizedBits: [8900], statuses: ["saturated"] },
    {
      datasetSize: 200,
      datasetBits: 18000,
      memorizedBits: [11700],
      statuses: ["saturated"],
      unseenBits: [null],
    },
    {
      datasetSize: 400,
      datasetBits: 36000,
      memorizedBits: [11750, 11750],
      statuses: ["saturated", "saturated"],
      unseenBits: [unseen, unseen + 100],
    },
  ];
  const clean = fitCapacity(points(0), { parameterCount: 4592 });
  assert.equal(clean.verdict, "certified");
  assert.deepEqual(clean.points[2].unseenBits, [0, 100]);
  // 2.9% of 11,750 is within the 3% tolerance; 4.7% is not.
  assert.equal(fitCapacity(points(290), { parameterCount: 4592 }).verdict, "certified");
  const credited = fitCapacity(points(500), { parameterCount: 4592 });
  assert.equal(credited.verdict, "lower-bound");
  assert.deepEqual(credited.reasons.map((x) => x.code), ["chance-credit"]);
  assert.match(credited.reasons[0].message, /4\.7% of N=400's memorized bits/);
  assert.deepEqual(CapacityResult.parse(credited), credited);
  assert.throws(
    () => fitCapacity([{ ...points(0)[2], unseenBits: [1] }], { parameterCount: 4592 }),
    /points\[0\]\.unseenBits: 1 values for 2 seeds/,
  );
});

Deno.test("fitCapacity: clip credit over the tolerance keeps a verdict from certified", () => {
  const points = (clip: number, unseen = 0): CapacityPointInput[] => [
    { datasetSize: 100, datasetBits: 9000, memorizedBits: [8900], statuses: ["saturated"] },
    {
      datasetSize: 200,
      datasetBits: 18000,
      memorizedBits: [11700],
      statuses: ["saturated"],
      clipCreditBits: [null],
    },
    {
      datasetSize: 400,
      datasetBits: 36000,
      memorizedBits: [11750, 11750],
      statuses: ["saturated", "saturated"],
      unseenBits: [unseen, unseen],
      clipCreditBits: [clip - 50, clip + 50],
    },
  ];
  const clean = fitCapacity(points(290), { parameterCount: 4592 });
  assert.equal(clean.verdict, "certified", "2.5% of 11,750 is within the 3% tolerance");
  assert.deepEqual(clean.points[2].clipCreditBits, [240, 340]);
  const clipped = fitCapacity(points(470), { parameterCount: 4592 });
  assert.equal(clipped.verdict, "lower-bound");
  assert.deepEqual(clipped.reasons.map((x) => x.code), ["clip-credit"]);
  assert.match(clipped.reasons[0].message, /4\.0% of N=400's memorized bits/);
  assert.deepEqual(CapacityResult.parse(clipped), clipped);
  // Both overstatements are named when both pass the tolerance.
  const both = fitCapacity(points(470, 400), { parameterCount: 4592 });
  assert.deepEqual(both.reasons.map((x) => x.code), ["chance-credit", "clip-credit"]);
  assert.throws(
    () => fitCapacity([{ ...points(0)[2], clipCreditBits: [1] }], { parameterCount: 4592 }),
    /points\[0\]\.clipCreditBits: 1 values for 2 seeds/,
  );
});
