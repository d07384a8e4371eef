// The JobHost of a job running in this process: the job queue's context and
// the store behind it.
import type { JobHost } from "../engine_interface.ts";
import type { JobContext } from "./queue.ts";
import type { Collection } from "../store/store.ts";
import { loadDatasetTokens } from "../datasets/dataset.ts";
import { loadModelWeights, saveModelWeights } from "../model_store/models.ts";

/**
 * `artifactsOf` puts the job's artifacts on another record: a sweep's fleet keeps its
 * checkpoints and outcomes on the sweep's, where the sweep and its later fleets find them.
 */
export function storeHost<I, P>(
  ctx: JobContext<I, P>,
  artifactsOf: { collection: Collection; id: string } = ctx,
): JobHost<I, P> {
  const store = ctx.store;
  const { collection, id } = artifactsOf;
  return {
    id: ctx.id,
    input: ctx.input,
    resumed: ctx.resumed,
    throwIfAborted: () => ctx.throwIfAborted(),
    progress: (p, opts) => ctx.progress(p, opts),
    getArtifact: (name) => store.getArtifact(collection, id, name),
    putArtifact: async (name, bytes) => {
      await store.putArtifact(collection, id, name, bytes);
    },
    deleteArtifact: async (name) => {
      await store.deleteArtifact(collection, id, name);
    },
    loadModel: (id) => loadModelWeights(store, id),
    loadDataset: (id) => loadDatasetTokens(store, id),
    saveModelWeights: async (id, params, patch) => {
      const saved = await saveModelWeights(store, id, params, patch);
      if (!saved) throw new Error(`model ${id} no longer exists`);
    },
  };
}
