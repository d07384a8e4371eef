// A JobHost outside the service, for benchmarks and tests that run a GPU job
// in-process: artifacts (checkpoints) live in a Map the caller may keep to
// resume the job, progress goes to an optional callback, and models, datasets
// and trained weights are Maps too.
import type { JobHost, JobModel } from "../engine_interface.ts";
import type { Dataset } from "../datasets/codec.ts";

export interface MemoryHostOptions<P> {
  /** Artifacts by name; pass the same Map again (with resumed) to continue a job. */
  artifacts?: Map<string, Uint8Array>;
  resumed?: boolean;
  /** Called with every progress report; a throw ends the job there (a test's fault). */
  onProgress?: (p: P) => void;
  /** What loadModel and loadDataset find, by id. */
  models?: Map<string, JobModel>;
  datasets?: Map<string, Dataset>;
  /** Where saveModelWeights puts trained parameters, by model id. */
  savedWeights?: Map<string, Float32Array>;
}

export function memoryJobHost<I, P>(input: I, o: MemoryHostOptions<P> = {}): JobHost<I, P> {
  const artifacts = o.artifacts ?? new Map<string, Uint8Array>();
  return {
    id: "in-memory",
    input,
    resumed: o.resumed ?? false,
    throwIfAborted() {},
    progress: (p) => Promise.resolve(o.onProgress?.(p)),
    getArtifact: (name) => Promise.resolve(artifacts.get(name) ?? null),
    putArtifact: (name, bytes) => Promise.resolve(void artifacts.set(name, bytes)),
    deleteArtifact: (name) => Promise.resolve(void artifacts.delete(name)),
    loadModel: (id) => Promise.resolve(o.models?.get(id) ?? null),
    loadDataset: (id) => Promise.resolve(o.datasets?.get(id) ?? null),
    saveModelWeights: (id, params) =>
      o.savedWeights
        ? Promise.resolve(void o.savedWeights.set(id, params))
        : Promise.reject(new Error("this in-memory job host keeps no weights")),
  };
}
