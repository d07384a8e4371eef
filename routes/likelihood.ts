// POST /v1/models/{id}/likelihood: per-sequence NLL in bits (tokens 2..S).
import { z } from "zod";
import type { AppDeps } from "../lib/http/deps.ts";
import { ApiError, ErrorBody, UNAVAILABLE_RESPONSE } from "../lib/http/errors.ts";
import { ApiRouter, defineRoute } from "../lib/http/route.ts";
import { LikelihoodRequest, LikelihoodResponse } from "../lib/likelihood/schemas.ts";
import type { Engine } from "../lib/engine_interface.ts";
import type { Store } from "../lib/store/store.ts";
import { isValidId } from "../lib/store/store.ts";
import { getDataset, loadDatasetTokens } from "../lib/datasets/dataset.ts";
import { admit, type Budgets, datasetUseCost } from "../lib/admission.ts";
import { TokenValidationError, validateSequences } from "../lib/datasets/tokens.ts";
import { loadModelWeights } from "../lib/model_store/models.ts";
import type { Model } from "../lib/model_store/schemas.ts";

const likelihood = defineRoute({
  method: "post",
  path: "/v1/models/:id/likelihood",
  summary: "Negative log-likelihood of sequences, in bits",
  description: "For a stored dataset or sequences in the body: -log2 p of tokens 2..S given " +
    "their prefixes, per sequence (and per token when asked).",
  tags: ["models"],
  params: z.object({ id: z.string() }),
  body: LikelihoodRequest,
  responses: {
    200: { schema: LikelihoodResponse, description: "Code lengths in bits" },
    404: { schema: ErrorBody, description: "No such model or dataset" },
    503: UNAVAILABLE_RESPONSE,
  },
});

export async function loadModelOr404(store: Store, id: string, field: string) {
  const found = isValidId(id, "models") ? await loadModelWeights(store, id) : null;
  if (!found) throw ApiError.notFound(`${field}: no model ${id}`);
  return found;
}

/**
 * A stored dataset's tokens: 404 naming `field` when missing, 422 when it does not fit the model
 * or loading it would pass the host memory budget (checked from its record, before loading).
 */
export async function datasetFor(
  store: Store,
  model: Model,
  id: string,
  field: string,
  budgets?: Budgets,
  perToken = false,
) {
  const rec = isValidId(id, "datasets") ? await getDataset(store, id) : null;
  if (rec) admit(datasetUseCost(rec, field, perToken), budgets);
  const ds = rec ? await loadDatasetTokens(store, id) : null;
  if (!ds) throw ApiError.notFound(`${field}: no dataset ${id}`);
  const cfg = model.config;
  if (ds.vocabSize !== cfg.vocabSize || ds.seqLen !== cfg.seqLen) {
    throw new ApiError(
      422,
      "dataset_mismatch",
      `${field}: dataset has vocabSize ${ds.vocabSize} and seqLen ${ds.seqLen}, the model ` +
        `vocabSize ${cfg.vocabSize} and seqLen ${cfg.seqLen}`,
    );
  }
  return ds;
}

/** Token ids of a stored dataset or body sequences, checked against the model. */
export async function tokensFor(
  store: Store,
  model: Model,
  src: { datasetId?: string; sequences?: number[][] },
  budgets?: Budgets,
  perToken = false,
): Promise<Uint32Array> {
  const cfg = model.config;
  if (src.datasetId !== undefined) {
    return (await datasetFor(store, model, src.datasetId, "body.datasetId", budgets, perToken))
      .tokens;
  }
  try {
    const v = validateSequences(src.sequences, cfg.vocabSize);
    if (v.seqLen !== cfg.seqLen) {
      throw new ApiError(
        422,
        "validation_error",
        `body.sequences[0]: ${v.seqLen} tokens, the model's seqLen is ${cfg.seqLen}`,
      );
    }
    return v.tokens;
  } catch (err) {
    if (err instanceof TokenValidationError) {
      throw new ApiError(422, "validation_error", `body.${err.message}`);
    }
    throw err;
  }
}

export function likelihoodRouter(
  deps: Required<Pick<AppDeps, "store" | "engine">> & AppDeps,
): ApiRouter {
  const { store, engine } = deps;
  return new ApiRouter().add(likelihood, async (c, { params, body }) => {
    const { model, params: weights } = await loadModelOr404(store, params.id, "params.id");
    const tokens = await tokensFor(store, model, body, deps.budgets, body.perToken);
    const scored = await scoreSequences(
      engine,
      model,
      weights,
      tokens,
      body.perToken,
      c.get("signal"),
    );
    return c.json(scored, 200);
  });
}

export async function scoreSequences(
  engine: Engine,
  model: Model,
  weights: Float32Array,
  tokens: Uint32Array,
  perToken: boolean,
  signal?: AbortSignal,
): Promise<LikelihoodResponse> {
  const S = model.config.seqLen;
  const r = await engine.likelihood({
    config: model.config,
    precision: model.precision,
    params: weights,
    tokens,
    perToken,
  }, signal);
  const count = r.bits.length;
  const totalBits = r.bits.reduce((a, b) => a + b, 0);
  const out: LikelihoodResponse = {
    modelId: model.id,
    count,
    seqLen: S,
    tokensCounted: "2..S",
    bits: Array.from(r.bits),
    totalBits,
    bitsPerToken: totalBits / (count * (S - 1)),
  };
  if (perToken && r.tokenBits) {
    out.perToken = Array.from(
      { length: count },
      (_, i) => Array.from(r.tokenBits!.subarray(i * (S - 1), (i + 1) * (S - 1))),
    );
  }
  return out;
}
