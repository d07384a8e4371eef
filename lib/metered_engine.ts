// An Engine that counts what it does into the metrics: wall time of jobs,
// likelihood and greedy-decoding requests, and training tokens from the jobs' progress reports
// (their `tokensTrained`: tokens processed in this attempt).
import type { Engine, JobHost, JobKind } from "./engine_interface.ts";
import type { Metrics } from "./metrics.ts";

export function meteredEngine(engine: Engine, metrics: Metrics): Engine {
  const timed = async <T>(kind: string, work: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await work();
    } finally {
      metrics.gpuSeconds.inc({ kind }, (performance.now() - t0) / 1000);
    }
  };
  return {
    gpu: () => engine.gpu(),
    checkFits: (q) => engine.checkFits(q),
    likelihood: (req, signal) => timed("likelihood", () => engine.likelihood(req, signal)),
    greedyDecode: (req, signal) => timed("greedyDecode", () => engine.greedyDecode(req, signal)),
    runJob: (kind: JobKind, host: JobHost) => {
      let counted = 0;
      const counting: JobHost = {
        ...host,
        progress: (p, opts) => {
          const tokens = (p as { tokensTrained?: number } | null)?.tokensTrained;
          if (typeof tokens === "number" && tokens > counted) {
            metrics.tokensTrained.inc({ kind }, tokens - counted);
            counted = tokens;
          } else if (typeof tokens === "number" && tokens < counted) {
            counted = tokens; // a new attempt (resumed after an engine restart) starts at 0
          }
          return host.progress(p, opts);
        },
      };
      return timed(kind, () => engine.runJob(kind, counting));
    },
  };
}
