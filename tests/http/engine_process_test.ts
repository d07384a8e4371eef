// The engine in its child process: a crash of the engine (injected through a
// test-only hook) leaves the HTTP service answering, and the run in hand
// resumes from its checkpoint on a fresh engine.
import assert from "node:assert/strict";
import { EngineProcess } from "../../gpu/engine_process.ts";
import { call, datasetAndModel, withService } from "./_service.ts";
import { initialParameters } from "../../lib/model/init.ts";

// Wider than the fused row kernels serve (gpu/block_codegen.ts, d ≤ 16): those take
// up to ~30 s each to compile on a cold Mesa shader cache, a stall these timing-bound tests
// (a 3 s watchdog, a run crashed at step 300) are not about.
const config = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 24, heads: 2 };

Deno.test("an engine crash mid-run: the service keeps serving, the run resumes and succeeds", async () => {
  await withService(async ({ app, jobs, engine }) => {
    const { datasetId, modelId } = await datasetAndModel(app, { config, count: 8 });
    const run = await call(app, "POST", "/v1/runs", {
      modelId,
      datasetId,
      optimizer: { type: "adamw", lr: 0.005 },
      batchSize: 8,
      steps: 2000,
      // Every training progress report (each 50 steps) follows a checkpoint of its step, so
      // the step of one the GET below reads is at most the last checkpoint's. (An evaluating
      // report names the step being evaluated, whose checkpoint comes after the evaluation.)
      evalEvery: 50,
    });
    assert.equal(run.status, 202);
    let seen = 0;
    for (let i = 0; i < 600 && seen < 300; i++) {
      const r = await call(app, "GET", `/v1/runs/${run.json.id}`);
      if (r.json.progress?.phase === "training") seen = r.json.progress.step;
      if (seen < 300) await new Promise((res) => setTimeout(res, 50));
    }
    assert.ok(seen >= 300 && seen < 2000, `step ${seen} when the engine is crashed`);
    await engine.injectCrash();
    const done = await jobs.wait("runs", run.json.id, 120_000);
    assert.equal(done.status, "succeeded", JSON.stringify(done.error));
    assert.equal(engine.crashes, 1);
    const result = done.result as {
      steps: number;
      curve: { step: number }[];
      resumedFromSteps: number[];
    };
    assert.equal(result.steps, 2000);
    // Resumed from a checkpoint at or after the step seen before the crash, not from scratch.
    assert.equal(result.resumedFromSteps.length, 1, JSON.stringify(result.resumedFromSteps));
    const [from] = result.resumedFromSteps;
    assert.ok(from > 0 && from >= seen, `resumed from ${from}, seen ${seen}`);
    // The curve continues the first attempt's: no evaluation is lost or repeated.
    const steps = result.curve.map((p) => p.step);
    assert.equal(new Set(steps).size, steps.length);
    assert.equal(steps[0], 50);
    // The engine answers again after the crash: a fresh engine process computes this (the
    // health route would not show it: it reports the adapter cached before the crash).
    const lik = await call(app, "POST", `/v1/models/${modelId}/likelihood`, { datasetId });
    assert.equal(lik.status, 200);
  }, () => new EngineProcess({ env: { MEMCAP_TEST_FAULTS: "1" }, log: () => {} }));
});

Deno.test("an engine that keeps crashing fails the job with the reason", async () => {
  await withService(async ({ app, jobs, engine }) => {
    const { datasetId, modelId } = await datasetAndModel(app, { config, count: 8 });
    const run = await call(app, "POST", "/v1/runs", {
      modelId,
      datasetId,
      optimizer: { type: "adamw", lr: 0.005 },
      batchSize: 8,
      steps: 100_000,
      evalEvery: 50,
    });
    // Crash the engine each time the run is back on it (a progress report
    // from the engine after the last crash says it is).
    let reported = false;
    const unsubscribe = jobs.subscribe(run.json.id, (ev) => {
      if (ev.type === "progress") reported = true;
    });
    try {
      for (let crashes = 0; crashes < 2;) {
        if (reported) {
          await engine.injectCrash();
          crashes++;
          await new Promise((res) => setTimeout(res, 300)); // reports already in flight
          reported = false;
        }
        await new Promise((res) => setTimeout(res, 20));
        const job = await jobs.get("runs", run.json.id);
        if (job?.status !== "running") break;
      }
    } finally {
      unsubscribe();
    }
    const done = await jobs.wait("runs", run.json.id, 120_000);
    assert.equal(done.status, "failed");
    assert.equal(done.error?.code, "engine_crashed");
    assert.match(done.error!.message, /engine process stopped/);
  }, () => new EngineProcess({ env: { MEMCAP_TEST_FAULTS: "1" }, jobRetries: 1, log: () => {} }));
});

Deno.test("a cancelled likelihood call stops in the engine process, leaving it to the others", async () => {
  const engine = new EngineProcess();
  try {
    // The reference shape: 2,048 sequences are 16 batches of 128, a few seconds here.
    const ref = { vocabSize: 2048, seqLen: 64, layers: 2, dModel: 64, heads: 4 };
    const params = initialParameters(ref, 1);
    const big = new Uint32Array(2048 * 64).map((_, i) => (i * 7919) % 2048);
    const req = (tokens: Uint32Array) => ({
      config: ref,
      precision: "fp32" as const,
      params,
      tokens,
    });
    await engine.likelihood(req(big.subarray(0, 64))); // starts the process, compiles kernels
    let t0 = performance.now();
    await engine.likelihood(req(big));
    const whole = performance.now() - t0;

    const controller = new AbortController();
    const abandoned = engine.likelihood(req(big), controller.signal);
    await new Promise((r) => setTimeout(r, whole / 8));
    t0 = performance.now();
    controller.abort(new Error("client left"));
    await assert.rejects(abandoned, /client left/);
    // The engine interleaves calls batch by batch: had the abandoned call gone on, this one
    // would share the GPU with its remaining 7/8 (measured: 1.5 × whole; cancelled: 0.9 ×).
    await engine.likelihood(req(big));
    const next = performance.now() - t0;
    assert.ok(
      next < 1.25 * whole,
      `the next call took ${next.toFixed(0)} ms; alone ${whole.toFixed(0)} ms`,
    );
  } finally {
    await engine.close();
  }
});

Deno.test("a stuck engine process is killed by the watchdog and replaced", async () => {
  const logs: string[] = [];
  const engine = new EngineProcess({
    env: { MEMCAP_TEST_FAULTS: "1" },
    watchdogMs: 3000,
    log: (m) => logs.push(m),
  });
  try {
    const params = initialParameters(config, 1);
    const req = { config, precision: "fp32" as const, params, tokens: new Uint32Array(8).fill(3) };
    const before = await engine.likelihood(req);
    await engine.injectHang();
    // Sent to the stuck process: it can only end by the watchdog's kill (or the test's limit).
    let limit: ReturnType<typeof setTimeout> | undefined;
    const noKill = new Promise<never>((_, reject) => {
      limit = setTimeout(() => reject(new Error("no watchdog kill within 30 s")), 30_000);
    });
    try {
      await assert.rejects(
        Promise.race([engine.likelihood(req), noKill]),
        /stopped responding for .* \(watchdog\)/,
      );
    } finally {
      clearTimeout(limit);
    }
    assert.ok(logs.some((l) => l.includes("watchdog")), logs.join("\n"));
    // A fresh process answers, with the same numbers; the stuck one counts as a crash.
    assert.deepEqual(await engine.likelihood(req), before);
    assert.equal(engine.crashes, 1);
  } finally {
    await engine.close();
  }
});
