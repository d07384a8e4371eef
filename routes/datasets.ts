// /v1/datasets: create (uniform random, uploaded tokens, or text: the Brown corpus or uploaded
// text), list, read, page through the sequences (decoded to text for text datasets), read a
// text dataset's compact vocabulary, delete. The building and storing is lib/datasets; this
// file is HTTP only.

import { z } from "zod";
import {
  createDataset,
  datasetResponse,
  getDataset,
  loadVocabulary,
  NotTextDatasetError,
  readSequences,
} from "../lib/datasets/dataset.ts";
import {
  Dataset,
  type DatasetBody,
  DatasetCreateRequest,
  DatasetSequences,
  DatasetSequencesQuery,
  DatasetVocabulary,
} from "../lib/datasets/schemas.ts";
import { vocabularyHash } from "../lib/datasets/text.ts";
import { tokenizer } from "../lib/datasets/text_tokenizer.ts";
import { TokenValidationError } from "../lib/datasets/tokens.ts";
import type { AppDeps } from "../lib/http/deps.ts";
import {
  ApiError,
  ErrorBody,
  STORAGE_FULL_RESPONSE,
  VALIDATION_STATUS,
} from "../lib/http/errors.ts";
import { ApiRouter, defineRoute } from "../lib/http/route.ts";
import { listPage } from "../lib/http/list_page.ts";
import { admit, datasetCost, DEFAULT_BUDGETS } from "../lib/admission.ts";
import {
  ACTIVE_STATUSES,
  isJobCollection,
  type JobCollection,
  type JobStatus,
} from "../lib/jobs/queue.ts";
import { ListQuery, pageSchema } from "../lib/store/schemas.ts";
import type { Store } from "../lib/store/store.ts";

export const DatasetPage = pageSchema(Dataset, "DatasetPage");

const IdParams = z.object({
  id: z.string().describe("The dataset's id (ds_...)."),
});

const notFound = { schema: ErrorBody, description: "No dataset with this id" };
const inUse = { schema: ErrorBody, description: "An active job (queued or running) uses it" };

export const createDatasetRoute = defineRoute({
  method: "post",
  path: "/v1/datasets",
  summary: "Create a dataset",
  description: "Uniform random tokens (seeded), your own token ids, or text: the Brown corpus " +
    "or your own text (at most 8 MiB), tokenized (GPT-2 BPE or bytes), cut into sequences of " +
    "`seqLen` tokens, exactly deduplicated, the vocabulary compacted to the ids that occur, " +
    "shuffled (seeded) and split into disjoint train and held-out pools. At most 2^28 tokens " +
    "(count·seqLen) per dataset; larger requests are refused with 422 naming `body.count`. " +
    "The first Brown request of a process tokenizes the corpus (about a second).",
  tags: ["datasets"],
  body: DatasetCreateRequest,
  responses: {
    201: { schema: Dataset, description: "The new dataset" },
    422: {
      schema: ErrorBody,
      description: "Invalid input, or over a budget of the service (`over_budget`: the " +
        "file's size against MEMCAP_MAX_REQUEST_DISK_MB)",
    },
    507: STORAGE_FULL_RESPONSE,
  },
});

export const listDatasetsRoute = defineRoute({
  method: "get",
  path: "/v1/datasets",
  summary: "List datasets, newest first",
  tags: ["datasets"],
  query: ListQuery,
  responses: { 200: { schema: DatasetPage, description: "A page of datasets" } },
});

export const getDatasetRoute = defineRoute({
  method: "get",
  path: "/v1/datasets/:id",
  summary: "One dataset",
  tags: ["datasets"],
  params: IdParams,
  responses: { 200: { schema: Dataset, description: "The dataset" }, 404: notFound },
});

export const getDatasetSequencesRoute = defineRoute({
  method: "get",
  path: "/v1/datasets/:id/sequences",
  summary: "A page of a dataset's token sequences",
  description: "Sequences [offset, offset+limit); an offset at or past the end gives none. " +
    "With `decode=true` (text datasets only; 422 otherwise) also the text of each sequence.",
  tags: ["datasets"],
  params: IdParams,
  query: DatasetSequencesQuery,
  responses: { 200: { schema: DatasetSequences, description: "The sequences" }, 404: notFound },
});

export const getDatasetVocabularyRoute = defineRoute({
  method: "get",
  path: "/v1/datasets/:id/vocabulary",
  summary: "A text dataset's compact vocabulary",
  description: "The tokenizer id of each compact id. 404 for datasets other than text.",
  tags: ["datasets"],
  params: IdParams,
  responses: {
    200: { schema: DatasetVocabulary, description: "The compact vocabulary" },
    404: notFound,
  },
});

export const deleteDatasetRoute = defineRoute({
  method: "delete",
  path: "/v1/datasets/:id",
  summary: "Delete a dataset and its tokens",
  tags: ["datasets"],
  params: IdParams,
  responses: { 204: { description: "Deleted" }, 404: notFound, 409: inUse },
});

/** Active jobs (queued or running) whose refs include `id`. */
async function activeJobsUsing(
  deps: AppDeps,
  store: Store,
  id: string,
): Promise<{ id: string; collection: JobCollection; status: JobStatus }[]> {
  if (deps.jobs) {
    return (await deps.jobs.activeJobsUsing(id)).map((j) => ({
      id: j.id,
      collection: j.collection,
      status: j.status,
    }));
  }
  return (await store.referencing(id))
    .filter((r) =>
      isJobCollection(r.collection) &&
      (ACTIVE_STATUSES as readonly (string | null)[]).includes(r.status)
    )
    .map((r) => ({
      id: r.id,
      collection: r.collection as JobCollection,
      status: r.status as JobStatus,
    }));
}

/** Throws a 409 naming the jobs when an active job still uses record `id`. */
export async function refuseWhileInUse(
  deps: AppDeps,
  store: Store,
  id: string,
  what: string,
): Promise<void> {
  const jobs = await activeJobsUsing(deps, store, id);
  if (jobs.length === 0) return;
  const names = jobs.slice(0, 5).map((j) => `${j.id} (${j.status})`).join(", ");
  const more = jobs.length > 5 ? ` and ${jobs.length - 5} more` : "";
  throw ApiError.conflict(
    `${what} ${id} is used by ${jobs.length === 1 ? "an active job" : "active jobs"}: ` +
      `${names}${more}; cancel ${jobs.length === 1 ? "it" : "them"} or wait until done`,
    { jobs },
  );
}

function datasetNotFound(id: string): ApiError {
  return ApiError.notFound(`params.id: no dataset ${id}`);
}

export function datasetsRouter(deps: AppDeps & { store: Store }): ApiRouter {
  const store = deps.store;
  return new ApiRouter()
    .add(createDatasetRoute, async (c, { body }) => {
      admit(datasetCost(body), deps.budgets ?? DEFAULT_BUDGETS);
      try {
        return c.json(await createDataset(store, body), 201);
      } catch (e) {
        if (e instanceof TokenValidationError) {
          throw new ApiError(VALIDATION_STATUS, "validation_error", `body.${e.message}`, {
            issues: [{ path: `body.${e.field}`, code: "custom", message: e.detail }],
          });
        }
        throw e;
      }
    })
    .add(listDatasetsRoute, async (c, { query }) => {
      return c.json(
        await listPage<DatasetBody, Dataset>(store, "datasets", query, datasetResponse),
      );
    })
    .add(getDatasetRoute, async (c, { params }) => {
      const ds = await getDataset(store, params.id);
      if (!ds) throw datasetNotFound(params.id);
      return c.json(ds, 200);
    })
    .add(getDatasetSequencesRoute, async (c, { params, query }) => {
      let page;
      try {
        page = await readSequences(store, params.id, query.offset, query.limit, {
          decode: query.decode,
        });
      } catch (e) {
        if (e instanceof NotTextDatasetError) {
          throw new ApiError(VALIDATION_STATUS, "validation_error", `query.decode: ${e.message}`, {
            issues: [{ path: "query.decode", code: "custom", message: e.message }],
          });
        }
        throw e;
      }
      if (!page) throw datasetNotFound(params.id);
      return c.json(page, 200);
    })
    .add(getDatasetVocabularyRoute, async (c, { params }) => {
      const ds = await getDataset(store, params.id);
      if (!ds) throw datasetNotFound(params.id);
      const vocab = await loadVocabulary(store, params.id);
      if (!vocab) {
        throw ApiError.notFound(
          `params.id: dataset ${params.id} is a ${ds.kind} dataset; only text datasets have ` +
            "a vocabulary",
        );
      }
      return c.json({
        id: params.id,
        tokenizer: vocab.tokenizer,
        size: vocab.ids.length,
        tokenizerVocabSize: tokenizer(vocab.tokenizer).vocabSize,
        hash: vocabularyHash(vocab),
        ids: Array.from(vocab.ids),
      }, 200);
    })
    .add(deleteDatasetRoute, async (c, { params }) => {
      if (!(await store.get("datasets", params.id))) throw datasetNotFound(params.id);
      await refuseWhileInUse(deps, store, params.id, "dataset");
      if (!(await store.delete("datasets", params.id))) throw datasetNotFound(params.id);
      return c.body(null, 204);
    });
}
