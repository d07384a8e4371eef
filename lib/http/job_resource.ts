// The routes of a job collection, written once: POST creates a job (202, or
// 429 when the queue is full), GET lists them and reads one, /cancel stops
// one, DELETE removes a finished one, /events streams its progress (SSE). A
// route file gives what differs: the input and the checks before queueing,
// how a job reads as a response, the words of the document; and adds its
// own routes (a plot) to the router it gets back.
import { z } from "zod";
import { ApiError, ErrorBody, STORAGE_FULL_RESPONSE, UNAVAILABLE_RESPONSE } from "./errors.ts";
import { jobEventStream } from "./job_events.ts";
import { listPage } from "./list_page.ts";
import { ApiRouter, defineRoute, type ResponseSpec } from "./route.ts";
import {
  type Job,
  type JobBody,
  type JobCollection,
  jobFromRecord,
  type JobQueue,
  QueueFullError,
} from "../jobs/queue.ts";
import { JobAccepted } from "../jobs/schemas.ts";
import { ListQuery, pageSchema } from "../store/schemas.ts";
import { isValidId, type Store } from "../store/store.ts";

export interface JobResource<I, P, R, Out> {
  collection: JobCollection;
  /** The handler the queue runs it with (lib/jobs/engine_jobs.ts). */
  kind: string;
  /** "/v1/runs". */
  path: string;
  tag: string;
  /** What one job is called in messages and the document: "run", "capacity sweep". */
  noun: string;
  /** The id parameter's description: "Run id (run_...).". */
  idDescription: string;
  body: z.ZodType<I>;
  /** How a job reads in responses, and its schema. */
  present: (job: Job<I, P, R>) => Out;
  schema: z.ZodType<Out>;
  pageName: string;
  create: {
    summary: string;
    description: string;
    /** Statuses besides 202, 429, 503 and 507 (a 404 for missing references, the 422s). */
    responses: Record<number, ResponseSpec>;
    example?: unknown;
  };
  /** Summaries of the other routes; `events` also describes its events. */
  words: {
    list: string;
    get: string;
    cancel: string;
    cancelDescription?: string;
    events: string;
    eventsDescription: string;
  };
  /** Checks a request before it is queued (throws ApiError); returns the job's refs. */
  admit: (body: I) => Promise<string[] | undefined>;
}

export interface JobRoutes<I, P, R> {
  router: ApiRouter;
  /** The job of an id, or a 404 naming `params.id`. */
  find: (id: string) => Promise<Job<I, P, R>>;
}

export function jobResourceRoutes<I, P, R, Out>(
  spec: JobResource<I, P, R, Out>,
  deps: { store: Store; jobs: JobQueue },
): JobRoutes<I, P, R> {
  const { store, jobs } = deps;
  const { collection, noun, tag } = spec;
  const params = z.object({ id: z.string().describe(spec.idDescription) });
  const notFound = { schema: ErrorBody, description: `No such ${noun}` };
  const tags = [tag];
  const find = async (id: string): Promise<Job<I, P, R>> => {
    const job = isValidId(id, collection) ? await jobs.get<I, P, R>(collection, id) : null;
    if (!job) throw ApiError.notFound(`params.id: no ${noun} ${id}`);
    return job;
  };
  const create = defineRoute({
    method: "post",
    path: spec.path,
    summary: spec.create.summary,
    description: spec.create.description,
    tags,
    body: spec.body,
    responses: {
      202: { schema: JobAccepted, description: "Queued", example: spec.create.example },
      ...spec.create.responses,
      429: { schema: ErrorBody, description: "The job queue is full" },
      503: UNAVAILABLE_RESPONSE,
      507: STORAGE_FULL_RESPONSE,
    },
  });
  const list = defineRoute({
    method: "get",
    path: spec.path,
    summary: spec.words.list,
    tags,
    query: ListQuery,
    responses: {
      200: { schema: pageSchema(spec.schema, spec.pageName), description: "A page" },
    },
  });
  const get = defineRoute({
    method: "get",
    path: `${spec.path}/:id`,
    summary: spec.words.get,
    tags,
    params,
    responses: { 200: { schema: spec.schema, description: `The ${noun}` }, 404: notFound },
  });
  const cancel = defineRoute({
    method: "post",
    path: `${spec.path}/:id/cancel`,
    summary: spec.words.cancel,
    description: spec.words.cancelDescription,
    tags,
    params,
    responses: { 200: { schema: spec.schema, description: `The ${noun}` }, 404: notFound },
  });
  const remove = defineRoute({
    method: "delete",
    path: `${spec.path}/:id`,
    summary: `Delete a finished ${noun}`,
    tags,
    params,
    responses: {
      204: { description: "Deleted" },
      404: notFound,
      409: {
        schema: ErrorBody,
        description: `The ${noun} is still queued or running (cancel it first)`,
      },
    },
  });
  const events = defineRoute({
    method: "get",
    path: `${spec.path}/:id/events`,
    summary: spec.words.events,
    description: spec.words.eventsDescription,
    tags,
    params,
    responses: {
      200: { contentType: "text/event-stream", description: "An SSE stream" },
      404: notFound,
    },
  });
  const router = new ApiRouter()
    .add(create, async (c, { body }) => {
      const refs = await spec.admit(body as I);
      try {
        const job = await jobs.enqueue(collection, spec.kind, body, refs ? { refs } : {});
        return c.json({ id: job.id, status: job.status }, 202);
      } catch (err) {
        if (err instanceof QueueFullError) throw new ApiError(429, "queue_full", err.message);
        throw err;
      }
    })
    .add(list, async (c, { query }) =>
      c.json(
        await listPage<JobBody, Out>(
          store,
          collection,
          query,
          (rec) => spec.present(jobFromRecord(rec) as Job<I, P, R>),
        ),
        200,
      ))
    .add(get, async (c, { params }) => c.json(spec.present(await find(params.id)), 200))
    .add(cancel, async (c, { params }) => {
      await find(params.id);
      const job = await jobs.cancel(collection, params.id);
      return c.json(spec.present(job as Job<I, P, R>), 200);
    })
    .add(remove, async (c, { params }) => {
      const job = await find(params.id);
      if (job.status === "queued" || job.status === "running") {
        throw ApiError.conflict(`${noun} ${job.id} is ${job.status}; cancel it first`);
      }
      // The queue checks again, atomically: a sweep may have been queued again meanwhile.
      if (!(await jobs.delete(collection, job.id))) {
        throw ApiError.conflict(`${noun} ${job.id} was queued again; cancel it first`);
      }
      return c.body(null, 204);
    })
    .add(events, async (c, { params }) => {
      await find(params.id);
      return jobEventStream(c, jobs, () => find(params.id), spec.present);
    });
  return { router, find };
}
