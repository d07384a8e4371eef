// POST /v1/extraction: greedy decoding from prefixes of the training sequences and of
// held-out ones, side by side: how much of its training set a model gives back verbatim,
// against what it would produce anyway. Computed in the request, like likelihood.
import type { AppDeps } from "../lib/http/deps.ts";
import {
  ApiError,
  ErrorBody,
  UNAVAILABLE_RESPONSE,
  VALIDATION_STATUS,
} from "../lib/http/errors.ts";
import { ApiRouter, defineRoute } from "../lib/http/route.ts";
import {
  checkPrefixLengths,
  defaultPrefixLength,
  firstSequences,
} from "../lib/privacy/extraction.ts";
import {
  type DecodedSet,
  ExtractionRequest,
  ExtractionResult,
  extractionResult,
} from "../lib/privacy/schemas.ts";
import { datasetFor, loadModelOr404 } from "./likelihood.ts";

const extraction = defineRoute({
  method: "post",
  path: "/v1/extraction",
  summary: "Extraction by greedy decoding: train vs held-out exact-suffix-match rates",
  description: "For each prefix length p and each of the first maxSequences sequences: give " +
    "the model tokens 1..p, decode tokens p+1..S greedily (argmax, ties to the lowest id, its " +
    "own outputs fed back) and compare with the true suffix. `exactMatchRate` counts whole " +
    "suffixes, `tokenMatchRate` single positions. On the training set beside a held-out set " +
    "of the same distribution: only the excess over held-out is extraction of memorized data " +
    "(Morris et al. 2025: on large deduplicated sets the two are equal). Synchronous.",
  tags: ["extraction"],
  body: ExtractionRequest,
  responses: {
    200: { schema: ExtractionResult, description: "Match rates per prefix length" },
    404: { schema: ErrorBody, description: "No such model or dataset" },
    503: UNAVAILABLE_RESPONSE,
  },
});

export function extractionRouter(
  deps: Required<Pick<AppDeps, "store" | "engine">> & AppDeps,
): ApiRouter {
  const { store, engine } = deps;
  return new ApiRouter().add(extraction, async (c, { body }) => {
    const { model, params } = await loadModelOr404(store, body.modelId, "body.modelId");
    const S = model.config.seqLen;
    const prefixLengths = body.prefixLengths ?? [defaultPrefixLength(S)];
    try {
      checkPrefixLengths(prefixLengths, S);
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      throw new ApiError(VALIDATION_STATUS, "validation_error", `body.${err.message}`);
    }
    const train = await datasetFor(
      store,
      model,
      body.trainDatasetId,
      "body.trainDatasetId",
      deps.budgets,
    );
    if (body.heldOutDatasetId === body.trainDatasetId) {
      throw new ApiError(
        VALIDATION_STATUS,
        "validation_error",
        "body.heldOutDatasetId: the same dataset as the training set; give held-out sequences",
      );
    }
    const heldOut = body.heldOutDatasetId === undefined ? null : await datasetFor(
      store,
      model,
      body.heldOutDatasetId,
      "body.heldOutDatasetId",
      deps.budgets,
    );
    const decode = async (tokens: Uint32Array): Promise<DecodedSet> => {
      const truth = firstSequences(tokens, S, body.maxSequences);
      const { sequences } = await engine.greedyDecode({
        config: model.config,
        precision: model.precision,
        params,
        tokens: truth,
        prefixLengths,
      }, c.get("signal"));
      return { truth, decoded: sequences };
    };
    const trainSet = await decode(train.tokens);
    const heldOutSet = heldOut ? await decode(heldOut.tokens) : null;
    return c.json(
      extractionResult(body, S, prefixLengths, trainSet, heldOutSet),
      200,
    );
  });
}
