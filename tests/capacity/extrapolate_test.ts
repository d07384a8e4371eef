import assert from "node:assert/strict";
import { extrapolateCapacity } from "../../lib/capacity/sweep.ts";

const fit = (mInf: number, lo: number, hi: number, bounded = true) => ({
  mInf,
  a: 1,
  b: 0.5,
  interval: [lo, hi] as [number, number],
  rmsBits: 1,
  points: 5,
  bounded,
});
const points = [
  { datasetSize: 10, datasetBits: 1000 },
  { datasetSize: 40, datasetBits: 4000 },
  { datasetSize: 160, datasetBits: 16000 },
];

Deno.test("extrapolated capacity: the plateau of seed-mean m∞, capped at the data's bits", () => {
  const runs = [
    { datasetSize: 10, asymptote: fit(1500, 1400, 1600) }, // capped at 1000
    { datasetSize: 40, asymptote: fit(3000, 2900, 3300) },
    { datasetSize: 40, asymptote: fit(3200, 3000, 3500, false) },
    { datasetSize: 160, asymptote: fit(3050, 3000, 3100) },
  ];
  const x = extrapolateCapacity(runs, points, 1000)!;
  assert.equal(x.datasetSize, 40);
  assert.equal(x.capacityBits, 3100);
  assert.equal(x.bitsPerParameter, 3.1);
  assert.deepEqual(x.interval, [2950, 3400]);
  assert.equal(x.bounded, false, "one seed's fit at that size is unbounded");
  assert.equal(x.capped, false);
  // Where m∞ reaches the dataset's bits the figure is capped there: a lower bound.
  const all = extrapolateCapacity(
    [{ datasetSize: 160, asymptote: fit(20000, 19000, 21000) }],
    points,
    1,
  )!;
  assert.equal(all.capacityBits, 16000);
  assert.equal(all.capped, true);
});

Deno.test("extrapolated capacity: sizes with a missing fit are left out; none → null", () => {
  const runs = [
    { datasetSize: 10, asymptote: fit(900, 800, 1000) },
    { datasetSize: 40, asymptote: null },
    { datasetSize: 40, asymptote: fit(9000, 8000, 10000) },
  ];
  const x = extrapolateCapacity(runs, points, 100)!;
  assert.equal(x.datasetSize, 10);
  assert.equal(x.capacityBits, 900);
  assert.equal(extrapolateCapacity([{ datasetSize: 10, asymptote: null }], points, 100), null);
});
