// The engine process: owns the GPU and runs what the service asks over
// stdin/stdout frames (lib/rpc). Its stdout carries frames only, so logs go
// to stderr. A crash here (a WGSL compile error, a lost device, a panic in
// the WebGPU runtime) ends this process, not the HTTP service.
import { getGpu } from "./device.ts";
import { GpuEngine } from "./engine.ts";
import type {
  GreedyDecodeRequest,
  JobHost,
  JobKind,
  LikelihoodRequest,
} from "../lib/engine_interface.ts";
import { Peer } from "../lib/rpc/peer.ts";
import type { ModelWeightsPatch } from "../lib/model_store/models.ts";
import type { ParentWatch } from "./parent_watch.ts";

console.log = console.error; // stdout is the frame channel
console.info = console.error;

// Ctrl-C in a terminal and systemd's stop send SIGINT/SIGTERM to the whole process group,
// this process included. Dying on it would lose the running job's shutdown checkpoint, which
// the service asks for (an "abort" call) and waits for before it lets this process go. So the
// service alone coordinates shutdown: it ends this process by closing its stdin (see below and
// EngineProcess.close), and SIGKILL still works.
for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, () => {});

// Ends this process when the service dies, even while this thread is busy (parent_watch.ts).
const parentPid = Number(Deno.env.get("MEMCAP_PARENT_PID")) || Deno.ppid;
new Worker(new URL("./parent_watch.ts", import.meta.url).href, { type: "module" })
  .postMessage({ parentPid, intervalMs: 200 } satisfies ParentWatch);

const engine = new GpuEngine(getGpu, {
  memoryBudgetBytes: Number(Deno.env.get("MEMCAP_GPU_MEMORY_BYTES")) || undefined,
  sweepCheckpointSeconds: Deno.env.has("MEMCAP_SWEEP_CHECKPOINT_S")
    ? Number(Deno.env.get("MEMCAP_SWEEP_CHECKPOINT_S"))
    : undefined,
});
const peer = new Peer(Deno.stdin.readable, Deno.stdout.writable.getWriter());
const aborted = new Map<string, { name: string; message: string }>();

/** A JobHost whose every call is a message to the service. */
function remoteHost(job: { id: string; input: unknown; resumed: boolean }): JobHost {
  const call = <T>(method: string, params: Record<string, unknown> = {}) =>
    peer.call<T>(`host.${method}`, { jobId: job.id, ...params });
  return {
    id: job.id,
    input: job.input,
    resumed: job.resumed,
    throwIfAborted() {
      const reason = aborted.get(job.id);
      if (reason) {
        const e = new Error(reason.message);
        e.name = reason.name;
        throw e;
      }
    },
    progress: (p, opts) => call("progress", { progress: p, persist: opts?.persist ?? false }),
    getArtifact: (name) => call<Uint8Array | null>("getArtifact", { name }),
    putArtifact: (name, bytes) => call("putArtifact", { name, bytes }),
    deleteArtifact: (name) => call("deleteArtifact", { name }),
    loadModel: (id) => call("loadModel", { id }),
    loadDataset: (id) => call("loadDataset", { id }),
    saveModelWeights: (id: string, params: Float32Array, patch: ModelWeightsPatch) =>
      call("saveModelWeights", { id, params, patch }),
  };
}

const faults = Deno.env.get("MEMCAP_TEST_FAULTS") === "1";

/** Calls that can be cancelled (EngineProcess.cancellable), by call id. */
const cancellable = new Map<number, AbortController>();

/** Runs `work` with a signal that a "cancel" for `callId` aborts. */
async function withCancel<T>(
  callId: number | undefined,
  work: (signal?: AbortSignal) => Promise<T>,
): Promise<T> {
  if (callId === undefined) return await work();
  const controller = new AbortController();
  cancellable.set(callId, controller);
  try {
    return await work(controller.signal);
  } finally {
    cancellable.delete(callId);
  }
}

peer
  .handle("gpu", () => engine.gpu())
  .handle(
    "likelihood",
    (p: { req: LikelihoodRequest; callId?: number }) =>
      withCancel(p.callId, (signal) => engine.likelihood(p.req, signal)),
  )
  .handle(
    "greedyDecode",
    (p: { req: GreedyDecodeRequest; callId?: number }) =>
      withCancel(p.callId, (signal) => engine.greedyDecode(p.req, signal)),
  )
  .handle("cancel", (p: { callId: number }) => {
    // The call may have finished meanwhile: then there is nothing to stop.
    cancellable.get(p.callId)?.abort(new DOMException("the request was cancelled", "AbortError"));
  })
  .handle("runJob", async (p: { kind: JobKind; id: string; input: unknown; resumed: boolean }) => {
    aborted.delete(p.id);
    try {
      return await engine.runJob(p.kind, remoteHost(p));
    } finally {
      aborted.delete(p.id);
    }
  })
  .handle("abort", (p: { id: string; name: string; message: string }) => {
    aborted.set(p.id, { name: p.name, message: p.message });
  })
  // Test-only fault injection (MEMCAP_TEST_FAULTS=1): the process dies as a
  // WebGPU panic would kill it.
  .handle("crash", () => {
    if (!faults) throw new Error("fault injection is off");
    setTimeout(() => Deno.exit(70), 10);
  })
  // ... and its thread gets stuck for good, as in a hung driver call (the watchdog's case).
  .handle("hang", () => {
    if (!faults) throw new Error("fault injection is off");
    setTimeout(() => {
      while (true) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
    }, 10);
  });

// Heartbeats from the event loop tell the service's watchdog this thread is not stuck
// (EngineProcessOptions.watchdogMs). unref: they alone must not keep the process alive.
const heartbeatMs = Number(Deno.env.get("MEMCAP_HEARTBEAT_MS"));
if (heartbeatMs > 0) {
  Deno.unrefTimer(setInterval(() => peer.call("host.heartbeat").catch(() => {}), heartbeatMs));
}

// stdin ends when the service closes it or dies (even by kill -9): then nothing is left to
// serve or report to, so exit at once rather than finish work no one will read.
await peer.done;
Deno.exit(0);
