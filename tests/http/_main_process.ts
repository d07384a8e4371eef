// Runs main.ts as its own process, as `deno task start` would, on a free
// port with its own data folder; tests stop it with a signal.
import { fileURLToPath } from "node:url";
import { readLines } from "../../lib/experiments/service.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface MainProcess {
  url: string;
  out: string[];
  err: string[];
  /** Sends `signal` and waits for the exit; returns the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
}

export async function startMain(
  dataDir: string,
  env: Record<string, string> = {},
): Promise<MainProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts"],
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
    if (!stopped) {
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
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const url = await Promise.race([
      listening,
      exited.then((s) => {
        throw new Error(`main.ts exited (${s.code}) early:\n${out.join("\n")}\n${err.join("\n")}`);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no listening line:\n${err.join("\n")}`)),
          60_000,
        );
      }),
    ]);
    return { url, out, err, stop };
  } catch (e) {
    await stop("SIGKILL");
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
