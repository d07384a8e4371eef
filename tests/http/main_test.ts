// Starts `main.ts` as its own process on a free port, as `deno task start` would.

import assert from "node:assert/strict";
import { Health } from "../../routes/health.ts";
import { startMain } from "./_main_process.ts";

Deno.test("main.ts serves /v1/health on PORT=0 and stops on SIGTERM", async () => {
  const data = await Deno.makeTempDir({ prefix: "memcap-main-test-" });
  const dataDir = `${data}/store`;
  const main = await startMain(dataDir);
  try {
    assert.match(main.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(main.url.endsWith(":0"), true);
    // Without a token it says that it serves this machine only.
    await main.waitForLine(/no MEMCAP_TOKEN: serving this machine only \(loopback\)/);

    const res = await fetch(`${main.url}/v1/health`);
    assert.equal(res.status, 200);
    const body = Health.parse(await res.json());
    assert.ok(["ok", "degraded"].includes(body.status));
    // Start-up is quiet on a headless machine: no window-system noise from Mesa.
    await main.waitForLine(/^gpu: /, 60_000);
    assert.ok(!main.err.some((l) => /XDG_RUNTIME_DIR/.test(l)), main.err.join("\n"));
    assert.ok((await Deno.stat(dataDir)).isDirectory, "MEMCAP_DATA is created");

    const missing = await fetch(`${main.url}/v1/nope`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();

    const code = await main.stop("SIGTERM");
    assert.equal(code, 0, `exit ${code}:\n${main.out.join("\n")}\n${main.err.join("\n")}`);
    assert.ok(main.out.some((l) => /shutting down/.test(l)), main.out.join("\n"));
  } finally {
    await main.stop("SIGKILL");
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("main.ts with MEMCAP_TOKEN: health and the docs stay open, /v1/* needs the token", async () => {
  const data = await Deno.makeTempDir({ prefix: "memcap-main-test-" });
  const token = "t0ken-for.main_test";
  const main = await startMain(`${data}/store`, { MEMCAP_TOKEN: token });
  try {
    await main.waitForLine(/auth: bearer token/);
    const status = async (path: string, auth?: string) => {
      const res = await fetch(main.url + path, {
        headers: auth ? { authorization: `Bearer ${auth}` } : {},
      });
      await res.body?.cancel();
      return res.status;
    };
    for (const path of ["/v1/health", "/docs", "/openapi.json"]) {
      assert.equal(await status(path), 200, path);
    }
    for (const path of ["/v1/datasets", "/v1/models", "/v1/runs", "/v1/capacity", "/metrics"]) {
      assert.equal(await status(path), 401, path);
      assert.equal(await status(path, "wrong"), 401, path);
      assert.equal(await status(path, token), 200, path);
    }
    await main.stop("SIGTERM");
    const printed = [...main.out, ...main.err].filter((l) => l.includes(token));
    assert.deepEqual(printed, [], "the token is never printed");
  } finally {
    await main.stop("SIGTERM");
    await Deno.remove(data, { recursive: true });
  }
});
