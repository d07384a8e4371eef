// The HTTP layer's cost: POST /likelihood for 1,000 sequences of the
// reference config against the engine's own time for the same work, and
// GET /v1/health latency while a training run keeps the GPU busy. The engine
// runs in its child process, as in the service.
import { call, withService } from "../tests/http/_service.ts";
import { loadModelWeights } from "../lib/models/models.ts";
import { loadDatasetTokens } from "../lib/datasets/dataset.ts";
import { REFERENCE } from "./train_bench.ts";
import { EngineProcess } from "../gpu/engine_process.ts";
import { GpuEngine } from "../gpu/engine.ts";
import { getGpu } from "../gpu/device.ts";

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export async function httpBench() {
  await withService(async ({ app, store, engine }) => {
    const ds = await call(app, "POST", "/v1/datasets", {
      kind: "uniform",
      vocabSize: REFERENCE.vocabSize,
      seqLen: REFERENCE.seqLen,
      count: 1000,
      seed: 1,
    });
    const model = await call(app, "POST", "/v1/models", { config: REFERENCE, seed: 1 });
    const w = (await loadModelWeights(store, model.json.id))!;
    // "Engine time" is a likelihood call on the engine (the child process) directly.
    const data = (await loadDatasetTokens(store, ds.json.id))!;
    const direct = async () => {
      const t0 = performance.now();
      await engine.likelihood({
        config: REFERENCE,
        precision: "fp32",
        params: w.params,
        tokens: data.tokens,
      });
      return performance.now() - t0;
    };
    const viaHttp = async () => {
      const t0 = performance.now();
      const r = await call(app, "POST", `/v1/models/${model.json.id}/likelihood`, {
        datasetId: ds.json.id,
      });
      if (r.status !== 200) throw new Error(`likelihood: ${r.status}`);
      return performance.now() - t0;
    };
    await direct(); // compiles the kernels
    // Alternate the two, best of 3 each: the machine is shared and noisy.
    const e: number[] = [], h: number[] = [];
    for (let i = 0; i < 3; i++) {
      e.push(await direct());
      h.push(await viaHttp());
    }
    // The same work on an engine inside this process, no process boundary at all.
    const local = new GpuEngine(getGpu);
    const l: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      await local.likelihood({
        config: REFERENCE,
        precision: "fp32",
        params: w.params,
        tokens: data.tokens,
      });
      l.push(performance.now() - t0);
    }
    console.log(`memcap likelihood-1000-engine-in-process: ${Math.min(...l).toFixed(0)} ms`);
    const engineMs = Math.min(...e), httpMs = Math.min(...h);
    console.log(`memcap likelihood-1000-engine: ${engineMs.toFixed(0)} ms`);
    console.log(`memcap likelihood-1000-http: ${httpMs.toFixed(0)} ms`);
    console.log(`ratio likelihood-http/engine: ${(httpMs / engineMs).toFixed(3)}`);

    // Health while a run trains.
    const run = await call(app, "POST", "/v1/runs", {
      modelId: model.json.id,
      datasetId: ds.json.id,
      optimizer: { type: "adamw", lr: 1e-3 },
      batchSize: 64,
      steps: 100_000,
      evalEvery: 100_000,
    });
    for (let i = 0; i < 100; i++) {
      const r = await call(app, "GET", `/v1/runs/${run.json.id}`);
      if (r.json.status === "running") break;
      await new Promise((res) => setTimeout(res, 100));
    }
    await new Promise((res) => setTimeout(res, 2000)); // the engine is into its steps
    const lat: number[] = [];
    const until = performance.now() + 10_000;
    while (performance.now() < until) {
      const t0 = performance.now();
      const r = await app.request("/v1/health");
      await r.text();
      lat.push(performance.now() - t0);
      await new Promise((res) => setTimeout(res, 20));
    }
    await call(app, "POST", `/v1/runs/${run.json.id}/cancel`);
    lat.sort((a, b) => a - b);
    console.log(
      `memcap health-during-training: p50 ${percentile(lat, 50).toFixed(1)} ms, p99 ${
        percentile(lat, 99).toFixed(1)
      } ms over ${lat.length} requests`,
    );
  }, () => new EngineProcess());
}
