// The HTTP layer's cost: POST /likelihood for 1,000 sequences of the
// reference config against the engine's own time for the same work, and
// GET /v1/health latency while a training run keeps the GPU busy. The app is
// served over TCP on loopback (Deno.serve on a free port) and called with
// fetch, so the figures include the socket, HTTP parsing and JSON both ways,
// as a client on the same host sees them. The engine runs in its child
// process, as in the service.
import { type App, withService } from "../tests/http/_service.ts";
import { loadModelWeights } from "../lib/model_store/models.ts";
import { loadDatasetTokens } from "../lib/datasets/dataset.ts";
import { REFERENCE } from "./train_bench.ts";
import { EngineProcess } from "../gpu/engine_process.ts";
import { GpuEngine } from "../gpu/engine.ts";
import { getGpu } from "../gpu/device.ts";
import { fetchOk as request } from "../tests/http/_client.ts";

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Serves `app` on 127.0.0.1 at a port the OS picks; `fn` gets the base URL. */
async function withServer(app: App, fn: (base: string) => Promise<void>): Promise<void> {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    await server.shutdown();
  }
}

/** Milliseconds `work` takes. */
async function timed(work: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await work();
  return performance.now() - t0;
}

export async function httpBench() {
  await withService(async ({ app, store, engine }) => {
    await withServer(app, async (base) => {
      const ds = await request(base, "POST", "/v1/datasets", {
        kind: "uniform",
        vocabSize: REFERENCE.vocabSize,
        seqLen: REFERENCE.seqLen,
        count: 1000,
        seed: 1,
      });
      const model = await request(base, "POST", "/v1/models", { config: REFERENCE, seed: 1 });
      const w = (await loadModelWeights(store, model.id))!;
      const data = (await loadDatasetTokens(store, ds.id))!;
      const likelihood = { config: REFERENCE, precision: "fp32" as const, params: w.params };
      // "Engine time" is a likelihood call on the engine (the child process) directly.
      const direct = () => engine.likelihood({ ...likelihood, tokens: data.tokens });
      const viaHttp = () =>
        request(base, "POST", `/v1/models/${model.id}/likelihood`, { datasetId: ds.id });
      await direct(); // compiles the kernels
      // Alternate the two, best of 3 each: the machine is shared and noisy.
      let engineMs = Infinity, httpMs = Infinity, localMs = Infinity;
      for (let i = 0; i < 3; i++) {
        engineMs = Math.min(engineMs, await timed(direct));
        httpMs = Math.min(httpMs, await timed(viaHttp));
      }
      // The same work on an engine inside this process, no process boundary at all.
      const local = new GpuEngine(getGpu);
      for (let i = 0; i < 3; i++) {
        localMs = Math.min(
          localMs,
          await timed(() => local.likelihood({ ...likelihood, tokens: data.tokens })),
        );
      }
      console.log(`memcap likelihood-1000-engine-in-process: ${localMs.toFixed(0)} ms`);
      console.log(`memcap likelihood-1000-engine: ${engineMs.toFixed(0)} ms`);
      console.log(`memcap likelihood-1000-http: ${httpMs.toFixed(0)} ms`);
      console.log(`ratio likelihood-http/engine: ${(httpMs / engineMs).toFixed(3)}`);
      await healthDuringTraining(base, model.id, ds.id);
    });
  }, () => new EngineProcess());
}

/** GET /v1/health latency over the socket for 10 s while a long run trains. */
async function healthDuringTraining(base: string, modelId: string, datasetId: string) {
  const run = await request(base, "POST", "/v1/runs", {
    modelId,
    datasetId,
    optimizer: { type: "adamw", lr: 1e-3 },
    batchSize: 64,
    steps: 100_000,
    evalEvery: 100_000,
  });
  for (let i = 0; i < 100; i++) {
    if ((await request(base, "GET", `/v1/runs/${run.id}`)).status === "running") break;
    await new Promise((res) => setTimeout(res, 100));
  }
  await new Promise((res) => setTimeout(res, 2000)); // the engine is into its steps
  const lat: number[] = [];
  const until = performance.now() + 10_000;
  try {
    while (performance.now() < until) {
      const t0 = performance.now();
      await request(base, "GET", "/v1/health");
      lat.push(performance.now() - t0);
      await new Promise((res) => setTimeout(res, 20));
    }
  } finally {
    await request(base, "POST", `/v1/runs/${run.id}/cancel`);
  }
  lat.sort((a, b) => a - b);
  console.log(
    `memcap health-during-training: p50 ${percentile(lat, 50).toFixed(1)} ms, p99 ${
      percentile(lat, 99).toFixed(1)
    } ms over ${lat.length} requests`,
  );
}
