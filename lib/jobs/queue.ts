// A durable job queue over the Store interface (runs and capacity sweeps).
//
// A job *is* its record: a run is a record in `runs`, a sweep one in
// `capacity`; the record's indexed `status` is the job state and its body
// holds the kind, input, progress, result and error. GET /v1/runs/{id} reads
// the same record the worker writes.
//
// Why not Deno KV's enqueue/listenQueue: its delivery is at-least-once with
// its own retry policy and no ordering or exclusive-claim guarantee, a queued
// message cannot be inspected, counted (queue depth, 429) or withdrawn
// (cancel), listenQueue may be called once per KV handle, and a PostgreSQL
// store has no such primitive. Instead the durable state is the record and
// its status index, changed only by atomic compare-and-set updates:
//   enqueue: create(status "queued")          -- acknowledged = durable
//   claim:   queued -> running (CAS; the oldest queued id first, ids sort by time)
//   finish:  running -> succeeded | failed | cancelled (CAS)
//   start(): running -> queued for jobs a crashed process left behind; the
//            handler is then told `resumed` and gets the last persisted progress.
//   reopen:  ended -> queued with a new input (a sweep given more budget; CAS),
//            resumed like the above; delete() marks a job `deleting` (CAS on
//            its ended status) first, so a reopen and a delete never both win.
// In this process a wake-up signal starts a claim as soon as a job is enqueued
// or a slot frees; a slow poll (pollMs) also picks up jobs written by anyone
// else. On a shared store with signals (PostgreSQL's LISTEN/NOTIFY) every
// enqueue also wakes the other nodes, so an idle one claims at once.
//
// Leases (several nodes on one database): a claim also writes
// `lease: { node, until }` into the body (until = now + leaseMs), and while the
// job runs (with `shared`) a heartbeat renews it every leaseMs/3 with a CAS that only succeeds
// while the lease is still this node's. A renewal that finds another node's
// lease (or the job no longer running) means this node lost the job: it aborts
// the handler (JobInterruptedError) and writes nothing more; the finish CAS
// checks the lease too, so a node that lost a job never overwrites the new
// owner's record. With `shared: false` (one node per store, the default)
// start() re-queues every running job, as they are all orphans after a
// restart. With `shared: true` other live nodes may hold running jobs, so
// start() leaves them alone; instead each poll re-queues running jobs whose
// lease expired (or that have none and were not updated for leaseMs) through
// the same recovery path (counted, bounded by maxRecoveries), and the node that
// claims one next resumes it from its last checkpoint. The lease is internal:
// jobFromRecord leaves it out, so no API response shows it.

import {
  type Collection,
  compareIds,
  ConflictError,
  NOTIFY_PAYLOAD_BYTES,
  type Page,
  type Rec,
  type Store,
} from "../store/store.ts";
import { isOutOfSpace, outOfSpaceMessage } from "../store/disk_space.ts";

export const JOB_STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export type JobStatus = typeof JOB_STATUSES[number];
/** A job in one of these states still uses the records it references. */
export const ACTIVE_STATUSES: readonly JobStatus[] = ["queued", "running"];
export const TERMINAL_STATUSES: readonly JobStatus[] = ["succeeded", "failed", "cancelled"];

/** The store signal every enqueue sends, so that idle nodes claim at once (StoreSignals). */
const JOB_CHANNEL = "memcap_jobs";
/**
 * The store signal that carries job events to the other nodes (JobSignal), so that a
 * subscriber there (an events stream) hears of a job that runs here.
 */
const JOB_EVENTS_CHANNEL = "memcap_job_events";

/** One job event as a signal: a change of state (read the record) or persisted progress. */
interface JobSignal {
  /** The node that sent it (a node ignores its own). */
  node: string;
  id: string;
  collection: JobCollection;
  progress?: unknown;
}

/**
 * Collections whose records are jobs. `fleets` holds sub-jobs (a capacity sweep's fleets):
 * internal, refs naming their parent job, left out of the queue cap and cancelled with it.
 */
export const JOB_COLLECTIONS = [
  "runs",
  "capacity",
  "fleets",
] as const satisfies readonly Collection[];
export type JobCollection = typeof JOB_COLLECTIONS[number];
/** The job collections clients submit to: the queue cap (maxQueued) counts only these. */
const CLIENT_JOB_COLLECTIONS: readonly JobCollection[] = ["runs", "capacity"];

export interface JobErrorInfo {
  code: string;
  message: string;
}

/** The stored body of a job record (its status is the record's status). */
export interface JobBody<I = unknown, P = unknown, R = unknown> {
  /** Which handler runs it ("train", "capacity", ...). */
  kind: string;
  input: I;
  /** Last persisted progress (null before the first). */
  progress: P | null;
  result: R | null;
  error: JobErrorInfo | null;
  cancelRequested: boolean;
  /** Times the job was started; > 1 means it was resumed after an interruption. */
  attempts: number;
  /** Times start() found it left `running` by a process that died. */
  recoveries: number;
  startedAt: string | null;
  finishedAt: string | null;
  /**
   * The node that runs the job and until when its claim holds without a heartbeat
   * (ISO time). Set by a claim, renewed while it runs; internal (not in Job).
   */
  lease?: JobLease | null;
  /** Set by delete() before it removes an ended job, so that no reopen queues it again. */
  deleting?: boolean;
}

/** A node's claim on a running job (see the header comment). */
export interface JobLease {
  node: string;
  until: string;
}

/** A job as the routes see it. */
export interface Job<I = unknown, P = unknown, R = unknown>
  extends Omit<JobBody<I, P, R>, "lease" | "deleting"> {
  id: string;
  collection: JobCollection;
  status: JobStatus;
  refs: string[];
  createdAt: string;
  updatedAt: string;
}

export type JobEvent<P = unknown> =
  /** Every change of state (and a cancel request); `job` is the full new state. */
  | { type: "status"; id: string; job: Job<unknown, P> }
  /** Every progress report, persisted or not. */
  | { type: "progress"; id: string; progress: P };

export interface JobContext<I = unknown, P = unknown> {
  id: string;
  collection: JobCollection;
  kind: string;
  input: I;
  /** 1 on the first start, 2 after one interruption, ... */
  attempt: number;
  /**
   * True when an earlier start was interrupted (crash or shutdown): load the
   * checkpoint (an artifact of this record) and continue from it.
   */
  resumed: boolean;
  /** Progress as last persisted (on a resume, from the interrupted start). */
  lastProgress: P | null;
  /** Aborted on cancel (reason JobCancelledError) or shutdown (JobInterruptedError). */
  signal: AbortSignal;
  /** True once a cancel was requested. */
  cancelled(): boolean;
  /** Throws the abort reason if the signal is aborted. Call it between steps. */
  throwIfAborted(): void;
  /**
   * Reports progress: every call is sent to subscribers; it is persisted when
   * `persist` is true or persistProgressMs passed since the last write. Write
   * a checkpoint artifact *before* persisting the progress that refers to it.
   */
  progress(p: P, opts?: { persist?: boolean }): Promise<void>;
  store: Store;
}

export type JobHandler<I = any, P = any, R = any> = (ctx: JobContext<I, P>) => Promise<R>;

export interface JobQueueOptions {
  /** Jobs run at once (default 1: one GPU). */
  concurrency?: number;
  /** Most queued (not yet running) jobs over all job collections; more -> QueueFullError. */
  maxQueued?: number;
  /**
   * Most times one job may be found left `running` by a dead process; the
   * next time it fails instead of crashing the service again (default 3).
   * A graceful stop() does not count.
   */
  maxRecoveries?: number;
  /** Least interval between persisted progress writes (default 1000 ms). */
  persistProgressMs?: number;
  /** How often the worker also looks for work it was not told about (default 1000 ms). */
  pollMs?: number;
  /** This node's id in job leases (default `<hostname>:<pid>:<6 random hex>`). */
  nodeId?: string;
  /**
   * How long a claim on a running job lasts without a heartbeat (default 30_000 ms); the
   * heartbeat renews it every leaseMs/3. With `shared`, a running job whose lease expired
   * is taken over.
   */
  leaseMs?: number;
  /**
   * Other live nodes share the store (default false). False: start() re-queues every job
   * left running (all orphans of this node). True: start() leaves running jobs alone and
   * each poll re-queues those whose lease expired.
   */
  shared?: boolean;
  /**
   * Whether this node claims jobs (default true). False (MEMCAP_WORKER=0): it enqueues,
   * cancels and reports jobs that other nodes sharing the store run, and runs none itself.
   */
  worker?: boolean;
  log?: (message: string, error?: unknown) => void;
}

/** Thrown by enqueue when the queue is full (the route answers 429). */
export class QueueFullError extends Error {
  readonly code = "queue_full";
  constructor(readonly queued: number, readonly maxQueued: number) {
    super(`the job queue is full (${queued} queued, at most ${maxQueued}); retry later`);
    this.name = "QueueFullError";
  }
}

/**
 * Thrown by enqueue once stop() was called: the service is shutting down and would only
 * leave the job queued until its next start (the route answers 503; the client retries).
 */
export class ShuttingDownError extends Error {
  readonly code = "shutting_down";
  constructor() {
    super("the service is shutting down and takes no new jobs; retry once it is back");
    this.name = "ShuttingDownError";
  }
}

/** Abort reason when a job is cancelled. */
export class JobCancelledError extends Error {
  readonly code = "cancelled";
  constructor() {
    super("the job was cancelled");
    this.name = "JobCancelledError";
  }
}

/** Abort reason when the service stops; the job is re-queued and resumed later. */
export class JobInterruptedError extends Error {
  readonly code = "interrupted";
  constructor() {
    super("the service is shutting down; the job will resume");
    this.name = "JobInterruptedError";
  }
}

/** A handler may throw this to fail a job with a specific error code. */
export class JobFailure extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = "JobFailure";
  }
}

export function isJobCollection(c: string): c is JobCollection {
  return (JOB_COLLECTIONS as readonly string[]).includes(c);
}

export function jobFromRecord<I, P, R>(rec: Rec<JobBody<I, P, R>>): Job<I, P, R> {
  // The lease and the delete mark are the queue's own bookkeeping: never part of a job as
  // the routes see it.
  const { lease: _lease, deleting: _deleting, ...body } = rec.body;
  return {
    id: rec.id,
    collection: rec.collection as JobCollection,
    status: rec.status as JobStatus,
    refs: rec.refs,
    createdAt: rec.createdAt,
    updatedAt: rec.updatedAt,
    ...body,
  };
}

interface Running {
  controller: AbortController;
  cancelled: boolean;
  /** Another node took the job over (a renewal found its lease): write nothing more. */
  lost: boolean;
  done: Promise<void>;
}

function defaultNodeId(): string {
  const hex = [...crypto.getRandomValues(new Uint8Array(3))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  let host = "host";
  try {
    host = Deno.hostname();
  } catch {
    // no --allow-sys: a random suffix still tells nodes apart
  }
  return `${host}:${Deno.pid}:${hex}`;
}

type Listener = (ev: JobEvent<any>) => void;

export class JobQueue {
  readonly concurrency: number;
  readonly maxQueued: number;
  readonly maxRecoveries: number;
  readonly nodeId: string;
  readonly leaseMs: number;
  readonly shared: boolean;
  readonly worker: boolean;
  private readonly persistProgressMs: number;
  private readonly pollMs: number;
  private readonly log: (message: string, error?: unknown) => void;

  private readonly handlers = new Map<string, JobHandler>();
  private readonly running = new Map<string, Running>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private started = false;
  private stopping = false;
  private loopDone: Promise<void> | null = null;
  /** With `shared` and a store that has signals: stops listening for other nodes' jobs. */
  private stopListening: (() => Promise<void>) | null = null;
  /** With `shared` and signals: stops relaying other nodes' job events to subscribers here. */
  private stopRelay: (() => Promise<void>) | null = null;
  private wakePending = false;
  private wakeResolve: (() => void) | null = null;
  private enqueueChain: Promise<unknown> = Promise.resolve();
  private signalChain: Promise<unknown> = Promise.resolve();

  constructor(readonly store: Store, opts: JobQueueOptions = {}) {
    this.concurrency = Math.max(1, Math.floor(opts.concurrency ?? 1));
    this.maxQueued = Math.max(1, Math.floor(opts.maxQueued ?? 100));
    this.maxRecoveries = Math.max(0, Math.floor(opts.maxRecoveries ?? 3));
    this.persistProgressMs = opts.persistProgressMs ?? 1000;
    this.pollMs = opts.pollMs ?? 1000;
    this.nodeId = opts.nodeId ?? defaultNodeId();
    this.leaseMs = Math.max(1, opts.leaseMs ?? 30_000);
    this.shared = opts.shared ?? false;
    this.worker = opts.worker ?? true;
    this.log = opts.log ?? ((m, e) => console.error(`[jobs] ${m}`, e ?? ""));
  }

  /** Registers the handler for jobs of `kind` (before start()). */
  register<I = unknown, P = unknown, R = unknown>(
    kind: string,
    handler: JobHandler<I, P, R>,
  ): this {
    this.handlers.set(kind, handler as JobHandler);
    return this;
  }

  /**
   * Re-queues jobs a crashed process left `running` (or ends them: cancelled
   * if a cancel was requested, failed after maxRecoveries), then starts the
   * worker loop. With `shared`, only those whose lease expired, on each poll.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (this.shared) {
      this.stopListening = await this.store.signals?.listen(JOB_CHANNEL, () => this.wake()) ??
        null;
      this.stopRelay = await this.store.signals?.listen(
        JOB_EVENTS_CHANNEL,
        (payload) => this.relay(payload),
      ) ?? null;
      this.loopDone = this.loop();
      return;
    }
    for (const collection of JOB_COLLECTIONS) {
      for (const id of await this.runningIds(collection, () => true)) {
        await this.recover(collection, id);
      }
    }
    this.loopDone = this.loop();
  }

  /**
   * Stops taking jobs, aborts running ones with JobInterruptedError and waits
   * for them; those that stop early go back to `queued` and resume on the
   * next start(). Call before closing the store.
   */
  async stop(): Promise<void> {
    if (this.stopping) {
      await this.loopDone;
      return;
    }
    this.stopping = true; // enqueue refuses from here on
    if (!this.started) return;
    await this.unlisten();
    this.wake();
    for (const r of this.running.values()) {
      if (!r.controller.signal.aborted) r.controller.abort(new JobInterruptedError());
    }
    await this.loopDone;
    await Promise.all([...this.running.values()].map((r) => r.done));
    await this.signalChain; // before the caller closes the store
  }

  /**
   * For tests only (a node that dies): stops the worker loop and every heartbeat and
   * aborts running handlers, but writes nothing (no outcome, no re-queue), as a
   * process killed at this moment would. Its running jobs keep their lease until it
   * expires; another node with `shared` then takes them over. Call before closing the
   * store; stop() afterwards only waits.
   */
  async abandon(): Promise<void> {
    this.stopping = true;
    if (!this.started) return;
    await this.unlisten();
    this.wake();
    for (const r of this.running.values()) {
      r.lost = true;
      if (!r.controller.signal.aborted) r.controller.abort(new JobInterruptedError());
    }
    await this.loopDone;
    await Promise.all([...this.running.values()].map((r) => r.done));
    await this.signalChain; // before the caller closes the store
  }

  /**
   * Whether subscribers here hear of jobs that other nodes run (a shared store with
   * signals); otherwise only a job's record tells what happens to it elsewhere.
   */
  get relaysEvents(): boolean {
    return this.shared && this.store.signals !== undefined;
  }

  /** Whether this node runs job `id` now (its events come from here). */
  runsHere(id: string): boolean {
    return this.running.has(id);
  }

  /**
   * Persists a new job as `queued` and wakes the worker. `refs` are the ids
   * of records the job uses (model, dataset): a delete of those answers 409
   * while the job is active (see activeJobsUsing). Throws QueueFullError, or
   * ShuttingDownError once stop() was called.
   */
  enqueue<I>(
    collection: JobCollection,
    kind: string,
    input: I,
    opts: { refs?: string[]; id?: string } = {},
  ): Promise<Job<I>> {
    if (!isJobCollection(collection)) {
      return Promise.reject(new TypeError(`${collection} is not a job collection`));
    }
    // Serialise enqueues in this process so the max-queue check and the
    // create cannot interleave.
    const p = this.enqueueChain.then(async () => {
      // Checked in the chain, so an enqueue waiting behind others sees a stop() meanwhile.
      if (this.stopping) throw new ShuttingDownError();
      if (CLIENT_JOB_COLLECTIONS.includes(collection)) {
        const queued = await this.countStatus("queued", CLIENT_JOB_COLLECTIONS);
        if (queued >= this.maxQueued) throw new QueueFullError(queued, this.maxQueued);
      }
      const body: JobBody<I> = {
        kind,
        input,
        progress: null,
        result: null,
        error: null,
        cancelRequested: false,
        attempts: 0,
        recoveries: 0,
        startedAt: null,
        finishedAt: null,
      };
      const rec = await this.store.create(collection, body, {
        id: opts.id,
        status: "queued",
        refs: opts.refs,
      });
      const job = jobFromRecord(rec);
      this.publish({ type: "status", id: job.id, job });
      this.wake();
      // Idle nodes sharing the store hear of it now rather than at their next poll.
      this.store.signals?.notify(JOB_CHANNEL).catch((e) => this.log("could not notify nodes", e));
      return job;
    });
    this.enqueueChain = p.catch(() => {});
    return p;
  }

  async get<I = unknown, P = unknown, R = unknown>(
    collection: JobCollection,
    id: string,
  ): Promise<Job<I, P, R> | null> {
    const rec = await this.store.get<JobBody<I, P, R>>(collection, id);
    return rec ? jobFromRecord(rec) : null;
  }

  /**
   * Cancels a job: a queued one becomes `cancelled` at once; a running one
   * gets its cancel flag set and its signal aborted, and becomes `cancelled`
   * when its handler returns. Finished jobs are left as they are.
   * Null if the job does not exist.
   */
  async cancel(collection: JobCollection, id: string): Promise<Job | null> {
    let changed = false;
    const rec = await this.store.atomicUpdate<JobBody>(collection, id, (cur) => {
      changed = false;
      if (cur.status === "queued") {
        changed = true;
        return {
          status: "cancelled",
          body: { ...cur.body, cancelRequested: true, finishedAt: new Date().toISOString() },
        };
      }
      if (cur.status === "running" && !cur.body.cancelRequested) {
        changed = true;
        return { body: { ...cur.body, cancelRequested: true } };
      }
      return undefined;
    });
    if (!rec) return null;
    const job = jobFromRecord(rec);
    const r = this.running.get(id);
    if (r && rec.status === "running") {
      r.cancelled = true;
      if (!r.controller.signal.aborted) r.controller.abort(new JobCancelledError());
    }
    if (changed) this.publish({ type: "status", id, job });
    // Its sub-jobs (a sweep's fleets), wherever they run, stop with it.
    for (const sub of await this.subJobs(id)) {
      if (!isTerminal(sub.status)) await this.cancel(sub.collection, sub.id);
    }
    return job;
  }

  /**
   * Queues an ended job again with a new input (a capacity sweep given a larger token
   * budget), when `may` says so of it as it is stored: its handler starts as a resume
   * (`resumed`, with the job's artifacts), and its result stays until the new one replaces
   * it. `reopened` is false, and the job as it is, when it was not ended or `may` refused
   * (another request changed it first, or a delete began); null when it does not exist.
   * Throws QueueFullError, or ShuttingDownError once stop() was called.
   */
  reopen<I, R = unknown>(
    collection: JobCollection,
    id: string,
    input: I,
    may: (job: Job<I, unknown, R>) => boolean,
  ): Promise<{ job: Job<I, unknown, R>; reopened: boolean } | null> {
    // In the enqueue chain, like a new job: the max-queue check and the update cannot interleave.
    const p = this.enqueueChain.then(async () => {
      if (this.stopping) throw new ShuttingDownError();
      if (CLIENT_JOB_COLLECTIONS.includes(collection)) {
        const queued = await this.countStatus("queued", CLIENT_JOB_COLLECTIONS);
        if (queued >= this.maxQueued) throw new QueueFullError(queued, this.maxQueued);
      }
      let reopened = false;
      const rec = await this.store.atomicUpdate<JobBody<I, unknown, R>>(collection, id, (cur) => {
        reopened = isTerminal(cur.status as JobStatus) && !cur.body.deleting &&
          may(jobFromRecord(cur));
        if (!reopened) return undefined;
        return {
          status: "queued",
          body: {
            ...cur.body,
            input,
            progress: null,
            error: null,
            cancelRequested: false,
            finishedAt: null,
            lease: null,
            // Deaths of the earlier attempts do not count against this one.
            recoveries: 0,
          },
        };
      });
      if (!rec) return null;
      const job = jobFromRecord(rec);
      if (reopened) {
        this.publish({ type: "status", id, job });
        this.wake();
        this.store.signals?.notify(JOB_CHANNEL).catch((e) => this.log("could not notify nodes", e));
      }
      return { job, reopened };
    });
    this.enqueueChain = p.catch(() => {});
    return p;
  }

  /**
   * Claims queued job `id` and runs it in this process as part of the job that calls this
   * (a sweep training one of its own fleets), outside the worker's slots, which that job
   * holds already. Resolves with the job once it ends here, or null when it was not queued
   * (another node claimed it first, or it ended). The job's own lease, heartbeat, progress
   * and cancel work as for any claimed job.
   */
  async runHere(collection: JobCollection, id: string): Promise<Job | null> {
    if (this.stopping) throw new JobInterruptedError();
    const rec = await this.claim(collection, id);
    if (!rec) return null;
    this.launch(rec);
    await this.running.get(id)?.done;
    return await this.get(collection, id);
  }

  /**
   * Deletes an ended job and its sub-jobs (a sweep's fleets), the sub-jobs first, so a crash
   * in between leaves the job to delete again. False, deleting nothing, when the job is not
   * ended: it is marked `deleting` first, in one compare-and-set with its status, so that a
   * reopen cannot queue it between the check and the delete.
   */
  async delete(collection: JobCollection, id: string): Promise<boolean> {
    let ended = false;
    await this.store.atomicUpdate<JobBody>(collection, id, (cur) => {
      ended = isTerminal(cur.status as JobStatus);
      return ended && !cur.body.deleting ? { body: { ...cur.body, deleting: true } } : undefined;
    });
    if (!ended) return false;
    for (const sub of await this.subJobs(id)) await this.store.delete(sub.collection, sub.id);
    await this.store.delete(collection, id);
    return true;
  }

  /** The sub-jobs of job `id` (a sweep's fleets: records in `fleets` whose refs name it). */
  async subJobs<I = unknown, P = unknown, R = unknown>(id: string): Promise<Job<I, P, R>[]> {
    return (await this.store.referencing(id))
      .filter((r) => r.collection === "fleets")
      .map((r) => jobFromRecord(r as Rec<JobBody<I, P, R>>));
  }

  /** Queued and running jobs over all job collections (for /v1/health). */
  async depth(): Promise<{ queued: number; running: number }> {
    return { queued: await this.countStatus("queued"), running: await this.countStatus("running") };
  }

  /** Active (queued or running) jobs whose refs include `id`: a DELETE of `id` is a 409. */
  async activeJobsUsing(id: string): Promise<Job[]> {
    const recs = await this.store.referencing(id);
    return recs
      .filter((r) =>
        isJobCollection(r.collection) && (ACTIVE_STATUSES as readonly string[]).includes(r.status!)
      )
      .map((r) => jobFromRecord(r as Rec<JobBody>));
  }

  /**
   * Calls `listener` with every event of job `id` until the returned function
   * is called. Subscribe first, then read the job, so nothing is missed.
   */
  subscribe<P = unknown>(id: string, listener: (ev: JobEvent<P>) => void): () => void {
    let set = this.listeners.get(id);
    if (!set) this.listeners.set(id, set = new Set());
    set.add(listener as Listener);
    return () => {
      set.delete(listener as Listener);
      if (set.size === 0 && this.listeners.get(id) === set) this.listeners.delete(id);
    };
  }

  /** Resolves with the job once it is succeeded, failed or cancelled. */
  async wait(collection: JobCollection, id: string, timeoutMs = 0): Promise<Job> {
    let unsubscribe = () => {};
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await new Promise<Job>((resolve, reject) => {
        unsubscribe = this.subscribe(id, (ev) => {
          if (ev.type === "status" && isTerminal(ev.job.status)) resolve(ev.job);
        });
        if (timeoutMs > 0) {
          timer = setTimeout(
            () => reject(new Error(`job ${id} not finished after ${timeoutMs} ms`)),
            timeoutMs,
          );
        }
        this.get(collection, id).then((job) => {
          if (!job) reject(new Error(`job ${collection}/${id} does not exist`));
          else if (isTerminal(job.status)) resolve(job);
        }, reject);
      });
    } finally {
      unsubscribe();
      clearTimeout(timer);
    }
  }

  // ------------------------------------------------------------- internals

  private async unlisten(): Promise<void> {
    for (const stop of [this.stopListening, this.stopRelay]) {
      await stop?.().catch((e) => this.log("could not stop listening", e));
    }
    this.stopListening = this.stopRelay = null;
  }

  private async countStatus(
    status: JobStatus,
    collections: readonly JobCollection[] = JOB_COLLECTIONS,
  ): Promise<number> {
    let n = 0;
    for (const c of collections) n += await this.store.count(c, { status });
    return n;
  }

  private emit(ev: JobEvent): void {
    const set = this.listeners.get(ev.id);
    if (!set) return;
    for (const l of [...set]) {
      try {
        l(ev);
      } catch (e) {
        this.log(`event listener for ${ev.id} threw`, e);
      }
    }
  }

  /** emit(), and the same event to the other nodes sharing the store. */
  private publish(ev: JobEvent & { type: "status" }): void {
    this.emit(ev);
    this.signal({ node: this.nodeId, id: ev.id, collection: ev.job.collection });
  }

  private signal(msg: JobSignal): void {
    if (!this.relaysEvents) return;
    let payload = JSON.stringify(msg);
    // Too long for a signal: say only that it changed; a listener reads the record.
    if (new TextEncoder().encode(payload).length > NOTIFY_PAYLOAD_BYTES) {
      payload = JSON.stringify({ node: msg.node, id: msg.id, collection: msg.collection });
    }
    // One at a time: notifications sent at once may go out on different connections of the
    // store's pool and arrive in either order (progress step 2 before step 1).
    this.signalChain = this.signalChain
      .then(() => this.store.signals!.notify(JOB_EVENTS_CHANNEL, payload))
      .catch((e) => this.log("could not signal a job event", e));
  }

  /** Another node's job event, to the subscribers of that job here. */
  private async relay(payload: string): Promise<void> {
    let msg: JobSignal;
    try {
      msg = JSON.parse(payload);
    } catch {
      return;
    }
    if (msg.node === this.nodeId || !this.listeners.has(msg.id)) return;
    if (!isJobCollection(msg.collection)) return;
    if ("progress" in msg) {
      this.emit({ type: "progress", id: msg.id, progress: msg.progress });
      return;
    }
    try {
      const rec = await this.store.get<JobBody>(msg.collection, msg.id);
      if (rec) this.emit({ type: "status", id: msg.id, job: jobFromRecord(rec) });
    } catch (e) {
      this.log(`could not read job ${msg.id} for its subscribers`, e);
    }
  }

  private wake(): void {
    this.wakePending = true;
    this.wakeResolve?.();
  }

  private async sleep(): Promise<void> {
    if (this.wakePending) {
      this.wakePending = false;
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      this.wakeResolve = resolve;
      timer = setTimeout(resolve, this.pollMs);
    });
    clearTimeout(timer);
    this.wakeResolve = null;
    this.wakePending = false;
  }

  private async loop(): Promise<void> {
    let lastSweep = 0;
    while (!this.stopping) {
      if (this.shared && Date.now() - lastSweep >= this.pollMs) {
        lastSweep = Date.now();
        try {
          await this.recoverExpired();
        } catch (e) {
          this.log("could not look for jobs of dead nodes", e);
        }
        if (this.stopping) break;
      }
      if (this.worker && this.running.size < this.concurrency) {
        let rec: Rec<JobBody> | null = null;
        try {
          rec = await this.claimNext();
        } catch (e) {
          this.log("could not claim a job", e);
        }
        if (rec && !this.stopping) {
          this.launch(rec);
          continue;
        }
        if (rec) {
          // Claimed while stopping: hand it back untouched.
          await this.requeue(rec.collection as JobCollection, rec.id).catch((e) =>
            this.log(`could not re-queue ${rec!.id}`, e)
          );
          break;
        }
      }
      await this.sleep();
    }
  }

  /** Claims the oldest queued job (queued -> running), or null. */
  private async claimNext(): Promise<Rec<JobBody> | null> {
    const candidates: Rec<JobBody>[] = [];
    for (const c of JOB_COLLECTIONS) {
      const page = await this.store.list<JobBody>(c, {
        status: "queued",
        order: "asc",
        limit: 10,
      });
      candidates.push(...page.items);
    }
    candidates.sort((a, b) => compareIds(a.id, b.id));
    for (const cand of candidates) {
      const rec = await this.claim(cand.collection as JobCollection, cand.id);
      if (rec) return rec;
    }
    return null;
  }

  /** queued -> running for this node (CAS), or null when the job is not queued. */
  private async claim(collection: JobCollection, id: string): Promise<Rec<JobBody> | null> {
    let claimed = false;
    const rec = await this.store.atomicUpdate<JobBody>(collection, id, (cur) => {
      claimed = false;
      if (cur.status !== "queued") return undefined;
      claimed = true;
      return {
        status: "running",
        body: {
          ...cur.body,
          attempts: cur.body.attempts + 1,
          startedAt: new Date().toISOString(),
          error: null,
          lease: this.newLease(),
        },
      };
    });
    if (!rec || !claimed) return null;
    // Which node did what, for operators of several nodes.
    if (this.shared) {
      this.log(`node ${this.nodeId} runs ${collection}/${id} (attempt ${rec.body.attempts})`);
    }
    return rec;
  }

  private launch(rec: Rec<JobBody>): void {
    const controller = new AbortController();
    const entry: Running = {
      controller,
      cancelled: rec.body.cancelRequested,
      lost: false,
      done: Promise.resolve(),
    };
    this.running.set(rec.id, entry);
    entry.done = this.execute(rec, entry)
      .catch((e) => this.log(`job ${rec.id} could not be finished`, e))
      .finally(() => {
        this.running.delete(rec.id);
        this.wake();
      });
  }

  private async execute(rec: Rec<JobBody>, entry: Running): Promise<void> {
    const collection = rec.collection as JobCollection;
    const id = rec.id;
    const job = jobFromRecord(rec);
    this.publish({ type: "status", id, job });
    const signal = entry.controller.signal;
    // Alone on its store no other node can take a job over, so its lease needs no renewal.
    const heartbeat = this.shared
      ? this.heartbeat(collection, id, entry)
      : { stop: () => Promise.resolve() };

    let lastPersist = 0;
    let unpersisted: { p: unknown } | null = null;
    // Writes go one at a time; a report skipped by the interval is written when it ends
    // (trailing edge), so GET never shows progress older than persistProgressMs.
    let writes: Promise<void> = Promise.resolve();
    let trailing: ReturnType<typeof setTimeout> | null = null;
    const persist = (p: unknown) => {
      lastPersist = Date.now();
      unpersisted = null;
      const write = writes.then(async () => {
        if (entry.lost) return;
        const after = await this.store.atomicUpdate<JobBody>(
          collection,
          id,
          (cur) => this.holds(cur) ? { body: { ...cur.body, progress: p } } : undefined,
        );
        if (after && this.holds(after)) {
          this.signal({ node: this.nodeId, id, collection, progress: p });
        }
        // A cancel may have been requested elsewhere (another process).
        if (after && this.holds(after) && after.body.cancelRequested && !entry.cancelled) {
          entry.cancelled = true;
          if (!signal.aborted) entry.controller.abort(new JobCancelledError());
        }
      });
      writes = write.catch(() => {});
      return write;
    };
    const ctx: JobContext = {
      id,
      collection,
      kind: rec.body.kind,
      input: rec.body.input,
      attempt: rec.body.attempts,
      resumed: rec.body.attempts > 1,
      lastProgress: rec.body.progress,
      signal,
      cancelled: () => entry.cancelled,
      throwIfAborted: () => {
        if (signal.aborted) throw signal.reason;
      },
      store: this.store,
      progress: async (p, opts = {}) => {
        this.emit({ type: "progress", id, progress: p });
        unpersisted = { p };
        const wait = lastPersist + this.persistProgressMs - Date.now();
        if (opts.persist || wait <= 0) return await persist(p);
        trailing ??= setTimeout(() => {
          trailing = null;
          if (unpersisted) persist(unpersisted.p).catch((e) => this.log(`job ${id}: progress`, e));
        }, wait);
      },
    };

    let outcome: { ok: true; result: unknown } | { ok: false; error: unknown };
    if (entry.cancelled) {
      outcome = { ok: false, error: new JobCancelledError() };
    } else {
      const handler = this.handlers.get(rec.body.kind);
      try {
        if (!handler) {
          throw new JobFailure("no_handler", `no handler for job kind "${rec.body.kind}"`);
        }
        outcome = { ok: true, result: await handler(ctx) };
      } catch (error) {
        outcome = { ok: false, error };
      }
    }

    const interrupted = !outcome.ok && signal.aborted &&
      signal.reason instanceof JobInterruptedError && !entry.cancelled;
    if (trailing !== null) clearTimeout(trailing);
    await heartbeat.stop();
    await writes;
    if (entry.lost) {
      this.log(`job ${id}: another node took it over; its outcome here is dropped`);
      return;
    }
    const finalProgress = unpersisted as { p: unknown } | null;
    const finish = (cur: Rec<JobBody>, withResult: boolean) => {
      if (!this.holds(cur)) return undefined;
      const body: JobBody = { ...cur.body, lease: null };
      if (finalProgress) body.progress = finalProgress.p;
      const now = new Date().toISOString();
      let status: JobStatus;
      if (cur.body.cancelRequested || entry.cancelled) {
        status = "cancelled";
        body.cancelRequested = true;
        body.result = outcome.ok && withResult ? outcome.result as unknown : null;
        body.finishedAt = now;
      } else if (interrupted) {
        status = "queued";
      } else if (outcome.ok && withResult) {
        status = "succeeded";
        body.result = outcome.result ?? null;
        body.finishedAt = now;
      } else {
        status = "failed";
        body.error = outcome.ok
          ? { code: "result_not_stored", message: "the job's result could not be stored" }
          : errorInfo(outcome.error);
        body.finishedAt = now;
      }
      return { status, body };
    };
    let done: Rec<JobBody> | null;
    try {
      done = await this.store.atomicUpdate<JobBody>(collection, id, (cur) => finish(cur, true));
    } catch (e) {
      if (e instanceof ConflictError) throw e;
      // Most likely the result is too large for a record: keep the job, drop the result.
      this.log(`job ${id}: could not store its outcome`, e);
      done = await this.store.atomicUpdate<JobBody>(collection, id, (cur) => finish(cur, false));
    }
    if (done) this.publish({ type: "status", id, job: jobFromRecord(done) });
    if (!outcome.ok && !interrupted && !(outcome.error instanceof JobCancelledError)) {
      if (!(outcome.error instanceof JobFailure)) this.log(`job ${id} failed`, outcome.error);
    }
  }

  private newLease(): JobLease {
    return { node: this.nodeId, until: new Date(Date.now() + this.leaseMs).toISOString() };
  }

  /**
   * Whether `cur` is a running job this node may still write: its lease is this node's
   * (a record without a lease was claimed before leases existed, or by a node without them).
   */
  private holds(cur: Rec<JobBody>): boolean {
    if (cur.status !== "running") return false;
    const lease = cur.body.lease;
    return !lease || lease.node === this.nodeId;
  }

  /**
   * Renews the lease of a running job every leaseMs/3. A renewal that finds the job no
   * longer this node's marks it lost and aborts its handler. `stop()` ends the timer and
   * waits for a renewal in flight.
   */
  private heartbeat(
    collection: JobCollection,
    id: string,
    entry: Running,
  ): { stop(): Promise<void> } {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let inFlight: Promise<void> = Promise.resolve();
    let stopped = false;
    const beat = async () => {
      let held = false;
      try {
        const rec = await this.store.atomicUpdate<JobBody>(collection, id, (cur) => {
          held = this.holds(cur);
          return held ? { body: { ...cur.body, lease: this.newLease() } } : undefined;
        });
        if (!rec) held = false;
        // A cancel sent to another node reaches this one here too (not only on progress).
        if (held && rec?.body.cancelRequested && !entry.cancelled) {
          entry.cancelled = true;
          if (!entry.controller.signal.aborted) entry.controller.abort(new JobCancelledError());
        }
      } catch (e) {
        // The store is unreachable for now: keep running, try again next beat; if the lease
        // runs out meanwhile, the next renewal finds the new owner's lease.
        this.log(`job ${id}: could not renew its lease`, e);
        return;
      }
      if (!held && !stopped && !entry.lost) {
        entry.lost = true;
        this.log(`job ${id}: lost its lease to another node; stopping it here`);
        if (!entry.controller.signal.aborted) {
          entry.controller.abort(new JobInterruptedError());
        }
      }
    };
    const schedule = () => {
      timer = setTimeout(() => {
        inFlight = beat().finally(() => {
          if (!stopped && !entry.lost) schedule();
        });
      }, Math.max(1, Math.floor(this.leaseMs / 3)));
    };
    schedule();
    return {
      stop: async () => {
        stopped = true;
        clearTimeout(timer);
        await inFlight;
      },
    };
  }

  /**
   * With `shared`: re-queues running jobs whose lease expired (their node died), or that
   * have no lease and were not updated for leaseMs, through recover().
   */
  private async recoverExpired(): Promise<void> {
    const now = Date.now();
    for (const collection of JOB_COLLECTIONS) {
      const stale = await this.runningIds(
        collection,
        (r) => !this.running.has(r.id) && this.expired(r, now),
      );
      for (const id of stale) {
        await this.recover(collection, id, (cur) => this.expired(cur, Date.now()));
      }
    }
  }

  /** Ids of the jobs of `collection` stored as running that `keep` accepts, all pages. */
  private async runningIds(
    collection: JobCollection,
    keep: (r: Rec<JobBody>) => boolean,
  ): Promise<string[]> {
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Page<JobBody> = await this.store.list<JobBody>(collection, {
        status: "running",
        limit: 100,
        cursor,
      });
      ids.push(...page.items.filter(keep).map((r) => r.id));
      cursor = page.nextCursor;
    } while (cursor);
    return ids;
  }

  private expired(r: Rec<JobBody>, now: number): boolean {
    const lease = r.body.lease;
    if (lease) return Date.parse(lease.until) < now;
    return Date.parse(r.updatedAt) + this.leaseMs < now;
  }

  /** A job left running by a crashed process: back to queued (or ended). */
  private async recover(
    collection: JobCollection,
    id: string,
    still: (cur: Rec<JobBody>) => boolean = () => true,
  ): Promise<void> {
    const rec = await this.store.atomicUpdate<JobBody>(collection, id, (cur) => {
      if (cur.status !== "running" || !still(cur)) return undefined;
      const now = new Date().toISOString();
      if (cur.body.cancelRequested) {
        return { status: "cancelled", body: { ...cur.body, lease: null, finishedAt: now } };
      }
      const recoveries = (cur.body.recoveries ?? 0) + 1;
      if (recoveries > this.maxRecoveries) {
        return {
          status: "failed",
          body: {
            ...cur.body,
            lease: null,
            recoveries,
            finishedAt: now,
            error: {
              code: "interrupted",
              message: `the service died ${recoveries} times while this job ran; not retrying`,
            },
          },
        };
      }
      return { status: "queued", body: { ...cur.body, lease: null, recoveries } };
    });
    if (rec) this.publish({ type: "status", id, job: jobFromRecord(rec) });
  }

  /** A job claimed but not started: back to queued, attempt not counted. */
  private async requeue(collection: JobCollection, id: string): Promise<void> {
    await this.store.atomicUpdate<JobBody>(
      collection,
      id,
      (cur) =>
        this.holds(cur)
          ? {
            status: "queued",
            body: { ...cur.body, attempts: cur.body.attempts - 1, lease: null },
          }
          : undefined,
    );
  }
}

export function isTerminal(status: JobStatus): boolean {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

function errorInfo(e: unknown): JobErrorInfo {
  if (
    e instanceof JobFailure || e instanceof JobCancelledError || e instanceof JobInterruptedError
  ) {
    return { code: e.code, message: e.message };
  }
  // A write under the free-space floor (or on a disk that filled up anyway): the job fails
  // with its checkpoints as they were; the client frees space and submits it again.
  if (isOutOfSpace(e)) return { code: "storage_full", message: outOfSpaceMessage(e as Error) };
  if (e instanceof Error) return { code: "job_failed", message: e.message };
  return { code: "job_failed", message: String(e) };
}
