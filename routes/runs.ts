// Training runs: POST starts a job (202), GET reads it, /events streams its
// progress as Server-Sent Events, /cancel stops it.
import { z } from "zod";
import type { AppDeps } from "../lib/http/deps.ts";
import {
  ApiError,
  ErrorBody,
  STORAGE_FULL_RESPONSE,
  UNAVAILABLE_RESPONSE,
} from "../lib/http/errors.ts";
import { jobEventStream } from "../lib/http/job_events.ts";
import { ApiRouter, defineRoute } from "../lib/http/route.ts";
import { type Job, type JobBody, jobFromRecord, QueueFullError } from "../lib/jobs/queue.ts";
import { listPage } from "./datasets.ts";
import { JobAccepted } from "../lib/jobs/schemas.ts";
import { ListQuery, pageSchema } from "../lib/store/schemas.ts";
import { isValidId } from "../lib/store/store.ts";
import { getDataset } from "../lib/datasets/dataset.ts";
import { getModel } from "../lib/model_store/models.ts";
import { Run, RunCreateRequest, type RunProgress, type RunResult } from "../lib/runs/schemas.ts";
import { admit, DEFAULT_BUDGETS, runCost } from "../lib/admission.ts";

const IdParams = z.object({ id: z.string().describe("Run id (run_...).") });

export function runResponse(job: Job<RunCreateRequest, RunProgress, RunResult>): Run {
  return {
    id: job.id,
    status: job.status,
    step: job.result?.steps ?? job.progress?.step ?? 0,
    loss: job.result?.finalLoss ?? job.progress?.loss ?? null,
    memorizedBits: job.result?.memorizedBits ?? job.progress?.memorizedBits ?? null,
    modelId: job.input.modelId,
    datasetId: job.input.datasetId,
    input: job.input,
    progress: job.progress,
    // Runs stored before resumedFromSteps existed are reported as never resumed.
    result: job.result && { ...job.result, resumedFromSteps: job.result.resumedFromSteps ?? [] },
    error: job.error,
    attempts: job.attempts,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
  };
}

const createRun = defineRoute({
  method: "post",
  path: "/v1/runs",
  summary: "Start a training run (a job)",
  description: "Trains `modelId` on `datasetId`; the model's weights are replaced by the " +
    "trained ones when the run succeeds. Poll `GET /v1/runs/{id}` or stream `/events`.",
  tags: ["runs"],
  body: RunCreateRequest,
  responses: {
    202: { schema: JobAccepted, description: "Queued" },
    404: { schema: ErrorBody, description: "No such model or dataset" },
    422: {
      schema: ErrorBody,
      description: "Invalid input, a dataset that does not fit the model, a batchSize too " +
        "large for the GPU adapter (`too_large`), or over a budget of the service " +
        "(`over_budget`: host memory, training tokens or disk); the message names the field",
    },
    429: { schema: ErrorBody, description: "The job queue is full" },
    503: UNAVAILABLE_RESPONSE,
    507: STORAGE_FULL_RESPONSE,
  },
});

const listRuns = defineRoute({
  method: "get",
  path: "/v1/runs",
  summary: "List runs, newest first",
  tags: ["runs"],
  query: ListQuery,
  responses: { 200: { schema: pageSchema(Run, "RunPage"), description: "A page of runs" } },
});

const getRun = defineRoute({
  method: "get",
  path: "/v1/runs/:id",
  summary: "One run: status, step, loss, memorized bits so far",
  tags: ["runs"],
  params: IdParams,
  responses: {
    200: { schema: Run, description: "The run" },
    404: { schema: ErrorBody, description: "No such run" },
  },
});

const runEvents = defineRoute({
  method: "get",
  path: "/v1/runs/:id/events",
  summary: "Progress of a run as Server-Sent Events",
  description: "Events: `status` (the whole Run, on every change of state) and `progress` " +
    "(RunProgress). The stream starts with the current state and ends when the run ends.",
  tags: ["runs"],
  params: IdParams,
  responses: {
    200: { contentType: "text/event-stream", description: "An SSE stream" },
    404: { schema: ErrorBody, description: "No such run" },
  },
});

const cancelRun = defineRoute({
  method: "post",
  path: "/v1/runs/:id/cancel",
  summary: "Cancel a run",
  description: "A queued run is cancelled at once; a running one stops at its next progress " +
    "read. A finished run is returned unchanged.",
  tags: ["runs"],
  params: IdParams,
  responses: {
    200: { schema: Run, description: "The run" },
    404: { schema: ErrorBody, description: "No such run" },
  },
});

const deleteRun = defineRoute({
  method: "delete",
  path: "/v1/runs/:id",
  summary: "Delete a finished run",
  tags: ["runs"],
  params: IdParams,
  responses: {
    204: { description: "Deleted" },
    404: { schema: ErrorBody, description: "No such run" },
    409: { schema: ErrorBody, description: "The run is still queued or running (cancel it first)" },
  },
});

type RunJob = Job<RunCreateRequest, RunProgress, RunResult>;

export function runsRouter(deps: Required<Pick<AppDeps, "store" | "jobs">> & AppDeps): ApiRouter {
  const { store, jobs } = deps;
  const find = async (id: string): Promise<RunJob> => {
    const job = isValidId(id, "runs") ? await jobs.get("runs", id) : null;
    if (!job) throw ApiError.notFound(`params.id: no run ${id}`);
    return job as RunJob;
  };
  return new ApiRouter()
    .add(createRun, async (c, { body }) => {
      const model = isValidId(body.modelId, "models") ? await getModel(store, body.modelId) : null;
      if (!model) throw ApiError.notFound(`body.modelId: no model ${body.modelId}`);
      const ds = isValidId(body.datasetId, "datasets")
        ? await getDataset(store, body.datasetId)
        : null;
      if (!ds) throw ApiError.notFound(`body.datasetId: no dataset ${body.datasetId}`);
      const cfg = model.config;
      if (ds.vocabSize !== cfg.vocabSize || ds.seqLen !== cfg.seqLen) {
        throw new ApiError(
          422,
          "dataset_mismatch",
          `body.datasetId: dataset has vocabSize ${ds.vocabSize} and seqLen ${ds.seqLen}, the ` +
            `model vocabSize ${cfg.vocabSize} and seqLen ${cfg.seqLen}`,
        );
      }
      admit(runCost(body, model, ds), deps.budgets ?? DEFAULT_BUDGETS);
      if (deps.engine) {
        try {
          await deps.engine.checkFits({
            config: cfg,
            fleetSize: 1,
            batchSize: body.batchSize,
            training: true,
            precision: model.precision,
          });
        } catch (err) {
          if (err instanceof RangeError) {
            throw new ApiError(422, "too_large", `body.batchSize: ${err.message}`);
          }
          throw err;
        }
      }
      try {
        const job = await jobs.enqueue("runs", "train", body, {
          refs: [body.modelId, body.datasetId],
        });
        return c.json({ id: job.id, status: job.status }, 202);
      } catch (err) {
        if (err instanceof QueueFullError) throw new ApiError(429, "queue_full", err.message);
        throw err;
      }
    })
    .add(listRuns, async (c, { query }) =>
      c.json(
        await listPage<JobBody, Run>(
          store,
          "runs",
          query,
          (rec) => runResponse(jobFromRecord(rec) as RunJob),
        ),
        200,
      ))
    .add(getRun, async (c, { params }) => c.json(runResponse(await find(params.id)), 200))
    .add(cancelRun, async (c, { params }) => {
      await find(params.id);
      const job = await jobs.cancel("runs", params.id);
      return c.json(runResponse(job as RunJob), 200);
    })
    .add(deleteRun, async (c, { params }) => {
      const job = await find(params.id);
      if (job.status === "queued" || job.status === "running") {
        throw ApiError.conflict(`run ${job.id} is ${job.status}; cancel it first`);
      }
      await store.delete("runs", job.id);
      return c.body(null, 204);
    })
    .add(runEvents, async (c, { params }) => {
      await find(params.id);
      return jobEventStream(c, jobs, () => find(params.id), runResponse);
    });
}
