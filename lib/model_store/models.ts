// Creating, saving and loading models. A model is a record in the `models` collection (shape,
// precision, provenance) plus its weights as the `weights.safetensors` artifact, always in the
// canonical form exportWeights writes (Hugging Face GPT-2 names, F32, memcap's metadata only),
// so a download uploaded again and downloaded once more gives the same bytes.
//
// Order of writes: weights first, then the record. A crash in between leaves an artifact
// folder without a record, which the store sweeps on open; a record never lacks its weights.
import type { Rec, Store } from "../store/store.ts";
import { parameterCount } from "../model/config.ts";
import type { ModelConfig } from "../model/schemas.ts";
import { initialParameters } from "../model/init.ts";
import {
  configFromMetadata,
  exportWeights,
  importWeights,
  WeightsError,
} from "../model/weights.ts";
import { tensorLayout } from "../model/layout.ts";
import type { Model, ModelBody, ModelCreateRequest, ModelOrigin } from "./schemas.ts";

/** The artifact holding a model's weights (safetensors). */
export const WEIGHTS_ARTIFACT = "weights.safetensors";

/** Hard cap on an uploaded weights file, whatever the model (2 GiB). */
export const MAX_WEIGHTS_UPLOAD_BYTES = 2 * 1024 ** 3;

/** The HTTP shape of a model record. */
export function modelResponse(rec: Rec<ModelBody>): Model {
  const b = rec.body;
  return {
    id: rec.id,
    config: b.config,
    precision: b.precision,
    seed: b.seed,
    parameterCount: b.parameterCount,
    trainedSteps: b.trainedSteps,
    createdFrom: b.createdFrom,
    ...(b.runId !== undefined ? { runId: b.runId } : {}),
    ...(b.copiedFrom !== undefined ? { copiedFrom: b.copiedFrom } : {}),
    createdAt: rec.createdAt,
    updatedAt: rec.updatedAt,
  };
}

/**
 * Initialises a model (seeded GPT-2 init), writes its weights, then creates the record.
 * The request must already be validated (ModelCreateRequest).
 */
export async function createModel(store: Store, req: ModelCreateRequest): Promise<Model> {
  const params = initialParameters(req.config, req.seed, req.precision);
  const bytes = exportWeights(req.config, params, req.precision);
  const body: ModelBody = {
    config: req.config,
    precision: req.precision,
    seed: req.seed,
    parameterCount: parameterCount(req.config),
    createdFrom: "init",
    trainedSteps: 0,
  };
  const id = store.newId("models");
  await store.putArtifact("models", id, WEIGHTS_ARTIFACT, bytes);
  let rec: Rec<ModelBody>;
  try {
    rec = await store.create<ModelBody>("models", body, { id });
  } catch (e) {
    await store.deleteArtifact("models", id, WEIGHTS_ARTIFACT).catch(() => {});
    throw e;
  }
  return modelResponse(rec);
}

/**
 * A new model with the weights, shape and training count of model `id` (a branch to train
 * on without touching the original); null when `id` does not exist. Weights first, then the
 * record, as createModel.
 */
export async function copyModel(store: Store, id: string): Promise<Model | null> {
  const rec = await store.get<ModelBody>("models", id);
  const bytes = rec && await store.getArtifact("models", id, WEIGHTS_ARTIFACT);
  if (!rec || !bytes) return null;
  const { runId: _, ...kept } = rec.body;
  const body: ModelBody = { ...kept, createdFrom: "copy", copiedFrom: id };
  const copyId = store.newId("models");
  await store.putArtifact("models", copyId, WEIGHTS_ARTIFACT, bytes);
  try {
    return modelResponse(await store.create<ModelBody>("models", body, { id: copyId }));
  } catch (e) {
    await store.deleteArtifact("models", copyId, WEIGHTS_ARTIFACT).catch(() => {});
    throw e;
  }
}

export async function getModel(store: Store, id: string): Promise<Model | null> {
  const rec = await store.get<ModelBody>("models", id);
  return rec ? modelResponse(rec) : null;
}

/**
 * The model and its parameters (logical layout, lib/model/layout.ts), or null when the model
 * or its weights do not exist.
 */
export async function loadModelWeights(
  store: Store,
  id: string,
): Promise<{ model: Model; params: Float32Array } | null> {
  const rec = await store.get<ModelBody>("models", id);
  if (!rec) return null;
  const bytes = await store.getArtifact("models", id, WEIGHTS_ARTIFACT);
  if (!bytes) return null;
  const { params } = importWeights(rec.body.config, bytes, { precision: rec.body.precision });
  return { model: modelResponse(rec), params };
}

/** What saveModelWeights changes in the record besides the weights. */
export interface ModelWeightsPatch {
  trainedSteps?: number;
  /** A run id, or null to drop the one recorded. */
  runId?: string | null;
  createdFrom?: ModelOrigin;
}

/**
 * Replaces a model's weights: writes the artifact atomically (canonical export at the model's
 * precision), then applies `patch` to the record. Null if the model does not exist (then
 * nothing stays written). Throws WeightsError when `params` has the wrong length.
 */
export async function saveModelWeights(
  store: Store,
  id: string,
  params: Float32Array,
  patch: ModelWeightsPatch = {},
): Promise<Model | null> {
  const rec = await store.get<ModelBody>("models", id);
  if (!rec) return null;
  const bytes = exportWeights(rec.body.config, params, rec.body.precision);
  await store.putArtifact("models", id, WEIGHTS_ARTIFACT, bytes);
  const updated = await store.atomicUpdate<ModelBody>("models", id, (cur) => {
    const body: ModelBody = { ...cur.body };
    if (patch.trainedSteps !== undefined) body.trainedSteps = patch.trainedSteps;
    if (patch.createdFrom !== undefined) body.createdFrom = patch.createdFrom;
    if (patch.runId === null) delete body.runId;
    else if (patch.runId !== undefined) body.runId = patch.runId;
    return { body };
  });
  if (!updated) {
    // Deleted while we wrote: do not leave the weights behind.
    await store.deleteArtifact("models", id, WEIGHTS_ARTIFACT).catch(() => {});
    return null;
  }
  return modelResponse(updated);
}

/**
 * Largest weights upload accepted for `config`: every tensor as F64, plus a tied
 * `lm_head.weight`, GPT-2's per-layer causal-mask buffers and a generous header, capped at
 * MAX_WEIGHTS_UPLOAD_BYTES.
 */
export function maxWeightsUploadBytes(config: ModelConfig): number {
  const { vocabSize: V, seqLen: S, layers: L, dModel: d } = config;
  const floats = parameterCount(config) + V * d + L * (S * S + 1);
  const tensors = tensorLayout(config).length + 1 + 2 * L;
  const header = 1024 * 1024 + 512 * tensors;
  return Math.min(MAX_WEIGHTS_UPLOAD_BYTES, 8 + header + 8 * floats);
}

function sameConfig(a: ModelConfig, b: ModelConfig): boolean {
  return a.vocabSize === b.vocabSize && a.seqLen === b.seqLen && a.layers === b.layers &&
    a.dModel === b.dModel && a.heads === b.heads;
}

/**
 * Replaces a model's weights with an uploaded safetensors file (Hugging Face GPT-2 names, as
 * importWeights accepts them). The file is validated against the model's shape, and when its
 * metadata carries a memcap config that config must match the model's. What is stored is the
 * canonical re-export, and the record then says `createdFrom: "upload"`, `trainedSteps: 0`.
 * Null if the model does not exist. Throws SafetensorsError (malformed file) or WeightsError
 * (naming the tensor that is missing, misshapen, non-finite or unexpected).
 */
export async function uploadModelWeights(
  store: Store,
  id: string,
  bytes: Uint8Array,
): Promise<Model | null> {
  const rec = await store.get<ModelBody>("models", id);
  if (!rec) return null;
  const { config, precision } = rec.body;
  const { params, metadata } = importWeights(config, bytes, { precision });
  const declared = configFromMetadata(metadata);
  if (declared && !sameConfig(declared, config)) {
    throw new WeightsError(
      `metadata "memcap.config" is ${JSON.stringify(declared)}; ` +
        `this model is ${JSON.stringify(config)}`,
    );
  }
  return await saveModelWeights(store, id, params, {
    createdFrom: "upload",
    trainedSteps: 0,
    runId: null,
  });
}
