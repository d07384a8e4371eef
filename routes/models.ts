// /v1/models: create (seeded GPT-2 init), list, read, delete, and the weights as safetensors
// with Hugging Face GPT-2 names (download, upload). Storing and (de)serialising is lib/model_store;
// this file is HTTP only.

import { z } from "zod";
import type { AppDeps } from "../lib/http/deps.ts";
import {
  ApiError,
  bodyReadError,
  ErrorBody,
  STORAGE_FULL_RESPONSE,
  VALIDATION_STATUS,
} from "../lib/http/errors.ts";
import { ApiRouter, defineRoute } from "../lib/http/route.ts";
import { admit, DEFAULT_BUDGETS, modelCost } from "../lib/admission.ts";
import { WeightsError } from "../lib/model/weights.ts";
import {
  copyModel,
  createModel,
  getModel,
  MAX_WEIGHTS_UPLOAD_BYTES,
  maxWeightsUploadBytes,
  Model,
  type ModelBody,
  ModelCreateRequest,
  ModelPage,
  modelResponse,
  uploadModelWeights,
  WEIGHTS_ARTIFACT,
} from "../lib/model_store/mod.ts";
import { SafetensorsError } from "../lib/safetensors.ts";
import { ListQuery } from "../lib/store/schemas.ts";
import type { Store } from "../lib/store/store.ts";
import { refuseWhileInUse } from "./datasets.ts";
import { listPage } from "../lib/http/list_page.ts";

const IdParams = z.object({
  id: z.string().describe("The model's id (mdl_...)."),
});

const notFound = { schema: ErrorBody, description: "No model with this id" };
const inUse = { schema: ErrorBody, description: "An active job (queued or running) uses it" };
const SAFETENSORS = "application/octet-stream";

export const createModelRoute = defineRoute({
  method: "post",
  path: "/v1/models",
  summary: "Create a model with seeded GPT-2 initial weights",
  description: "Weights N(0, 0.02), residual projections N(0, 0.02/√(2L)), biases 0, " +
    "LayerNorm 1/0, from `seed`. A shape that cannot train on this server's GPU is refused " +
    "with 422 naming `body.config`.",
  tags: ["models"],
  body: ModelCreateRequest,
  responses: {
    201: { schema: Model, description: "The new model" },
    503: { schema: ErrorBody, description: "The GPU is unavailable, so the fit cannot be checked" },
    507: STORAGE_FULL_RESPONSE,
  },
});

export const listModelsRoute = defineRoute({
  method: "get",
  path: "/v1/models",
  summary: "List models, newest first",
  tags: ["models"],
  query: ListQuery,
  responses: { 200: { schema: ModelPage, description: "A page of models" } },
});

export const copyModelRoute = defineRoute({
  method: "post",
  path: "/v1/models/:id/copy",
  summary: "Copy a model (a branch to train without changing the original)",
  description: "A new model with the same shape, precision, weights and trainedSteps; " +
    '`createdFrom` is "copy" and `copiedFrom` names the original.',
  tags: ["models"],
  params: IdParams,
  responses: {
    201: { schema: Model, description: "The copy" },
    404: notFound,
    507: STORAGE_FULL_RESPONSE,
  },
});

export const getModelRoute = defineRoute({
  method: "get",
  path: "/v1/models/:id",
  summary: "One model",
  tags: ["models"],
  params: IdParams,
  responses: { 200: { schema: Model, description: "The model" }, 404: notFound },
});

export const deleteModelRoute = defineRoute({
  method: "delete",
  path: "/v1/models/:id",
  summary: "Delete a model and its weights",
  tags: ["models"],
  params: IdParams,
  responses: { 204: { description: "Deleted" }, 404: notFound, 409: inUse },
});

export const getModelWeightsRoute = defineRoute({
  method: "get",
  path: "/v1/models/:id/weights",
  summary: "Download the weights (safetensors, Hugging Face GPT-2 names)",
  description: "Tensors `transformer.wte.weight`, `transformer.wpe.weight`, " +
    "`transformer.h.{i}.{ln_1,attn.c_attn,attn.c_proj,ln_2,mlp.c_fc,mlp.c_proj}.{weight,bias}` " +
    "(Conv1D layout [in, out]) and `transformer.ln_f.{weight,bias}`, all F32; `lm_head` is " +
    "tied to `wte` and not stored, so `GPT2LMHeadModel.from_pretrained` loads the file. " +
    "The metadata holds the memcap config and precision.",
  tags: ["models"],
  params: IdParams,
  responses: {
    200: { contentType: SAFETENSORS, description: "The safetensors file" },
    404: notFound,
  },
});

export const putModelWeightsRoute = defineRoute({
  method: "put",
  path: "/v1/models/:id/weights",
  summary: "Replace the weights with a safetensors file",
  description: "Accepts what the download gives and Hugging Face GPT-2 checkpoints of the " +
    "same shape (F32, BF16, F16 or F64; names with or without `transformer.`; a tied " +
    "`lm_head.weight` and the `attn.bias` buffers are tolerated). A missing, misshapen, " +
    "non-finite or unexpected tensor is a 422 naming it. The weights are stored in the " +
    "download's canonical form (F32; a bf16 or bf16-pure model's values rounded to bf16), and " +
    'the model then reports `createdFrom: "upload"` and `trainedSteps: 0`. Refused with 409 ' +
    "while an active job uses the model.",
  tags: ["models"],
  params: IdParams,
  rawBody: { contentType: SAFETENSORS, description: "A safetensors file." },
  maxBodyBytes: MAX_WEIGHTS_UPLOAD_BYTES,
  responses: {
    200: { schema: Model, description: "The model with its new weights" },
    404: notFound,
    409: inUse,
    422: { schema: ErrorBody, description: "Not a valid weights file for this model" },
    507: STORAGE_FULL_RESPONSE,
  },
});

function modelNotFound(id: string): ApiError {
  return ApiError.notFound(`params.id: no model ${id}`);
}

function tooLarge(maxBytes: number): ApiError {
  return new ApiError(
    413,
    "payload_too_large",
    `Request body exceeds ${maxBytes} bytes, the most a weights file of this model can take`,
    { maxBytes },
  );
}

/** Reads a request body of at most `maxBytes` bytes (413 beyond). */
async function readBody(req: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  if (!req.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read().catch((err) => {
      throw bodyReadError(err);
    });
    if (done) break;
    size += value.length;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let off = 0;
  for (const ch of chunks) {
    out.set(ch, off);
    off += ch.length;
  }
  return out;
}

export function modelsRouter(deps: AppDeps & { store: Store }): ApiRouter {
  const store = deps.store;
  return new ApiRouter()
    .add(createModelRoute, async (c, { body }) => {
      admit(modelCost(body.config), deps.budgets ?? DEFAULT_BUDGETS);
      try {
        await deps.engine?.checkFits({
          config: body.config,
          fleetSize: 1,
          batchSize: 1,
          training: true,
          precision: body.precision,
        });
      } catch (e) {
        if (e instanceof RangeError) {
          throw new ApiError(VALIDATION_STATUS, "validation_error", `body.config: ${e.message}`, {
            issues: [{ path: "body.config", code: "too_big", message: e.message }],
          });
        }
        // Anything else means the check could not run (e.g. no WebGPU adapter): the model
        // could not be trained here either, so say so instead of storing it unchecked.
        throw new ApiError(
          503,
          "gpu_unavailable",
          `Cannot check that the model fits the GPU: ${e instanceof Error ? e.message : e}`,
        );
      }
      return c.json(await createModel(store, body), 201);
    })
    .add(listModelsRoute, async (c, { query }) => {
      return c.json(await listPage<ModelBody, Model>(store, "models", query, modelResponse));
    })
    .add(getModelRoute, async (c, { params }) => {
      const model = await getModel(store, params.id);
      if (!model) throw modelNotFound(params.id);
      return c.json(model, 200);
    })
    .add(copyModelRoute, async (c, { params }) => {
      const copy = await copyModel(store, params.id);
      if (!copy) throw modelNotFound(params.id);
      return c.json(copy, 201);
    })
    .add(deleteModelRoute, async (c, { params }) => {
      if (!(await store.get("models", params.id))) throw modelNotFound(params.id);
      await refuseWhileInUse(deps, store, params.id, "model");
      if (!(await store.delete("models", params.id))) throw modelNotFound(params.id);
      return c.body(null, 204);
    })
    .add(getModelWeightsRoute, async (c, { params }) => {
      if (!(await store.get("models", params.id))) throw modelNotFound(params.id);
      const file = await store.artifactStream("models", params.id, WEIGHTS_ARTIFACT);
      if (!file) throw modelNotFound(params.id); // deleted meanwhile
      return c.body(file.stream, 200, {
        "content-type": SAFETENSORS,
        "content-length": String(file.size),
        "content-disposition": `attachment; filename="${params.id}.safetensors"`,
      });
    })
    .add(putModelWeightsRoute, async (c, { params }) => {
      const rec = await store.get<ModelBody>("models", params.id);
      if (!rec) throw modelNotFound(params.id);
      await refuseWhileInUse(deps, store, params.id, "model");
      const bytes = await readBody(c.req.raw, maxWeightsUploadBytes(rec.body.config));
      if (bytes.length === 0) {
        throw new ApiError(
          VALIDATION_STATUS,
          "validation_error",
          "body: send the safetensors file as the request body",
        );
      }
      let model: Model | null;
      try {
        model = await uploadModelWeights(store, params.id, bytes);
      } catch (e) {
        if (e instanceof WeightsError || e instanceof SafetensorsError) {
          throw new ApiError(VALIDATION_STATUS, "invalid_weights", `body: ${e.message}`);
        }
        throw e;
      }
      if (!model) throw modelNotFound(params.id);
      return c.json(model, 200);
    });
}
