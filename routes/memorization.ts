// POST /v1/memorization: total, unintended and generalization bits of a
// dataset under a trained model against a reference (uniform or a model).
import { z } from "zod";
import type { AppDeps } from "../lib/http/deps.ts";
import { ApiError, ErrorBody, UNAVAILABLE_RESPONSE } from "../lib/http/errors.ts";
import { ApiRouter, defineRoute } from "../lib/http/route.ts";
import {
  memorizationFromBits,
  toMemorizationResult,
  uniformSequenceBits,
} from "../lib/memorization/memorization.ts";
import { MemorizationReference, MemorizationResult } from "../lib/memorization/schemas.ts";
import { tfidfView } from "../lib/privacy/memorized_samples.ts";
import { getDataset } from "../lib/datasets/dataset.ts";
import { loadModelOr404, tokensFor } from "./likelihood.ts";

const MemorizationRequest = z.object({
  modelId: z.string().describe("The trained model θ."),
  datasetId: z.string().describe("The samples to measure (usually its training set)."),
  reference: MemorizationReference.default({ kind: "uniform" }),
  tfidf: z.boolean().default(false).describe(
    "Also report per-sample TF-IDF, its Spearman correlation with unintended memorization " +
      "and the 10 most memorized samples (Morris et al. 2025: those have high TF-IDF).",
  ),
  perSample: z.boolean().default(false).describe(
    "Also return the per-sample arrays (N values each, TF-IDF's too with `tfidf`); off by " +
      "default so that a response stays small for large datasets.",
  ),
}).meta({
  id: "MemorizationRequest",
  example: {
    modelId: "mdl_01jz3k5q7r8s9t0v1w2x",
    datasetId: "ds_01jz3k5q7r8s9t0v1w2x",
    reference: { kind: "uniform" },
  },
});

const memorization = defineRoute({
  method: "post",
  path: "/v1/memorization",
  summary: "Memorization of a dataset by a model, in bits",
  description: "Per sample x (code lengths over tokens 2..S): unintended = max(0, NLL_ref(x) - " +
    "NLL_θ(x)); total = max(0, (S-1)·log2 V - min(NLL_θ, NLL_ref)); generalization = total - " +
    "unintended. The paper's S/(S-1) convention is reported beside.",
  tags: ["memorization"],
  body: MemorizationRequest,
  responses: {
    200: { schema: MemorizationResult, description: "Bits memorized" },
    404: { schema: ErrorBody, description: "No such model or dataset" },
    503: UNAVAILABLE_RESPONSE,
  },
});

export function memorizationRouter(
  deps: Required<Pick<AppDeps, "store" | "engine">> & AppDeps,
): ApiRouter {
  const { store, engine } = deps;
  return new ApiRouter().add(memorization, async (c, { body }) => {
    const trained = await loadModelOr404(store, body.modelId, "body.modelId");
    const cfg = trained.model.config;
    const tokens = await tokensFor(
      store,
      trained.model,
      { datasetId: body.datasetId },
      deps.budgets,
    );
    const score = async (m: typeof trained) =>
      (await engine.likelihood({
        config: m.model.config,
        precision: m.model.precision,
        params: m.params,
        tokens,
      }, c.get("signal"))).bits;
    const modelBits = await score(trained);
    const uniformBits = uniformSequenceBits(cfg.seqLen, cfg.vocabSize);
    let referenceBits: Float64Array;
    if (body.reference.kind === "uniform") {
      referenceBits = new Float64Array(modelBits.length).fill(uniformBits);
    } else {
      const ref = await loadModelOr404(store, body.reference.modelId, "body.reference.modelId");
      const rc = ref.model.config;
      if (rc.vocabSize !== cfg.vocabSize || rc.seqLen !== cfg.seqLen) {
        throw new ApiError(
          422,
          "model_mismatch",
          `body.reference.modelId: the reference has vocabSize ${rc.vocabSize} and seqLen ` +
            `${rc.seqLen}, the model vocabSize ${cfg.vocabSize} and seqLen ${cfg.seqLen}`,
        );
      }
      referenceBits = await score(ref);
    }
    const m = memorizationFromBits({ modelBits, referenceBits, uniformBits, seqLen: cfg.seqLen });
    const result = toMemorizationResult(m, {
      reference: body.reference,
      modelId: body.modelId,
      datasetId: body.datasetId,
    });
    const kind = body.reference.kind === "uniform"
      ? (await getDataset(store, body.datasetId))?.kind
      : undefined;
    if (kind !== undefined && kind !== "uniform") {
      // Against the uniform code every bit the model learned about the data's distribution
      // counts as unintended: right for uniform random tokens, not for text.
      result.warnings = [
        `reference: body.datasetId is a ${kind} dataset, not uniform random tokens; against ` +
        "the uniform reference, what the model learned about its distribution (generalization) " +
        'counts as unintended memorization. Pass reference {"kind": "model", "modelId": ...}, ' +
        "a model trained on other data from the same distribution, to separate the two.",
      ];
    }
    if (body.tfidf) {
      const view = tfidfView(tokens, cfg.seqLen, m.perSample.unintended);
      result.perSample!.tfidf = view.tfidf;
      result.spearmanTfidfUnintended = view.spearmanTfidfUnintended;
      result.topMemorized = view.topMemorized;
    }
    if (!body.perSample) delete result.perSample;
    return c.json(result, 200);
  });
}
