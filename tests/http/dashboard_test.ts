// The dashboard (GET /) in headless Chromium against a live service: the page lists a
// finished sweep with its answer and verdict, a running one with its phase and progress,
// and a sweep's own page draws its figure. Needs Debian's chromium (the test task
// installs it when missing).
import assert from "node:assert/strict";
import { startMain } from "./_main_process.ts";

/**
 * The page's DOM once its scripts ran (Chromium's virtual time lets the fetches finish), in a
 * fresh profile, with Chromium's own network traffic off (this machine has no outside network).
 */
async function renderedDom(url: string): Promise<string> {
  const profile = await Deno.makeTempDir({ prefix: "memcap-chromium-" });
  try {
    const out = await new Deno.Command("timeout", {
      args: [
        "60",
        "chromium",
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile}`,
        "--virtual-time-budget=8000",
        "--dump-dom",
        url,
      ],
      stdout: "piped",
      stderr: "null",
    }).output();
    assert.equal(out.code, 0, `chromium exited with ${out.code}`);
    return new TextDecoder().decode(out.stdout);
  } finally {
    await Deno.remove(profile, { recursive: true });
  }
}

async function post(base: string, path: string, body: unknown) {
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  assert.ok(res.ok, JSON.stringify(json));
  return json;
}

const config = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 1 };

Deno.test("the dashboard shows jobs live and a sweep's answer and figure, in Chromium", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memcap-dashboard-" });
  const main = await startMain(`${dir}/data`);
  try {
    const small = await post(main.url, "/v1/capacity", {
      config,
      datasetSizes: [8, 24],
      testSequences: 0,
      training: { maxSteps: 500, batchSize: 8 },
    });
    for (let s = small; s.status !== "succeeded";) {
      assert.ok(!["failed", "cancelled"].includes(s.status), JSON.stringify(s));
      await new Promise((r) => setTimeout(r, 200));
      s = await (await fetch(`${main.url}/v1/capacity/${small.id}`)).json();
    }
    // A sweep that trains for long: the page shows it running, with its phase.
    const long = await post(main.url, "/v1/capacity", {
      config,
      datasetSizes: [400, 800],
      testSequences: 0,
      training: { maxSteps: 200000, batchSize: 8 },
    });

    const list = await renderedDom(`${main.url}/`);
    const done = list.match(
      new RegExp(`<tr id="job-${small.id}" data-status="succeeded">.*?</tr>`),
    );
    assert.ok(done, list);
    assert.match(done[0], /\d+\.\d\d bits\/param \((certified|lower-bound)\)/);
    const running = list.match(
      new RegExp(`<tr id="job-${long.id}" data-status="(queued|running)">.*?</tr>`),
    );
    assert.ok(running, list);
    if (running[1] === "running") {
      assert.match(running[0], /(preparing|compiling|training|evaluating)/);
    }

    const page = await renderedDom(`${main.url}/#/capacity/${small.id}`);
    assert.match(page, /<div id="figure"><svg /);
    assert.match(page, new RegExp(`Capacity sweep ${small.id}`));

    await post(main.url, `/v1/capacity/${long.id}/cancel`, {});

    // A sweep its token budget stopped (two runs of 500 steps, one token over) says how to go on.
    const tight = await post(main.url, "/v1/capacity", {
      config,
      datasetSizes: [8, 24],
      until: "certified",
      tokenBudget: 2 * 500 * 64 + 1,
      training: { maxSteps: 500, batchSize: 8, schedule: { kind: "cosine-restarts" } },
    });
    for (let s = tight; s.status !== "succeeded";) {
      assert.ok(!["failed", "cancelled"].includes(s.status), JSON.stringify(s));
      await new Promise((r) => setTimeout(r, 200));
      s = await (await fetch(`${main.url}/v1/capacity/${tight.id}`)).json();
    }
    const stopped = await renderedDom(`${main.url}/#/capacity/${tight.id}`);
    assert.match(
      stopped,
      new RegExp(
        `stopped at its token budget \\(64,000 of 64,001 tokens\\): POST /v1/capacity/` +
          `${tight.id}/extend with a larger tokenBudget`,
      ),
    );
  } finally {
    await main.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
