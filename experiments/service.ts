// Where an experiment sends its sweeps: a memcap service already running
// (--url, with MEMCAP_TOKEN when it needs one), or one this process starts
// from main.ts for the duration of the study, with its own data folder so an
// interrupted study resumes its sweeps (the service resumes jobs from their
// checkpoints, and the study finds its sweeps again by id).
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** The permissions of `deno task start` (deno.json), so the study runs what users run. */
const START_FLAGS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  "--allow-sys",
];

/** Calls onLine with each line of a text stream (the last one even without a newline). */
export async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    let i;
    while ((i = pending.indexOf("\n")) >= 0) {
      onLine(pending.slice(0, i));
      pending = pending.slice(i + 1);
    }
  }
  if (pending) onLine(pending);
}

export interface Service {
  url: string;
  token?: string;
  /** Stops a service this process started (graceful: running jobs checkpoint). */
  close(): Promise<void>;
}

export function remoteService(url: string, token?: string): Service {
  return { url: url.replace(/\/+$/, ""), token, close: () => Promise.resolve() };
}

/** Starts main.ts on a free loopback port with `dataDir` as its store. */
export async function startService(dataDir: string, log: (line: string) => void): Promise<Service> {
  await Deno.mkdir(dataDir, { recursive: true });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...START_FLAGS, "main.ts"],
    cwd: ROOT,
    env: { PORT: "0", HOST: "127.0.0.1", MEMCAP_DATA: dataDir, MEMCAP_TOKEN: "" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let listening: (url: string) => void;
  const url = new Promise<string>((resolve) => (listening = resolve));
  const reading = Promise.all([
    readLines(child.stdout, (line) => {
      const m = line.match(/listening on (http:\/\/\S+)/);
      if (m) listening(m[1]);
      log(`service: ${line}`);
    }),
    // Mesa's "XDG_RUNTIME_DIR is invalid" lines are noise on headless machines.
    readLines(child.stderr, (line) => /XDG_RUNTIME_DIR/.test(line) || log(`service: ${line}`)),
  ]);
  const exited = child.status.then((s) => {
    throw new Error(`the service exited (code ${s.code}) before it was listening`);
  });
  exited.catch(() => {}); // after start-up, an exit is close()'s business
  const started = await Promise.race([url, exited]);
  let closed = false;
  return {
    url: started,
    async close() {
      if (closed) return;
      closed = true;
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      await child.status;
      await reading;
    },
  };
}
