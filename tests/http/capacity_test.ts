// A capacity sweep over HTTP on a tiny config: memorized bits rise with the
// dataset size, then plateau; the SVG figure and the fit come back.
import assert from "node:assert/strict";
import { call, withService } from "./_service.ts";

Deno.test("a tiny capacity sweep rises with N, then plateaus", async () => {
  await withService(async ({ app, jobs }) => {
    const res = await call(app, "POST", "/v1/capacity", {
      config: { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 2 },
      // 8·7·4 = 224 bits per 8 sequences; a 1-layer d=8 model has 1,224 parameters.
      datasetSizes: [4, 16, 128, 512],
      seeds: [0],
      training: {
        batchSize: 64,
        maxSteps: 800,
        evalEvery: 200,
        optimizer: { lr: 0.02 },
        schedule: { kind: "cosine", warmupSteps: 20 },
        saturation: { fraction: 0.01, minSteps: 400 },
      },
    });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const job = await jobs.wait("capacity", res.json.id, 300_000);
    assert.equal(job.status, "succeeded", JSON.stringify(job.error));
    const sweep = (await call(app, "GET", `/v1/capacity/${res.json.id}`)).json;
    const r = sweep.result;
    const bits = r.points.map((p: { meanBits: number }) => p.meanBits);
    // Small datasets are (almost) fully memorized; the largest ones are not.
    assert.ok(r.points[0].fractionMemorized > 0.9, `N=4: ${r.points[0].fractionMemorized}`);
    assert.ok(bits[1] > bits[0], `rises: ${bits}`);
    assert.ok(r.points[3].fractionMemorized < 0.5, `N=512: ${r.points[3].fractionMemorized}`);
    // Plateau: the two largest sizes memorize about the same number of bits.
    assert.ok(Math.abs(bits[3] - bits[2]) < 0.35 * Math.max(bits[2], bits[3]), `plateau: ${bits}`);
    assert.equal(r.parameterCount, 16 * 8 + 8 * 8 + (12 * 64 + 13 * 8) + 16);
    assert.ok(Math.abs(r.bitsPerParameter - r.capacityBits / r.parameterCount) < 1e-12);
    assert.equal(r.runs.length, 4);
    // Train/test loss: test sequences were never trained on, so where a model memorized its
    // data its test loss sits above log2 V = 4 and above its train loss.
    const small = r.runs[0];
    assert.ok(small.trainLossBits < 1, `N=4 train loss ${small.trainLossBits}`);
    assert.ok(small.testLossBits > 4, `N=4 test loss ${small.testLossBits}`);
    assert.equal(r.budget.schedule, "cosine");
    assert.equal(
      r.budget.saturatedRuns,
      r.runs.filter((x: { saturated: boolean }) => x.saturated).length,
    );
    const plot = await app.request(`/v1/capacity/${res.json.id}/plot.svg`);
    assert.equal(plot.status, 200);
    assert.match(plot.headers.get("content-type")!, /image\/svg\+xml/);
    assert.match(await plot.text(), /<svg[\s\S]*capacity/);
  });
});

Deno.test("cosine-restarts: measured at cycle ends, fitted, extrapolated beside measured", async () => {
  await withService(async ({ app, jobs }) => {
    const res = await call(app, "POST", "/v1/capacity", {
      config: { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 2 },
      datasetSizes: [64, 256],
      seeds: [0],
      testSequences: 0,
      training: {
        batchSize: 32,
        maxSteps: 1700, // cut back to the last whole cycle: 1600
        optimizer: { lr: 0.02 },
        schedule: { kind: "cosine-restarts", warmupSteps: 20, firstCycleSteps: 100 },
        saturation: { fraction: 1e-9, minSteps: 100000 }, // never: train the whole budget
      },
    });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const job = await jobs.wait("capacity", res.json.id, 300_000);
    assert.equal(job.status, "succeeded", JSON.stringify(job.error));
    const r = (await call(app, "GET", `/v1/capacity/${res.json.id}`)).json.result;
    assert.equal(r.budget.maxSteps, 1600);
    assert.equal(r.budget.schedule, "cosine-restarts");
    for (const run of r.runs) {
      assert.deepEqual(run.curve.map((p: { step: number }) => p.step), [100, 200, 400, 800, 1600]);
      assert.equal(run.steps, 1600);
      assert.equal(run.saturated, false);
      assert.equal(run.testLossBits, null);
      assert.ok(run.asymptote, "a fit from 5 points");
      assert.ok(run.asymptote.interval[0] <= run.asymptote.mInf);
      assert.ok(run.asymptote.mInf <= run.asymptote.interval[1]);
    }
    const x = r.extrapolated;
    assert.ok(x, "extrapolated capacity");
    assert.ok(x.capacityBits > 0);
    assert.ok(Math.abs(x.bitsPerParameter - x.capacityBits / r.parameterCount) < 1e-12);
    // No model memorizes more than its data: the extrapolation is capped there.
    const p = r.points.find((q: { datasetSize: number }) => q.datasetSize === x.datasetSize);
    assert.ok(x.capacityBits <= p.datasetBits + 1e-9);
  });
});
