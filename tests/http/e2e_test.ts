// End to end over real HTTP: main.ts as its own process trains a tiny model
// while the test reads the run's SSE stream; likelihood and memorization
// equal what the engine computes directly on the downloaded weights. Then a
// run interrupted by a restart finishes from its checkpoint.
import assert from "node:assert/strict";
import { getGpu } from "../../gpu/device.ts";
import { GpuEngine } from "../../gpu/engine.ts";
import { importWeights } from "../../lib/model/weights.ts";
import { startMain } from "./_main_process.ts";
import { fetchJson as api } from "./_client.ts";

const config = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 16, heads: 2 };

/** Reads an SSE stream into events until `until` says stop. */
async function readSse(
  res: Response,
  until: (ev: { event: string; data: any }) => boolean,
): Promise<{ event: string; data: any }[]> {
  const events: { event: string; data: any }[] = [];
  let buf = "";
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const ev = { event: "message", data: "" as any };
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) ev.event = line.slice(6).trim();
        if (line.startsWith("data:")) ev.data += line.slice(5).trim();
      }
      if (!ev.data) continue;
      ev.data = JSON.parse(ev.data);
      events.push(ev);
      if (until(ev)) {
        await reader.cancel();
        return events;
      }
    }
  }
  return events;
}

async function setup(url: string, count: number) {
  const ds = await api(url, "POST", "/v1/datasets", {
    kind: "uniform",
    vocabSize: 16,
    seqLen: 8,
    count,
    seed: 5,
  });
  assert.equal(ds.status, 201, JSON.stringify(ds.json));
  const model = await api(url, "POST", "/v1/models", { config, seed: 2 });
  assert.equal(model.status, 201, JSON.stringify(model.json));
  return { datasetId: ds.json.id, modelId: model.json.id };
}

Deno.test("a capacity sweep streams its progress as SSE until its verdict", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memcap-e2e-" });
  const main = await startMain(dir);
  try {
    const sweep = await api(main.url, "POST", "/v1/capacity", {
      config,
      datasetSizes: [4, 8],
      seeds: [0],
      testSequences: 0,
      maxExtraSizes: 0,
      training: {
        batchSize: 4,
        maxSteps: 400,
        optimizer: { type: "adamw", lr: 0.01 },
        schedule: { kind: "cosine-restarts", warmupSteps: 10, firstCycleSteps: 100 },
        saturation: { minSteps: 400 },
      },
    });
    assert.equal(sweep.status, 202, JSON.stringify(sweep.json));
    const stream = await fetch(`${main.url}/v1/capacity/${sweep.json.id}/events`);
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get("content-type")!, /text\/event-stream/);
    const events = await readSse(
      stream,
      (ev) => ev.event === "status" && ["succeeded", "failed"].includes(ev.data.status),
    );
    assert.equal(events[0].event, "status");
    const last = events.at(-1)!;
    assert.equal(last.data.status, "succeeded", JSON.stringify(last.data.error));
    assert.ok(["certified", "lower-bound"].includes(last.data.verdict));
    const progress = events.filter((e) => e.event === "progress").map((e) => e.data);
    assert.ok(progress.length >= 1, "progress events");
    assert.ok(progress.every((p) => p.modelsTotal === 2), JSON.stringify(progress[0]));
    const missing = await fetch(`${main.url}/v1/capacity/cap_00000000000000000000/events`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  } finally {
    await main.stop("SIGTERM");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main.ts trains over HTTP with an SSE stream; numbers match the engine", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memcap-e2e-" });
  const main = await startMain(dir);
  try {
    const { datasetId, modelId } = await setup(main.url, 5);
    const run = await api(main.url, "POST", "/v1/runs", {
      modelId,
      datasetId,
      optimizer: { type: "adamw", lr: 0.01 },
      batchSize: 5,
      steps: 240,
      evalEvery: 60,
    });
    assert.equal(run.status, 202, JSON.stringify(run.json));
    const stream = await fetch(`${main.url}/v1/runs/${run.json.id}/events`);
    assert.match(stream.headers.get("content-type")!, /text\/event-stream/);
    const events = await readSse(
      stream,
      (ev) => ev.event === "status" && ["succeeded", "failed"].includes(ev.data.status),
    );
    const last = events.at(-1)!;
    assert.equal(last.data.status, "succeeded", JSON.stringify(last.data.error));
    const steps = events.filter((e) => e.event === "progress").map((e) => e.data.step);
    assert.ok(steps.length >= 2, `progress events: ${steps}`);
    assert.deepEqual(steps, [...steps].sort((a, b) => a - b));
    assert.equal(last.data.result.steps, 240);

    // The engine, in this process, on the weights the service serves.
    const weights = await fetch(`${main.url}/v1/models/${modelId}/weights`);
    const { params } = importWeights(config, new Uint8Array(await weights.arrayBuffer()));
    const seqs = (await api(main.url, "GET", `/v1/datasets/${datasetId}/sequences?limit=5`)).json
      .sequences as number[][];
    const direct = await new GpuEngine(getGpu).likelihood({
      config,
      precision: "fp32",
      params,
      tokens: new Uint32Array(seqs.flat()),
    });
    const lik = await api(main.url, "POST", `/v1/models/${modelId}/likelihood`, { datasetId });
    assert.equal(lik.status, 200);
    assert.deepEqual(lik.json.bits, Array.from(direct.bits));
    const mem = await api(main.url, "POST", "/v1/memorization", { modelId, datasetId });
    assert.equal(mem.status, 200);
    const expected = Array.from(direct.bits).reduce((a, b) => a + Math.max(0, 28 - b), 0);
    assert.ok(Math.abs(mem.json.totalBits - expected) < 1e-9);
    assert.ok(last.data.result.memorizedBits > 0.5 * 5 * 28, `${last.data.result.memorizedBits}`);
  } finally {
    await main.stop("SIGTERM");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a run stopped by SIGTERM checkpoints and resumes from that step", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memcap-restart-" });
  let main = await startMain(dir);
  try {
    const { datasetId, modelId } = await setup(main.url, 8);
    const steps = 3000;
    const run = await api(main.url, "POST", "/v1/runs", {
      modelId,
      datasetId,
      optimizer: { type: "adamw", lr: 0.005 },
      batchSize: 8,
      steps,
      evalEvery: 100,
      // No periodic checkpoint before the stop: only the shutdown's own one can
      // let the run continue past step 0.
      checkpointEvery: 2500,
    });
    assert.equal(run.status, 202);
    const id = run.json.id;
    // Wait until the run is past step 200, then stop the service.
    let before: any;
    for (let i = 0; i < 600; i++) {
      before = (await api(main.url, "GET", `/v1/runs/${id}`)).json;
      if (
        before.progress?.step >= 200 || before.status !== "queued" && before.status !== "running"
      ) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(before.status, "running", `status ${before.status}`);
    assert.equal(before.step, before.progress.step, "the top-level step is the progress's");
    assert.equal(await main.stop("SIGTERM"), 0);

    main = await startMain(dir);
    const afterRestart = (await api(main.url, "GET", `/v1/runs/${id}`)).json;
    assert.equal(afterRestart.input.steps, steps);
    assert.equal(afterRestart.modelId, modelId);
    let done: any;
    for (let i = 0; i < 1200; i++) {
      done = (await api(main.url, "GET", `/v1/runs/${id}`)).json;
      if (!["queued", "running"].includes(done.status)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(done.status, "succeeded", JSON.stringify(done.error));
    assert.equal(done.attempts, 2, "started twice: once, then resumed");
    assert.equal(done.result.steps, steps);
    // Resumed from the checkpoint the shutdown wrote, at or after the last step seen.
    assert.equal(done.result.resumedFromSteps.length, 1);
    assert.ok(
      done.result.resumedFromSteps[0] >= before.progress.step,
      `resumed from ${done.result.resumedFromSteps[0]}, seen ${before.progress.step}`,
    );
    // The curve continues where the checkpoint left it: no step is evaluated twice
    // and the first evaluations (before the restart) are kept.
    const curveSteps = done.result.curve.map((p: { step: number }) => p.step);
    assert.equal(curveSteps[0], 100);
    assert.equal(new Set(curveSteps).size, curveSteps.length);
    assert.equal(curveSteps.at(-1), steps);
  } finally {
    await main.stop("SIGTERM");
    await Deno.remove(dir, { recursive: true });
  }
});
