// The engine in a supervised child process (gpu/engine_child.ts). The HTTP
// service stays responsive while the GPU works (a queue submission blocks
// its thread on some backends), and survives whatever kills the engine: a
// call in flight fails with EngineCrashedError, the next call starts a fresh
// engine, and a job in hand is retried from its checkpoint a bounded number
// of times before it is failed with the reason.
import type {
  Engine,
  FitQuery,
  GreedyDecodeRequest,
  GreedyDecodeResult,
  JobHost,
  JobKind,
  LikelihoodRequest,
  LikelihoodResult,
} from "../lib/engine_interface.ts";
import type { GpuSummary } from "../lib/http/deps.ts";
import { JobFailure } from "../lib/jobs/queue.ts";
import type { Metrics } from "../lib/metrics.ts";
import { Peer, PeerClosedError } from "../lib/rpc/peer.ts";
import { checkFleetFitsOn } from "./memory_plan.ts";

export class EngineCrashedError extends Error {
  readonly code = "engine_crashed";
  constructor(detail: string) {
    super(`the GPU engine process stopped: ${detail}`);
    this.name = "EngineCrashedError";
  }
}

export interface EngineProcessOptions {
  /** Extra environment for the child (tests turn fault injection on). */
  env?: Record<string, string>;
  /** Times a job is restarted from its checkpoint after an engine crash (default 2). */
  jobRetries?: number;
  memoryBudgetBytes?: number;
  /** Training seconds between a sweep fleet's checkpoints (GpuEngine's default when unset). */
  sweepCheckpointSeconds?: number;
  /** Counts each unexpected end of the engine process (the next call restarts it). */
  metrics?: Pick<Metrics, "engineRestarts">;
  /**
   * The process sends a heartbeat from its event loop; when none comes for this long, its
   * thread is stuck (a hung driver call, a runaway loop) and it is killed like a crash: the
   * call in flight fails, a running job resumes from its checkpoint on a fresh process.
   * Default 600 s: longer than any one synchronous GPU call (a pipeline compile, or a whole
   * training step on a software adapter); 0 turns it off.
   */
  watchdogMs?: number;
  log?: (message: string) => void;
}

/** How long close() waits for the engine process to exit before it kills it. */
const CLOSE_GRACE_MS = 5000;
const DEFAULT_WATCHDOG_MS = 600_000;

interface Child {
  process: Deno.ChildProcess;
  /** The child's stdin: closing it tells the child to exit (it ignores SIGINT/SIGTERM). */
  stdin: WritableStreamDefaultWriter<Uint8Array>;
  peer: Peer;
  /** Resolves with a description of how the process ended. */
  ended: Promise<string>;
  /** performance.now() of its last heartbeat (or of its start). */
  heardAt: number;
  /** Set when the watchdog killed it: why, for the error of the call in flight. */
  killedBecause?: string;
}

export class EngineProcess implements Engine {
  private child: Child | null = null;
  private summary: GpuSummary | null = null;
  private hosts = new Map<string, JobHost>();
  private closing = false;
  /** Numbers the cancellable calls, so a cancel names the one it stops. */
  private nextCallId = 1;
  /** Times the engine process ended unexpectedly (metrics, tests). */
  crashes = 0;

  constructor(private options: EngineProcessOptions = {}) {}

  private start(): Child {
    if (this.child && !this.child.peer.closed) return this.child;
    if (this.child) {
      // Its pipe broke but its exit is not reported yet: make sure it is gone.
      try {
        this.child.process.kill("SIGKILL");
      } catch {
        // already exited
      }
    }
    const watchdogMs = this.options.watchdogMs ?? DEFAULT_WATCHDOG_MS;
    const cmd = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("./engine_child.ts", import.meta.url).pathname],
      env: {
        ...this.options.env,
        // The child ends itself when this process is gone (gpu/parent_watch.ts).
        MEMCAP_PARENT_PID: String(Deno.pid),
        // A few heartbeats per watchdog period, at most one a second.
        ...(watchdogMs > 0
          ? { MEMCAP_HEARTBEAT_MS: String(Math.min(1000, Math.floor(watchdogMs / 4))) }
          : {}),
        ...(this.options.memoryBudgetBytes
          ? { MEMCAP_GPU_MEMORY_BYTES: String(this.options.memoryBudgetBytes) }
          : {}),
        ...(this.options.sweepCheckpointSeconds !== undefined
          ? { MEMCAP_SWEEP_CHECKPOINT_S: String(this.options.sweepCheckpointSeconds) }
          : {}),
      },
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    });
    const process = cmd.spawn();
    const stdin = process.stdin.getWriter();
    const peer = new Peer(process.stdout, stdin);
    this.serveHost(peer);
    const child: Child = {
      process,
      stdin,
      peer,
      heardAt: performance.now(),
      ended: process.status.then((s) =>
        child.killedBecause ?? (s.signal ? `killed by ${s.signal}` : `exited with code ${s.code}`)
      ),
    };
    peer.handle("host.heartbeat", () => void (child.heardAt = performance.now()));
    if (watchdogMs > 0) this.watch(child, watchdogMs);
    this.child = child;
    child.ended.then((how) => {
      peer.close(how);
      if (this.child === child) this.child = null;
      if (!this.closing) {
        this.crashes++;
        this.options.metrics?.engineRestarts.inc();
        this.options.log?.(`engine process ${how}; the next call starts a new one`);
      }
    });
    return child;
  }

  /** Kills the child when its heartbeats stop for `ms` (see EngineProcessOptions.watchdogMs). */
  private watch(child: Child, ms: number) {
    const timer = setInterval(() => {
      const silent = performance.now() - child.heardAt;
      if (silent <= ms) return;
      child.killedBecause = `it stopped responding for ${(silent / 1000).toFixed(1)} s ` +
        "(watchdog) and was killed";
      this.options.log?.(`engine process ${child.killedBecause}`);
      child.peer.close(child.killedBecause); // the calls in flight fail with this reason
      try {
        child.process.kill("SIGKILL");
      } catch {
        // it exited meanwhile
      }
    }, Math.max(50, Math.floor(ms / 4)));
    Deno.unrefTimer(timer); // the watchdog alone must not keep the service alive
    child.ended.then(() => clearInterval(timer));
  }

  /** The child's calls back into the service, on behalf of a running job. */
  private serveHost(peer: Peer) {
    const host = (jobId: string) => {
      const h = this.hosts.get(jobId);
      if (!h) throw new Error(`no running job ${jobId}`);
      return h;
    };
    peer
      .handle("host.progress", (p) => host(p.jobId).progress(p.progress, { persist: p.persist }))
      .handle("host.getArtifact", (p) => host(p.jobId).getArtifact(p.name))
      .handle("host.putArtifact", (p) => host(p.jobId).putArtifact(p.name, p.bytes))
      .handle("host.deleteArtifact", (p) => host(p.jobId).deleteArtifact(p.name))
      .handle("host.loadModel", (p) => host(p.jobId).loadModel(p.id))
      .handle("host.loadDataset", (p) => host(p.jobId).loadDataset(p.id))
      .handle(
        "host.saveModelWeights",
        (p) => host(p.jobId).saveModelWeights(p.id, p.params, p.patch),
      );
  }

  private async call<T>(method: string, params: unknown = null): Promise<T> {
    const child = this.start();
    try {
      return await child.peer.call<T>(method, params);
    } catch (e) {
      if (e instanceof PeerClosedError) throw new EngineCrashedError(e.message);
      throw e;
    }
  }

  async gpu(): Promise<GpuSummary> {
    this.summary ??= await this.call<GpuSummary>("gpu");
    return this.summary;
  }

  async checkFits(q: FitQuery): Promise<void> {
    checkFleetFitsOn(await this.gpu(), q, this.options.memoryBudgetBytes);
  }

  likelihood(req: LikelihoodRequest, signal?: AbortSignal): Promise<LikelihoodResult> {
    return this.cancellable<LikelihoodResult>("likelihood", req, signal);
  }

  greedyDecode(req: GreedyDecodeRequest, signal?: AbortSignal): Promise<GreedyDecodeResult> {
    return this.cancellable<GreedyDecodeResult>("greedyDecode", req, signal);
  }

  /**
   * A call the engine process can stop between batches: when `signal` aborts, the process is
   * told to cancel call `callId` (it checks before every batch) and this call rejects at once
   * with the signal's reason, so the next request need not wait for abandoned work.
   */
  private async cancellable<T>(method: string, req: unknown, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    if (!signal) return await this.call<T>(method, { req });
    const callId = this.nextCallId++;
    const child = this.start();
    let onAbort = () => {};
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        child.peer.call("cancel", { callId }).catch(() => {}); // gone already: nothing to stop
        reject(signal.reason);
      };
    });
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      return await Promise.race([this.call<T>(method, { req, callId }), aborted]);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  async runJob(kind: JobKind, host: JobHost): Promise<unknown> {
    const retries = this.options.jobRetries ?? 2;
    this.hosts.set(host.id, host);
    let resumed = host.resumed;
    try {
      for (let attempt = 0;; attempt++) {
        const child = this.start();
        const abortWatch = setInterval(() => this.forwardAbort(child, host), 200);
        try {
          return await this.call("runJob", { kind, id: host.id, input: host.input, resumed });
        } catch (e) {
          host.throwIfAborted(); // a cancel or shutdown wins over the error it caused
          if (!(e instanceof EngineCrashedError)) throw e;
          if (attempt >= retries) {
            throw new JobFailure(
              "engine_crashed",
              `${e.message} (${attempt + 1} tries, the last from its checkpoint)`,
            );
          }
          this.options.log?.(`job ${host.id}: ${e.message}; resuming from its checkpoint`);
          resumed = true;
        } finally {
          clearInterval(abortWatch);
        }
      }
    } finally {
      this.hosts.delete(host.id);
    }
  }

  /** Passes a cancel or shutdown of the job on to the engine process. */
  private forwardAbort(child: Child, host: JobHost) {
    try {
      host.throwIfAborted();
    } catch (e) {
      const err = e as Error;
      child.peer.call("abort", { id: host.id, name: err.name, message: err.message })
        .catch(() => {});
    }
  }

  /** Test hook: kills the engine process the way a WebGPU panic would. */
  async injectCrash(): Promise<void> {
    try {
      await this.call("crash");
    } catch (e) {
      // On a busy machine the process may die before its answer is out: the crash asked for.
      if (!(e instanceof EngineCrashedError)) throw e;
    }
  }

  /** Test hook: the engine process's thread gets stuck for good (a hung driver call). */
  async injectHang(): Promise<void> {
    await this.call("hang");
  }

  /**
   * Ends the engine process: closes its stdin, which it takes as the word to exit (it
   * ignores SIGINT/SIGTERM so that a signal to the whole process group cannot cut a
   * shutdown checkpoint short), and kills it if it has not exited after a grace period.
   */
  async close(): Promise<void> {
    this.closing = true;
    const child = this.child;
    if (!child) return;
    // Not awaited: a write stuck on a busy child must not hold close() past the grace period.
    child.stdin.close().catch(() => {}); // already closed if the process is gone
    let timer: ReturnType<typeof setTimeout> | undefined;
    const graceOver = new Promise<"kill">((resolve) => {
      timer = setTimeout(() => resolve("kill"), CLOSE_GRACE_MS);
    });
    try {
      if (await Promise.race([child.ended, graceOver]) === "kill") {
        this.options.log?.(`engine process did not exit within ${CLOSE_GRACE_MS} ms; killing it`);
        try {
          child.process.kill("SIGKILL");
        } catch {
          // it exited meanwhile
        }
        await child.ended;
      }
    } finally {
      clearTimeout(timer);
    }
  }
}
