// Training runs, a job collection (lib/http/job_resource.ts): POST starts one (202), GET
// reads it, /events streams its progress as Server-Sent Events, /cancel stops it. What is
// particular to runs: the model and dataset must exist and fit each other and the adapter.
import type { AppDeps } from "../lib/http/deps.ts";
import { ApiError, ErrorBody } from "../lib/http/errors.ts";
import { jobResourceRoutes } from "../lib/http/job_resource.ts";
import type { ApiRouter } from "../lib/http/route.ts";
import type { Job } from "../lib/jobs/queue.ts";
import { isValidId } from "../lib/store/store.ts";
import { getDataset } from "../lib/datasets/dataset.ts";
import { getModel } from "../lib/model_store/models.ts";
import { Run, RunCreateRequest, type RunProgress, type RunResult } from "../lib/runs/schemas.ts";
import { admit, DEFAULT_BUDGETS, runCost } from "../lib/admission.ts";

type RunJob = Job<RunCreateRequest, RunProgress, RunResult>;

/** Progress stored before phases and the ETA existed reads as training, with no estimate. */
function storedProgress(p: Partial<RunProgress>): RunProgress {
  return { phase: "training", elapsedSeconds: 0, etaSeconds: null, ...p } as RunProgress;
}

export function runResponse(job: RunJob): Run {
  return {
    id: job.id,
    status: job.status,
    step: job.result?.steps ?? job.progress?.step ?? 0,
    loss: job.result?.finalLoss ?? job.progress?.loss ?? null,
    memorizedBits: job.result?.memorizedBits ?? job.progress?.memorizedBits ?? null,
    modelId: job.input.modelId,
    datasetId: job.input.datasetId,
    input: job.input,
    progress: job.progress && storedProgress(job.progress),
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

export function runsRouter(deps: Required<Pick<AppDeps, "store" | "jobs">> & AppDeps): ApiRouter {
  const { store } = deps;
  return jobResourceRoutes<RunCreateRequest, RunProgress, RunResult, Run>({
    collection: "runs",
    kind: "train",
    path: "/v1/runs",
    tag: "runs",
    noun: "run",
    idDescription: "Run id (run_...).",
    body: RunCreateRequest,
    present: runResponse,
    schema: Run,
    pageName: "RunPage",
    create: {
      summary: "Start a training run (a job)",
      description: "Trains `modelId` on `datasetId`; the model's weights are replaced by the " +
        "trained ones when the run succeeds. Poll `GET /v1/runs/{id}` or stream `/events`.",
      responses: {
        404: { schema: ErrorBody, description: "No such model or dataset" },
        422: {
          schema: ErrorBody,
          description: "Invalid input, a dataset that does not fit the model, a batchSize too " +
            "large for the GPU adapter (`too_large`), or over a budget of the service " +
            "(`over_budget`: host memory, training tokens or disk); the message names the field",
        },
      },
    },
    words: {
      list: "List runs, newest first",
      get: "One run: status, step, loss, memorized bits so far",
      cancel: "Cancel a run",
      cancelDescription: "A queued run is cancelled at once; a running one stops at its next " +
        "progress read. A finished run is returned unchanged.",
      events: "Progress of a run as Server-Sent Events",
      eventsDescription: "Events: `status` (the whole Run, on every change of state) and " +
        "`progress` (RunProgress). The stream starts with the current state and ends when the " +
        "run ends.",
    },
    admit: async (body) => {
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
      return [body.modelId, body.datasetId];
    },
  }, deps).router;
}
