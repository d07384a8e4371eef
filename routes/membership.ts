// Membership inference (loss-threshold attack): POST scores a members and a non-members
// dataset under a stored model and keeps the result; GET reads it back, roc.svg draws it.
import { z } from "zod";
import type { AppDeps } from "../lib/http/deps.ts";
import {
  ApiError,
  ErrorBody,
  STORAGE_FULL_RESPONSE,
  UNAVAILABLE_RESPONSE,
  VALIDATION_STATUS,
} from "../lib/http/errors.ts";
import { ApiRouter, defineRoute } from "../lib/http/route.ts";
import {
  type MembershipBody,
  membershipBody,
  MembershipPage,
  MembershipRequest,
  MembershipResult,
} from "../lib/privacy/schemas.ts";
import { rocPlotSvg } from "../lib/plot/roc_plot.ts";
import { ListQuery } from "../lib/store/schemas.ts";
import { isValidId, type Rec } from "../lib/store/store.ts";
import { listPage } from "../lib/http/list_page.ts";
import { datasetFor, loadModelOr404 } from "./likelihood.ts";

const IdParams = z.object({ id: z.string().describe("Result id (mia_...).") });

const createRoute = defineRoute({
  method: "post",
  path: "/v1/membership",
  summary: "Loss-threshold membership inference of a model on members vs non-members",
  description: "Scores every sequence of both datasets by its NLL in bits (tokens 2..S) under " +
    "the model and predicts member when NLL ≤ a threshold. Both datasets must match the " +
    "model's vocabSize and seqLen and hold the same number of sequences: F1 depends on the " +
    "class balance, so it is measured on a balanced set. `f1` is the best over thresholds " +
    "(floor 2/3: call everything a member); `balanced.f1` flags exactly `count` sequences, " +
    "where 0.5 is chance, as in the paper and /v1/predict. Also the ROC AUC (ties count half) " +
    "and TPR at FPR 1% and 0.1%. Computed in the request; the result is stored.",
  tags: ["membership"],
  body: MembershipRequest,
  responses: {
    201: { schema: MembershipResult, description: "The attack's result (stored)" },
    404: { schema: ErrorBody, description: "No such model or dataset" },
    503: UNAVAILABLE_RESPONSE,
    507: STORAGE_FULL_RESPONSE,
  },
});

const listRoute = defineRoute({
  method: "get",
  path: "/v1/membership",
  summary: "List membership-inference results, newest first",
  tags: ["membership"],
  query: ListQuery,
  responses: { 200: { schema: MembershipPage, description: "A page" } },
});

const getRoute = defineRoute({
  method: "get",
  path: "/v1/membership/:id",
  summary: "One membership-inference result",
  tags: ["membership"],
  params: IdParams,
  responses: {
    200: { schema: MembershipResult, description: "The result" },
    404: { schema: ErrorBody, description: "No such result" },
  },
});

const rocRoute = defineRoute({
  method: "get",
  path: "/v1/membership/:id/roc.svg",
  summary: "The ROC curve of a membership-inference result, with the chance diagonal",
  tags: ["membership"],
  params: IdParams,
  responses: {
    200: { contentType: "image/svg+xml", description: "An SVG figure" },
    404: { schema: ErrorBody, description: "No such result" },
  },
});

const deleteRoute = defineRoute({
  method: "delete",
  path: "/v1/membership/:id",
  summary: "Delete a membership-inference result",
  tags: ["membership"],
  params: IdParams,
  responses: {
    204: { description: "Deleted" },
    404: { schema: ErrorBody, description: "No such result" },
  },
});

function toResult(rec: Rec<MembershipBody>): MembershipResult {
  return { id: rec.id, createdAt: rec.createdAt, ...rec.body };
}

export function membershipRouter(
  deps: Required<Pick<AppDeps, "store" | "engine">> & AppDeps,
): ApiRouter {
  const { store, engine } = deps;
  const find = async (id: string): Promise<Rec<MembershipBody>> => {
    const rec = isValidId(id, "membership")
      ? await store.get<MembershipBody>("membership", id)
      : null;
    if (!rec) throw ApiError.notFound(`params.id: no membership result ${id}`);
    return rec;
  };
  return new ApiRouter()
    .add(createRoute, async (c, { body }) => {
      const { model, params } = await loadModelOr404(store, body.modelId, "body.modelId");
      const members = await datasetFor(
        store,
        model,
        body.membersDatasetId,
        "body.membersDatasetId",
        deps.budgets,
      );
      const nonMembers = await datasetFor(
        store,
        model,
        body.nonMembersDatasetId,
        "body.nonMembersDatasetId",
        deps.budgets,
      );
      if (body.nonMembersDatasetId === body.membersDatasetId) {
        throw new ApiError(
          VALIDATION_STATUS,
          "validation_error",
          "body.nonMembersDatasetId: the same dataset as the members; give held-out sequences",
        );
      }
      if (nonMembers.count !== members.count) {
        throw new ApiError(
          VALIDATION_STATUS,
          "count_mismatch",
          `body.nonMembersDatasetId: ${nonMembers.count} sequences, the members dataset ` +
            `${members.count}; F1 is measured on a balanced set, give as many of each`,
        );
      }
      const nll = async (tokens: Uint32Array) =>
        (await engine.likelihood({
          config: model.config,
          precision: model.precision,
          params,
          tokens,
        }, c.get("signal"))).bits;
      const result = membershipBody(body, await nll(members.tokens), await nll(nonMembers.tokens));
      const rec = await store.create<MembershipBody>("membership", result, {
        refs: [body.modelId, body.membersDatasetId, body.nonMembersDatasetId],
      });
      return c.json(toResult(rec), 201);
    })
    .add(
      listRoute,
      async (c, { query }) =>
        c.json(
          await listPage<MembershipBody, MembershipResult>(store, "membership", query, toResult),
          200,
        ),
    )
    .add(getRoute, async (c, { params }) => c.json(toResult(await find(params.id)), 200))
    .add(rocRoute, async (c, { params }) => {
      const r = (await find(params.id)).body;
      const svg = rocPlotSvg(r, {
        title: `Membership inference on ${r.modelId}: ${r.count} + ${r.count} sequences`,
      });
      return c.body(svg, 200, { "content-type": "image/svg+xml; charset=utf-8" });
    })
    .add(deleteRoute, async (c, { params }) => {
      const rec = await find(params.id);
      await store.delete("membership", rec.id);
      return c.body(null, 204);
    });
}
