// A JobHost outside the service, for benchmarks and tests that run a GPU job
// in-process: artifacts (checkpoints) live in a Map the caller may keep to
// resume the job, progress goes to an optional callback, and the job has no
// store to read models or datasets from.
import type { JobHost } from "../engine.ts";

export interface MemoryHostOptions<P> {
  /** Artifacts by name; pass the same Map again (with resumed) to continue a job. */
  artifacts?: Map<string, Uint8Array>;
  resumed?: boolean;
  /** Called with every progress report; a throw ends the job there (a test's fault). */
  onProgress?: (p: P) => void;
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
    loadModel: () => Promise.resolve(null),
    loadDataset: () => Promise.resolve(null),
    saveModelWeights: () => Promise.reject(new Error("an in-memory job host stores no models")),
  };
}
