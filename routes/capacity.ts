// Capacity sweeps, a job collection (lib/http/job_resource.ts): POST starts one (202), GET
// reads it, plot.svg draws the paper's Figure 1 for the model (memorized bits against
// dataset bits), /extend continues a sweep its token budget stopped. A sweep whose fleets
// cannot fit the adapter is refused before it is queued.
import { z } from "zod";
import type { AppDeps } from "../lib/http/deps.ts";
import {
  ApiError,
  ErrorBody,
  STORAGE_FULL_RESPONSE,
  UNAVAILABLE_RESPONSE,
  VALIDATION_STATUS,
} from "../lib/http/errors.ts";
import { jobResourceRoutes } from "../lib/http/job_resource.ts";
import { type ApiRouter, defineRoute } from "../lib/http/route.ts";
import { isTerminal, type Job, QueueFullError } from "../lib/jobs/queue.ts";
import { JobAccepted } from "../lib/jobs/schemas.ts";
import { canExtend } from "../lib/capacity/sweep_coordinator.ts";
import { planCapacity } from "../lib/capacity/plan.ts";
import {
  CapacityCreateRequest,
  CapacitySweep,
  type SweepProgress,
  type SweepResult,
} from "../lib/capacity/schemas.ts";
import type { Engine, FitQuery } from "../lib/engine_interface.ts";
import { parameterCount } from "../lib/model/config.ts";
import { capacityPlotSvg } from "../lib/plot/capacity_plot.ts";
import { admit, capacityCost, DEFAULT_BUDGETS } from "../lib/admission.ts";

const IdParams = z.object({ id: z.string().describe("Sweep id (cap_...).") });
type SweepJob = Job<CapacityCreateRequest, SweepProgress, SweepResult>;

/** Progress stored before phases and the ETA existed reads as training, with no estimate. */
function storedProgress(p: Partial<SweepProgress>): SweepProgress {
  return {
    phase: "training",
    stepsPlanned: p.step,
    elapsedSeconds: 0,
    etaSeconds: null,
    ...p,
  } as SweepProgress;
}

function sweepResponse(job: SweepJob): CapacitySweep {
  return {
    id: job.id,
    status: job.status,
    parameterCount: parameterCount(job.input.config),
    capacityBits: job.result?.capacityBits ?? null,
    bitsPerParameter: job.result?.bitsPerParameter ?? null,
    points: job.result?.points ?? null,
    verdict: job.result?.verdict ?? null,
    reasons: job.result?.reasons ?? null,
    input: job.input,
    progress: job.progress && storedProgress(job.progress),
    // Sweeps stored before resumedFrom, stoppedBy, tokensToGoOn or extendedFrom existed:
    // never resumed, end not recorded, never extended.
    result: job.result && {
      ...job.result,
      resumedFrom: job.result.resumedFrom ?? [],
      budget: {
        ...job.result.budget,
        stoppedBy: job.result.budget.stoppedBy ?? null,
        tokensToGoOn: job.result.budget.tokensToGoOn ?? null,
        extendedFrom: job.result.budget.extendedFrom ?? [],
      },
    },
    error: job.error,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
  };
}

const plotSweep = defineRoute({
  method: "get",
  path: "/v1/capacity/:id/plot.svg",
  summary: "Memorized bits against dataset bits (the paper's Figure 1 for this model)",
  tags: ["capacity"],
  params: IdParams,
  responses: {
    200: { contentType: "image/svg+xml", description: "An SVG figure" },
    404: { schema: ErrorBody, description: "No such sweep" },
    409: { schema: ErrorBody, description: "The sweep has not finished" },
  },
});

const ExtendRequest = z.object({
  tokenBudget: z.number().int().min(1).max(1e15).describe(
    "The sweep's new token budget (all its training, the tokens spent so far included); " +
      "more than the budget it stopped at.",
  ),
}).meta({ id: "CapacityExtendRequest", example: { tokenBudget: 2_000_000_000 } });

const extendSweep = defineRoute({
  method: "post",
  path: "/v1/capacity/:id/extend",
  summary: "Continue a sweep its token budget stopped, with a larger budget",
  description: 'A sweep with until: "certified" whose next training would have passed its ' +
    'tokenBudget ends lower-bound with result.budget.stoppedBy "token-budget" and keeps its ' +
    "unsaturated runs' states. This queues it again with the larger budget (at least " +
    "result.budget.tokensToGoOn): the same sweep id goes on from those states (nothing is " +
    "retrained). Its result stays, the answer it stopped at, until the new one replaces it; " +
    "result.budget.extendedFrom lists the budgets it stopped at. The new result is the one a " +
    "single sweep with the larger budget would have reached. An extension that failed or was " +
    "cancelled can be extended again.",
  tags: ["capacity"],
  params: IdParams,
  body: ExtendRequest,
  responses: {
    202: { schema: JobAccepted, description: "Queued again" },
    404: { schema: ErrorBody, description: "No such sweep" },
    409: {
      schema: ErrorBody,
      description: "The sweep is queued or running, has no result, or something other than " +
        "its token budget stopped it (result.budget.stoppedBy)",
    },
    422: {
      schema: ErrorBody,
      description: "tokenBudget does not pay for the training the sweep stopped short of " +
        "(below result.budget.tokensToGoOn, or not above its budget), or is over a budget of " +
        "the service (`over_budget`)",
    },
    429: { schema: ErrorBody, description: "The job queue is full" },
    503: UNAVAILABLE_RESPONSE,
    507: STORAGE_FULL_RESPONSE,
  },
});

/**
 * Why sweep `job` cannot go on to `tokenBudget` (409: not ended, nothing to go on from, or
 * something other than its budget stopped it; 422: a budget that does not pay for the
 * training it stopped short of), or null when it can.
 */
function extendRefusal(
  job: Job<CapacityCreateRequest, unknown, SweepResult>,
  tokenBudget: number,
): ApiError | null {
  const name = `capacity sweep ${job.id}`;
  if (!isTerminal(job.status)) {
    return ApiError.conflict(`${name} is ${job.status}; extend it once it has ended`);
  }
  const b = job.result?.budget;
  if (!b) return ApiError.conflict(`${name} is ${job.status} with no result to go on from`);
  if (!b.stoppedBy) {
    return ApiError.conflict(
      `${name} ended before sweeps recorded what stopped them, and kept no runs to go on ` +
        "from: start a new sweep with the larger tokenBudget",
      { stoppedBy: null },
    );
  }
  if (!canExtend(job.result!)) {
    return ApiError.conflict(
      `${name} was not stopped by its token budget (stoppedBy: ${b.stoppedBy}` +
        `${b.stopped ? `: ${b.stopped}` : ""}); more budget would not change its answer`,
      { stoppedBy: b.stoppedBy },
    );
  }
  const least = Math.max(b.tokenBudget! + 1, b.tokensToGoOn ?? 0);
  if (tokenBudget < least) {
    return new ApiError(
      VALIDATION_STATUS,
      "validation_error",
      `body.tokenBudget: ${tokenBudget} does not pay for the training the sweep stopped short ` +
        `of (${b.stopped}): give at least ${least}`,
      { issues: [{ path: "body.tokenBudget", code: "too_small", message: `at least ${least}` }] },
    );
  }
  return null;
}

/**
 * Refuses, before queueing, a sweep whose fleets cannot fit the adapter: the
 * job would only fail once it starts. The largest fleet is the first one,
 * min(maxFleetSize, trainings) models side by side (planCapacity). When even
 * one model does not fit, the config is at fault (422 on body.config);
 * otherwise the fleet is too large, and the message says the largest
 * maxFleetSize that fits (also in details.largestFleetSize).
 */
async function checkSweepFits(engine: Engine, body: CapacityCreateRequest): Promise<void> {
  const misfit = (fleetSize: number) =>
    fitError(engine, {
      config: body.config,
      fleetSize,
      batchSize: body.training.batchSize,
      training: true,
      precision: body.precision,
    });
  const fleetSize = Math.max(...planCapacity(body).fleets.map((f) => f.length));
  const err = await misfit(fleetSize);
  if (!err) return;
  const alone = fleetSize === 1 ? err : await misfit(1);
  if (alone) throw new ApiError(422, "too_large", `body.config: ${alone.message}`);
  // Fleet memory grows with its size, so the sizes that fit are 1..k: binary search for k.
  let lo = 1, hi = fleetSize - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (await misfit(mid)) hi = mid - 1;
    else lo = mid;
  }
  throw new ApiError(
    422,
    "too_large",
    `body.maxFleetSize: a fleet of ${fleetSize} models does not fit (${err.message}); the ` +
      `largest fleet that fits is ${lo}: set maxFleetSize to ${lo} or less`,
    { largestFleetSize: lo },
  );
}

/** The RangeError checkFits throws for a shape that cannot fit, or null when it fits. */
async function fitError(engine: Engine, q: FitQuery): Promise<RangeError | null> {
  try {
    await engine.checkFits(q);
    return null;
  } catch (err) {
    if (err instanceof RangeError) return err;
    throw err;
  }
}

export function capacityRouter(
  deps: Required<Pick<AppDeps, "store" | "jobs">> & AppDeps,
): ApiRouter {
  const { router, find } = jobResourceRoutes<
    CapacityCreateRequest,
    SweepProgress,
    SweepResult,
    CapacitySweep
  >({
    collection: "capacity",
    kind: "capacity",
    path: "/v1/capacity",
    tag: "capacity",
    noun: "capacity sweep",
    idDescription: "Sweep id (cap_...).",
    body: CapacityCreateRequest,
    present: sweepResponse,
    schema: CapacitySweep,
    pageName: "CapacitySweepPage",
    create: {
      summary: "Start a capacity sweep (a job)",
      description: "Trains one model of `config` per dataset size and seed on uniform random " +
        "tokens, in fleets, each until it saturates or `training.maxSteps`; reports memorized " +
        "bits per size, the plateau (capacity) and bits per parameter.",
      example: { id: "cap_01jz3k5q7r8s9t0v1w2x", status: "queued" },
      responses: {
        422: {
          schema: ErrorBody,
          description: "Invalid input, or too large for the GPU adapter (`too_large`): " +
            "`body.config` when one model does not fit, `body.maxFleetSize` when the fleet " +
            "does not (`details.largestFleetSize` says what fits); or over a budget of the " +
            "service (`over_budget`: host memory, training tokens or disk, see " +
            "lib/admission.ts)",
        },
      },
    },
    words: {
      list: "List capacity sweeps, newest first",
      get: "One capacity sweep: status, points, capacityBits, bitsPerParameter",
      cancel: "Cancel a capacity sweep",
      events: "Progress of a capacity sweep as Server-Sent Events",
      eventsDescription: "Events: `status` (the whole CapacitySweep, on every change of " +
        "state) and `progress` (CapacityProgress: models done of planned, the fleet and its " +
        "step, tokens/s). The stream starts with the current state and ends when the sweep " +
        "ends.",
    },
    admit: async (body) => {
      const budgets = deps.budgets ?? DEFAULT_BUDGETS;
      admit(capacityCost(body, budgets), budgets);
      if (deps.engine) await checkSweepFits(deps.engine, body);
      return undefined;
    },
  }, deps);
  router.add(extendSweep, async (c, { params, body }) => {
    const job = await find(params.id);
    const refusal = extendRefusal(job, body.tokenBudget);
    if (refusal) throw refusal;
    const input = { ...job.input, tokenBudget: body.tokenBudget };
    const budgets = deps.budgets ?? DEFAULT_BUDGETS;
    try {
      admit(capacityCost(input, budgets), budgets);
    } catch (err) {
      // Only tokenBudget is this request's; any other field over a budget is the sweep's own.
      const field = (err as ApiError).details as { field?: string } | undefined;
      if (err instanceof ApiError && field?.field !== "body.tokenBudget") {
        throw new ApiError(
          err.status,
          err.code,
          `the sweep's request: ${err.message}`,
          err.details,
        );
      }
      throw err;
    }
    let reopened;
    try {
      // Checked again in the same compare-and-set that queues it: nothing changed meanwhile.
      reopened = await deps.jobs.reopen<CapacityCreateRequest, SweepResult>(
        "capacity",
        job.id,
        input,
        (now) => extendRefusal(now, body.tokenBudget) === null,
      );
    } catch (err) {
      if (err instanceof QueueFullError) throw new ApiError(429, "queue_full", err.message);
      throw err;
    }
    if (!reopened?.reopened) {
      throw ApiError.conflict(
        `capacity sweep ${job.id} is ${reopened?.job.status ?? "gone"}: another request ` +
          "changed it first",
      );
    }
    return c.json({ id: job.id, status: reopened.job.status }, 202);
  });
  return router.add(plotSweep, async (c, { params }) => {
    const job = await find(params.id);
    if (!job.result) {
      throw ApiError.conflict(`capacity sweep ${job.id} is ${job.status}; no result to plot`);
    }
    const cfg = job.input.config;
    const svg = capacityPlotSvg(job.result, {
      title: `${cfg.layers} layer${cfg.layers > 1 ? "s" : ""}, d=${cfg.dModel}, ` +
        `V=${cfg.vocabSize}, S=${cfg.seqLen}, ${job.input.precision}`,
    });
    return c.body(svg, 200, { "content-type": "image/svg+xml; charset=utf-8" });
  });
}
