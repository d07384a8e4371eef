// Runs main.ts as its own process, as `deno task start` would, on a free
// port with its own data folder; tests stop it with a signal. With
// `ownGroup`, main.ts leads a process group of its own (setsid) and signals go
// to the whole group, its engine child included, as Ctrl-C in a terminal or
// systemd's stop send them.
import { fileURLToPath } from "node:url";
import { readLines } from "../../experiments/service.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface MainProcess {
  url: string;
  pid: number;
  out: string[];
  err: string[];
  /**
   * Sends `signal` (to the whole group with `ownGroup`) and waits for the exit; returns
   * the exit code.
   */
  stop(signal?: Deno.Signal): Promise<number>;
  /** The first stdout line matching `pattern`, once printed (lines after "listening" come later). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

export interface StartOptions {
  /** Start main.ts as the leader of a new process group (needs util-linux's setsid). */
  ownGroup?: boolean;
  /** Run under this limit on open files (`ulimit -n`), as a small server or container would. */
  descriptorLimit?: number;
}

export async function startMain(
  dataDir: string,
  env: Record<string, string> = {},
  options: StartOptions = {},
): Promise<MainProcess> {
  const deno = [Deno.execPath(), "run", "-A", "main.ts"];
  // setsid execs deno in place (a spawned child is no group leader), so the pid is main.ts's
  // and also the group id.
  const limited = options.descriptorLimit === undefined
    ? deno
    : ["sh", "-c", `ulimit -n ${options.descriptorLimit} && exec "$@"`, "sh", ...deno];
  const [cmd, ...args] = options.ownGroup ? ["setsid", ...limited] : limited;
  const child = new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    env: { PORT: "0", HOST: "127.0.0.1", MEMCAP_DATA: dataDir, MEMCAP_TOKEN: "", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out: string[] = [];
  const err: string[] = [];
  let resolveUrl: (url: string) => void;
  const listening = new Promise<string>((r) => (resolveUrl = r));
  const reading = Promise.all([
    readLines(child.stdout, (line) => {
      out.push(line);
      const m = line.match(/listening on (http:\/\/\S+)/);
      if (m) resolveUrl(m[1]);
    }),
    readLines(child.stderr, (line) => err.push(line)),
  ]);
  const exited = child.status;
  let stopped = false;
  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    if (options.ownGroup) {
      // Every time: after main.ts exits, a member left behind (its engine child) still gets it.
      try {
        Deno.kill(-child.pid, signal);
      } catch {
        // the group is gone
      }
    } else if (!stopped) {
      stopped = true;
      try {
        child.kill(signal);
      } catch {
        // already exited
      }
    }
    const status = await exited;
    await reading.catch(() => {});
    return status.code;
  };
  const waitForLine = async (pattern: RegExp, timeoutMs = 10_000) => {
    for (const deadline = Date.now() + timeoutMs; Date.now() < deadline;) {
      const line = out.find((l) => pattern.test(l));
      if (line !== undefined) return line;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no line matching ${pattern} within ${timeoutMs} ms:\n${out.join("\n")}`);
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const url = await Promise.race([
      listening,
      exited.then(async (s) => {
        await reading; // its last words, all of them
        throw new Error(`main.ts exited (${s.code}) early:\n${out.join("\n")}\n${err.join("\n")}`);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no listening line:\n${err.join("\n")}`)),
          60_000,
        );
      }),
    ]);
    return { url, pid: child.pid, out, err, stop, waitForLine };
  } catch (e) {
    await stop("SIGKILL");
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
