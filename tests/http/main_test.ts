// Starts `main.ts` as its own process on a free port, as `deno task start` would.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Health } from "../../routes/health.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

async function readLines(
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

Deno.test("main.ts serves /v1/health on PORT=0 and stops on SIGTERM", async () => {
  const data = await Deno.makeTempDir({ prefix: "memcap-main-test-" });
  const dataDir = `${data}/store`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts"],
    cwd: ROOT,
    env: { PORT: "0", HOST: "127.0.0.1", MEMCAP_DATA: dataDir, MEMCAP_TOKEN: "" },
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
    clearTimeout(timer);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(url.endsWith(":0"), true);

    const res = await fetch(`${url}/v1/health`);
    assert.equal(res.status, 200);
    const body = Health.parse(await res.json());
    assert.ok(["ok", "degraded"].includes(body.status));
    assert.ok((await Deno.stat(dataDir)).isDirectory, "MEMCAP_DATA is created");

    const missing = await fetch(`${url}/v1/nope`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();

    child.kill("SIGTERM");
    const status = await exited;
    await reading;
    assert.equal(status.code, 0, `exit ${status.code}:\n${out.join("\n")}\n${err.join("\n")}`);
    assert.ok(out.some((l) => /shutting down/.test(l)), out.join("\n"));
  } finally {
    clearTimeout(timer);
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await exited;
    await reading.catch(() => {});
    await Deno.remove(data, { recursive: true });
  }
});
