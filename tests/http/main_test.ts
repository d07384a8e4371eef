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

    const res = await fetch(`${main.url}/v1/health`);
    assert.equal(res.status, 200);
    const body = Health.parse(await res.json());
    assert.ok(["ok", "degraded"].includes(body.status));
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
