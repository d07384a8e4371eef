// Capacity sweeps over HTTP on a tiny config: memorized bits rise with the
// dataset size, then plateau; saturated models leave their fleet early; the
// automatic grid brackets the predicted plateau; the SVG figure and the fit
// come back.
import assert from "node:assert/strict";
import { call, withService } from "./_service.ts";
import { storeTest } from "./_stores.ts";

/** 1 layer, d=8 over 16 symbols and 8 tokens: V·d + S·d + 12d² + 13d + 2d = 1,080 parameters. */
const config = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 2 };
const PARAMS = 16 * 8 + 8 * 8 + (12 * 64 + 13 * 8) + 2 * 8;
/** (S-1)·log2 V: the bits of one uniform sequence, tokens 2..S. */
const SEQUENCE_BITS = 7 * 4;

interface Run {
  datasetSize: number;
  steps: number;
  saturated: boolean;
  memorizedBits: number;
  unseenBits: number;
  clipCreditBits: number;
}

storeTest(
  "a tiny capacity sweep rises with N, then plateaus; saturated models leave early",
  async (backend) => {
    await withService(
      async ({ app, jobs, store }) => {
        const res = await call(app, "POST", "/v1/capacity", {
          config,
          // 112 .. 14,336 dataset bits around a capacity of ~1,700 bits (~1.6 bits/parameter at
          // this budget): the first three sizes are (nearly) memorized whole, the last two fill
          // the model.
          datasetSizes: [4, 16, 64, 256, 512],
          seeds: [0],
          training: {
            batchSize: 64,
            maxSteps: 2000,
            evalEvery: 250,
            optimizer: { lr: 0.02 },
            schedule: { kind: "cosine", warmupSteps: 20 },
            saturation: { fraction: 0.01, minSteps: 500 },
          },
        });
        assert.equal(res.status, 202, JSON.stringify(res.json));
        const job = await jobs.wait("capacity", res.json.id, 300_000);
        assert.equal(job.status, "succeeded", JSON.stringify(job.error));
        const sweep = (await call(app, "GET", `/v1/capacity/${res.json.id}`)).json;
        const r = sweep.result;
        const bits: number[] = r.points.map((p: { meanBits: number }) => p.meanBits);
        // Rises: each of the first four sizes memorizes more than the one before.
        for (let i = 1; i < 4; i++) assert.ok(bits[i] > bits[i - 1], `rises at ${i}: ${bits}`);
        assert.ok(r.points[0].fractionMemorized > 0.9, `N=4: ${r.points[0].fractionMemorized}`);
        // ...then plateaus: twice the data adds nothing; the fit says the plateau was reached.
        assert.ok(
          Math.abs(bits[4] - bits[3]) < 0.1 * Math.max(bits[3], bits[4]),
          `plateau: ${bits}`,
        );
        assert.ok(r.points[4].fractionMemorized < 0.25, `N=512: ${r.points[4].fractionMemorized}`);
        assert.equal(r.plateauReached, true);
        assert.equal(r.capacityBits, Math.max(...bits));
        assert.equal(r.parameterCount, PARAMS);
        assert.ok(Math.abs(r.bitsPerParameter - r.capacityBits / r.parameterCount) < 1e-12);
        // The contract's headline fields sit at the top level too (DESIGN.md, HTTP API v1).
        assert.equal(sweep.status, "succeeded");
        assert.equal(sweep.parameterCount, PARAMS);
        assert.equal(sweep.capacityBits, r.capacityBits);
        assert.equal(sweep.bitsPerParameter, r.bitsPerParameter);
        assert.deepEqual(sweep.points, r.points);

        // All five trained side by side in one fleet (maxFleetSize 16); a model that saturated
        // left it at that evaluation while the capacity-limited ones trained the whole budget.
        const runs: Run[] = r.runs;
        assert.equal(runs.length, 5);
        assert.equal(r.budget.maxSteps, 2000);
        for (const run of runs) {
          if (run.saturated) {
            assert.ok(
              run.steps < 2000,
              `N=${run.datasetSize}: ${run.steps} steps`,
            );
          } else assert.equal(run.steps, 2000, `N=${run.datasetSize}`);
        }
        const small = runs.find((x) => x.datasetSize === 16)!;
        assert.equal(small.saturated, true, "N=16 is memorized whole, then saturates");
        assert.ok(runs.some((x) => x.steps > small.steps), "another model trained on");
        assert.equal(r.budget.saturatedRuns, runs.filter((x) => x.saturated).length);

        // Train/test loss: test sequences were never trained on, so where a model memorized its
        // data its test loss sits above log2 V = 4 and above its train loss.
        const first = r.runs[0];
        assert.ok(first.trainLossBits < 1, `N=4 train loss ${first.trainLossBits}`);
        assert.ok(first.testLossBits > 4, `N=4 test loss ${first.testLossBits}`);
        // The clipped per-sample measure credits unseen sequences almost nothing once a model
        // memorized: its chance wins, scaled to N, are a sliver of what it memorized.
        for (const run of runs) {
          assert.ok(run.unseenBits >= 0, `N=${run.datasetSize}: unseen ${run.unseenBits}`);
          assert.ok(run.clipCreditBits >= 0, `N=${run.datasetSize}: clip ${run.clipCreditBits}`);
        }
        // A model that memorized its 4 sequences codes none of them longer than uniform.
        assert.equal(first.clipCreditBits, 0, `N=4: clip credit ${first.clipCreditBits}`);
        assert.ok(
          first.unseenBits < 0.01 * first.memorizedBits,
          `N=4: unseen ${first.unseenBits} of ${first.memorizedBits} bits`,
        );
        assert.equal(r.budget.schedule, "cosine");
        const plot = await app.request(`/v1/capacity/${res.json.id}/plot.svg`);
        assert.equal(plot.status, 200);
        assert.match(plot.headers.get("content-type")!, /image\/svg\+xml/);
        assert.match(await plot.text(), /<svg[\s\S]*capacity/);

        // Its fleets were jobs of their own (refs: the sweep); a DELETE takes them along.
        const fleets = await store.referencing(res.json.id);
        assert.ok(fleets.length > 0 && fleets.every((f) => f.collection === "fleets"));
        assert.equal((await call(app, "DELETE", `/v1/capacity/${res.json.id}`)).status, 204);
        assert.deepEqual(await store.referencing(res.json.id), []);
        assert.equal((await store.list("fleets")).items.length, 0);
      },
      undefined,
      backend,
    );
  },
);

Deno.test('datasetSizes "auto" brackets N* = 3.6·params / ((S-1)·log2 V)', async () => {
  await withService(async ({ app, jobs }) => {
    const res = await call(app, "POST", "/v1/capacity", {
      config,
      datasetSizes: "auto",
      auto: { points: 3 },
      seeds: [0],
      testSequences: 0,
      // A short budget: this checks the grid, not the capacity.
      training: {
        batchSize: 32,
        maxSteps: 200,
        evalEvery: 100,
        schedule: { kind: "cosine", warmupSteps: 20 },
      },
    });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const job = await jobs.wait("capacity", res.json.id, 300_000);
    assert.equal(job.status, "succeeded", JSON.stringify(job.error));
    const r = (await call(app, "GET", `/v1/capacity/${res.json.id}`)).json.result;
    const nStar = (3.6 * PARAMS) / SEQUENCE_BITS; // 138.9 sequences
    const sizes: number[] = r.points.map((p: { datasetSize: number }) => p.datasetSize);
    // Three sizes, N*/4, N*, 4·N* (rounded): the smallest data-limited, the largest not.
    assert.deepEqual(sizes, [nStar / 4, nStar, 4 * nStar].map(Math.round));
    assert.ok(sizes[0] < nStar && nStar < sizes[2], `${sizes} around ${nStar}`);
    assert.deepEqual(
      r.points.map((p: { datasetBits: number }) => p.datasetBits),
      sizes.map((n) => n * SEQUENCE_BITS),
    );
    assert.deepEqual(r.runs.map((x: Run) => x.datasetSize), sizes);
  });
});

storeTest(
  "cosine-restarts: measured at cycle ends, fitted, projected beside measured",
  async (backend) => {
    await withService(
      async ({ app, jobs }) => {
        const res = await call(app, "POST", "/v1/capacity", {
          config,
          datasetSizes: [64, 256],
          maxExtraSizes: 0,
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
          assert.deepEqual(run.curve.map((p: { step: number }) => p.step), [
            100,
            200,
            400,
            800,
            1600,
          ]);
          assert.equal(run.steps, 1600);
          assert.equal(run.saturated, false);
          assert.equal(run.testLossBits, null);
          assert.ok(run.asymptote, "a fit from 5 points");
          assert.ok(run.asymptote.interval[0] <= run.asymptote.mInf);
          assert.ok(run.asymptote.mInf <= run.asymptote.interval[1]);
        }
        // The projection uses only sizes whose fits are pinned down (bounded, b ≥ 0.3).
        const pinned = r.runs.filter((run: any) =>
          run.asymptote.bounded && (run.asymptote.a === 0 || run.asymptote.b >= 0.3)
        );
        const x = r.extrapolated;
        assert.equal(
          x === null,
          pinned.length === 0,
          JSON.stringify(r.runs.map((q: any) => q.asymptote)),
        );
        if (x) {
          assert.ok(pinned.some((run: any) => run.datasetSize === x.datasetSize));
          assert.ok(x.capacityBits > 0);
          assert.ok(Math.abs(x.bitsPerParameter - x.capacityBits / r.parameterCount) < 1e-12);
          // No model memorizes more than its data: the projection is capped there.
          const p = r.points.find((q: { datasetSize: number }) => q.datasetSize === x.datasetSize);
          assert.ok(x.capacityBits <= p.datasetBits + 1e-9);
        }
        // Every run's figure is its best cycle end; never saturated here, so each is budget-exhausted
        // or unstable, and the verdict is a lower bound that says so.
        for (const run of r.runs) {
          assert.equal(run.memorizedBits, Math.max(...run.curve.map((q: any) => q.bits)));
          assert.notEqual(run.certificate.status, "saturated");
        }
        assert.equal(r.verdict, "lower-bound");
      },
      undefined,
      backend,
    );
  },
);
