// A sweep that cannot certify its answer in its first pass goes on: larger
// datasets when the plateau lies beyond the grid, and with until "certified"
// more training for the unsaturated runs that decide the answer, within a
// token budget. Tiny config: 1 layer, d=8, V=16, S=8 (1,080 parameters).
import assert from "node:assert/strict";
import { call, withService } from "./_service.ts";
import { storeTest } from "./_stores.ts";

const config = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 2 };
const TOKENS_PER_STEP = 32 * 8; // batch · S

async function sweep(app: any, jobs: any, body: Record<string, unknown>) {
  const res = await call(app, "POST", "/v1/capacity", body);
  assert.equal(res.status, 202, JSON.stringify(res.json));
  const job = await jobs.wait("capacity", res.json.id, 300_000);
  assert.equal(job.status, "succeeded", JSON.stringify(job.error));
  return (await call(app, "GET", `/v1/capacity/${res.json.id}`)).json;
}

const restarts = {
  batchSize: 32,
  maxSteps: 400,
  optimizer: { lr: 0.02 },
  schedule: { kind: "cosine-restarts", warmupSteps: 20, firstCycleSteps: 100 },
  saturation: { fraction: 0.02, minSteps: 200 },
};

/** Three sizes, the two larger capacity-limited, trained on until certified or out of tokens. */
const untilCertified = (tokenBudget: number) => ({
  config,
  datasetSizes: [16, 128, 256],
  seeds: [0],
  testSequences: 0,
  maxExtraSizes: 0,
  until: "certified",
  tokenBudget,
  training: restarts,
});

Deno.test('until "certified": the deciding runs train on, one doubling at a time', async () => {
  await withService(async ({ app, jobs }) => {
    const s = await sweep(app, jobs, untilCertified(3 * 12800 * TOKENS_PER_STEP));
    const r = s.result;
    assert.equal(s.verdict, r.verdict);
    assert.deepEqual(s.reasons, r.reasons);
    // Someone trained past the first pass's 400 steps, in whole doublings, and the sweep
    // ended certified or said why it stopped (here: the token budget).
    const deciding = r.runs.filter((x: any) => x.datasetSize >= 128);
    const steps = r.runs.map((x: any) => x.steps);
    assert.ok(deciding.some((x: any) => x.steps > 400), JSON.stringify(steps));
    if (r.verdict === "certified") {
      for (const run of deciding) assert.equal(run.certificate.status, "saturated");
      assert.equal(r.budget.stopped, null);
    } else {
      assert.match(r.budget.stopped, /token budget|saturated/, JSON.stringify(r.budget));
      assert.ok(r.reasons.length > 0);
    }
    for (const run of r.runs) {
      assert.equal(Math.log2(run.steps / 100) % 1, 0, `cycle end: ${run.steps}`);
      assert.deepEqual(
        run.curve.map((p: any) => p.step),
        run.curve.map((_: any, i: number) => 100 * 2 ** i),
      );
      assert.equal(run.certificate.steps, run.steps);
      assert.equal(run.certificate.tokens, run.steps * TOKENS_PER_STEP);
      // The run's figure is its best annealed measurement, whatever came after.
      assert.equal(run.memorizedBits, Math.max(...run.curve.map((p: any) => p.bits)));
      assert.equal(run.saturated, run.certificate.status === "saturated");
    }
    assert.equal(r.budget.until, "certified");
    assert.equal(
      r.budget.tokensSpent,
      r.runs.reduce((a: number, x: any) => a + x.steps * TOKENS_PER_STEP, 0),
    );
    assert.ok(r.budget.tokensSpent <= r.budget.tokenBudget);

    assert.deepEqual(r.budget.extendedFrom, []);

    // The same request with a budget that allows no doubling stops with its reason.
    const shortBudget = 3 * 400 * TOKENS_PER_STEP + 1;
    const short = await sweep(app, jobs, untilCertified(shortBudget));
    const b = short.result;
    assert.equal(b.verdict, "lower-bound", JSON.stringify(b.reasons));
    assert.match(b.budget.stopped, /token budget/);
    assert.equal(b.budget.stoppedBy, "token-budget");
    assert.ok(b.runs.every((x: any) => x.steps <= 400));

    // Extending it: a budget not above the one it stopped at is refused, a larger one
    // continues the same sweep from its kept states to the answer the larger budget gets
    // in one go.
    const extend = (id: string, tokenBudget: number) =>
      call(app, "POST", `/v1/capacity/${id}/extend`, { tokenBudget });
    assert.equal((await extend(short.id, shortBudget)).status, 422);
    // ... nor one that does not pay for the training it stopped short of.
    assert.ok(b.budget.tokensToGoOn > shortBudget, JSON.stringify(b.budget));
    const tooLittle = await extend(short.id, b.budget.tokensToGoOn - 1);
    assert.equal(tooLittle.status, 422);
    assert.match(tooLittle.json.error.message, /body\.tokenBudget: .* give at least \d+/);
    assert.equal((await extend("cap_00000000000000000000", r.budget.tokenBudget)).status, 404);
    // What the extension trains: only what the short sweep had not (its progress counts
    // this attempt's tokens).
    let trainedNow = 0;
    const unsubscribe = jobs.subscribe(short.id, (ev: any) => {
      if (ev.type === "progress") trainedNow = Math.max(trainedNow, ev.progress.tokensTrained);
    });
    const accepted = await extend(short.id, r.budget.tokenBudget);
    assert.equal(accepted.status, 202, JSON.stringify(accepted.json));
    assert.deepEqual(accepted.json, { id: short.id, status: "queued" });
    // Until the new answer comes, the one it stopped at stays.
    const during = (await call(app, "GET", `/v1/capacity/${short.id}`)).json;
    assert.equal(during.capacityBits, short.capacityBits);
    const job = await jobs.wait("capacity", short.id, 300_000);
    unsubscribe();
    assert.equal(job.status, "succeeded", JSON.stringify(job.error));
    const extended = (await call(app, "GET", `/v1/capacity/${short.id}`)).json;
    assert.equal(extended.input.tokenBudget, r.budget.tokenBudget);
    const e = extended.result;
    assert.deepEqual(e.budget.extendedFrom, [shortBudget]);
    assert.deepEqual(e.runs, r.runs);
    assert.equal(e.verdict, r.verdict);
    assert.equal(e.capacityBits, r.capacityBits);
    assert.deepEqual({ ...e.budget, extendedFrom: [] }, r.budget);
    assert.ok(
      trainedNow > 0 && trainedNow <= e.budget.tokensSpent - b.budget.tokensSpent,
      `the extension trained ${trainedNow} tokens, the new training is ` +
        `${e.budget.tokensSpent - b.budget.tokensSpent}`,
    );
    // Only a sweep its token budget stopped goes on: more budget would not change the others.
    if (r.budget.stoppedBy !== "token-budget") {
      const refused = await extend(s.id, 2 * r.budget.tokenBudget);
      assert.equal(refused.status, 409);
      assert.match(refused.json.error.message, new RegExp(r.budget.stoppedBy));
    }
  });
});

storeTest(
  "a grid whose datasets all fit is extended upward, at most maxExtraSizes times",
  async (backend) => {
    await withService(
      async ({ app, jobs }) => {
        const s = await sweep(app, jobs, {
          config,
          datasetSizes: [4, 8],
          seeds: [0],
          testSequences: 0,
          maxExtraSizes: 2,
          training: { ...restarts, maxSteps: 200 },
        });
        const r = s.result;
        assert.deepEqual(r.budget.addedSizes, [16, 32]);
        assert.deepEqual(r.points.map((p: any) => p.datasetSize), [4, 8, 16, 32]);
        assert.equal(r.runs.length, 4);
        assert.equal(r.verdict, "lower-bound");
        assert.ok(r.reasons.length > 0);
        // until "budget" trains its grid once; it is not a sweep more budget continues.
        assert.equal(r.budget.stoppedBy, "one-pass");
        const refused = await call(app, "POST", `/v1/capacity/${s.id}/extend`, {
          tokenBudget: 1e9,
        });
        assert.equal(refused.status, 409);
        assert.match(refused.json.error.message, /one-pass/);
      },
      undefined,
      backend,
    );
  },
);

Deno.test('until "certified": an added dataset size stays within the token budget', async () => {
  await withService(async ({ app, jobs }) => {
    // Both sizes are memorized whole: the grid wants a larger dataset, which one more size's
    // 200 steps would pay for only with a budget above the first pass's 2 × 200 steps.
    const body = {
      config,
      datasetSizes: [4, 8],
      seeds: [0],
      testSequences: 0,
      maxExtraSizes: 2,
      until: "certified",
      training: { ...restarts, maxSteps: 200 },
    };
    const tight = (await sweep(app, jobs, { ...body, tokenBudget: 2 * 200 * TOKENS_PER_STEP }))
      .result;
    assert.deepEqual(tight.budget.addedSizes, []);
    assert.match(tight.budget.stopped, /adding N=16 .* would pass the token budget/);
    assert.ok(tight.budget.tokensSpent <= tight.budget.tokenBudget);
    const room = (await sweep(app, jobs, { ...body, tokenBudget: 3 * 200 * TOKENS_PER_STEP }))
      .result;
    assert.deepEqual(room.budget.addedSizes, [16], JSON.stringify(room.budget));
    assert.ok(room.budget.tokensSpent <= room.budget.tokenBudget);
  });
});

Deno.test('until "certified" needs cosine-restarts; the request says so', async () => {
  await withService(async ({ app }) => {
    const res = await call(app, "POST", "/v1/capacity", {
      config,
      until: "certified",
      training: { schedule: { kind: "cosine" } },
    });
    assert.equal(res.status, 422);
    assert.match(JSON.stringify(res.json.error), /until/);
  });
});
