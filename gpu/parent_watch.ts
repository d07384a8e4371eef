// A Worker inside the engine process (engine_child.ts) that ends the process once the service
// that started it is gone. The engine's own thread notices that on its stdin closing, but only
// between two tasks: a long synchronous call (a pipeline compile, a stuck driver, a big
// generation) would keep it running, holding the GPU and gigabytes, with no one to report to.
// This thread polls Deno.ppid, which changes when the parent dies (the orphan is re-parented to
// init or a subreaper), and SIGKILLs its own process then: nothing is left to save, since
// checkpoints go through the parent.

export interface ParentWatch {
  /** The service's pid, as it told the engine (MEMCAP_PARENT_PID). */
  parentPid: number;
  intervalMs: number;
}

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<ParentWatch>) => void) | null;
};

scope.onmessage = (e) => {
  const { parentPid, intervalMs } = e.data;
  const check = () => {
    if (Deno.ppid !== parentPid) Deno.kill(Deno.pid, "SIGKILL");
  };
  check();
  setInterval(check, intervalMs);
};
