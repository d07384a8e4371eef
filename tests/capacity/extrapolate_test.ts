import assert from "node:assert/strict";
import { extrapolateCapacity } from "../../lib/capacity/sweep.ts";

const fit = (mInf: number, lo: number, hi: number, bounded = true, b = 0.5) => ({
  mInf,
  a: 1,
  b,
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

Deno.test("projection: the largest seed-mean m∞, capped at the data's bits", () => {
  const runs = [
    { datasetSize: 10, asymptote: fit(1500, 1400, 1600) }, // capped at 1000
    { datasetSize: 40, asymptote: fit(3000, 2900, 3300) },
    { datasetSize: 40, asymptote: fit(3200, 3000, 3500) },
    { datasetSize: 160, asymptote: fit(3050, 3000, 3100) },
  ];
  const x = extrapolateCapacity(runs, points, 1000)!;
  assert.equal(x.datasetSize, 40);
  assert.equal(x.capacityBits, 3100);
  assert.equal(x.bitsPerParameter, 3.1);
  assert.deepEqual(x.interval, [2950, 3400]);
  assert.equal(x.bounded, true);
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

Deno.test("projection: sizes with an unbounded or nearly logarithmic fit are left out", () => {
  // The committed fp32 L2 d8 runs: unbounded fits gave α 5.14; bf16's N=277 fit was "bounded"
  // with b 0.10 and m∞ 12,404 against 5,270 measured later.
  const runs = [
    { datasetSize: 40, asymptote: fit(3000, 2900, 3300) },
    { datasetSize: 160, asymptote: fit(9000, 7000, 20000, false) },
    { datasetSize: 160, asymptote: fit(9500, 8000, 20000) },
  ];
  assert.equal(extrapolateCapacity(runs, points, 1000)!.datasetSize, 40);
  const lowB = [
    { datasetSize: 40, asymptote: fit(3000, 2900, 3300) },
    { datasetSize: 160, asymptote: fit(12404, 9975, 20319, true, 0.1) },
  ];
  assert.equal(extrapolateCapacity(lowB, points, 1000)!.capacityBits, 3000);
  assert.equal(extrapolateCapacity([lowB[1]], points, 1000), null);
});
