// The JobHost of a job running in this process: the job queue's context and
// the store behind it.
import type { JobHost } from "../engine_interface.ts";
import type { JobCollection, JobContext } from "./queue.ts";
import { loadDatasetTokens } from "../datasets/dataset.ts";
import { loadModelWeights, saveModelWeights } from "../model_store/models.ts";

export function storeHost<I, P>(ctx: JobContext<I, P>): JobHost<I, P> {
  const store = ctx.store;
  const collection: JobCollection = ctx.collection;
  return {
    id: ctx.id,
    input: ctx.input,
    resumed: ctx.resumed,
    throwIfAborted: () => ctx.throwIfAborted(),
    progress: (p, opts) => ctx.progress(p, opts),
    getArtifact: (name) => store.getArtifact(collection, ctx.id, name),
    putArtifact: async (name, bytes) => {
      await store.putArtifact(collection, ctx.id, name, bytes);
    },
    deleteArtifact: async (name) => {
      await store.deleteArtifact(collection, ctx.id, name);
    },
    loadModel: (id) => loadModelWeights(store, id),
    loadDataset: (id) => loadDatasetTokens(store, id),
    saveModelWeights: async (id, params, patch) => {
      const saved = await saveModelWeights(store, id, params, patch);
      if (!saved) throw new Error(`model ${id} no longer exists`);
    },
  };
}
