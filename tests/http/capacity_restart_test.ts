// A capacity sweep whose service is stopped mid-fleet continues that fleet
// from the checkpoint the shutdown wrote, and ends with exactly the results
// of the same sweep run in one go (the checkpoint holds parameters, Adam
// moments and step; batches are replayed from the seeds).
import assert from "node:assert/strict";
import { startMain } from "./_main_process.ts";
import { fetchJson as api } from "./_client.ts";
import { oneFleetSweep } from "./_fixtures.ts";

const STEPS = 1600;
const sweep = oneFleetSweep(STEPS);

async function waitFor(url: string, id: string, until: (s: any) => boolean) {
  for (let i = 0; i < 1200; i++) {
    const s = (await api(url, "GET", `/v1/capacity/${id}`)).json;
    if (until(s)) return s;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sweep ${id} did not get there`);
}

const finished = (s: any) => !["queued", "running"].includes(s.status);

Deno.test("a capacity sweep stopped mid-fleet resumes from its fleet checkpoint", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memcap-sweep-restart-" });
  let main = await startMain(dir);
  try {
    const created = await api(main.url, "POST", "/v1/capacity", sweep);
    assert.equal(created.status, 202, JSON.stringify(created.json));
    const id = created.json.id;
    const seen = await waitFor(main.url, id, (s) => s.progress?.step >= 400 || finished(s));
    assert.equal(seen.status, "running", `status ${seen.status}`);
    assert.equal(seen.capacityBits, null, "no headline figures before the sweep is done");
    assert.equal(seen.parameterCount, 1 * 8 * 16 + 8 * 8 + 12 * 64 + 13 * 8 + 2 * 8);
    assert.equal(await main.stop("SIGTERM"), 0);

    main = await startMain(dir);
    const resumed = await waitFor(main.url, id, finished);
    assert.equal(resumed.status, "succeeded", JSON.stringify(resumed.error));
    assert.equal(resumed.result.resumedFrom.length, 1);
    assert.equal(resumed.result.resumedFrom[0].fleet, 0);
    assert.ok(
      resumed.result.resumedFrom[0].step >= seen.progress.step,
      `resumed from ${resumed.result.resumedFrom[0].step}, seen ${seen.progress.step}`,
    );

    // The same sweep in one go gives the same memorized bits, run by run.
    const again = await api(main.url, "POST", "/v1/capacity", sweep);
    const whole = await waitFor(main.url, again.json.id, finished);
    assert.equal(whole.status, "succeeded", JSON.stringify(whole.error));
    assert.deepEqual(whole.result.resumedFrom, []);
    const bits = (s: any) =>
      s.result.runs.map((r: any) => [r.datasetSize, r.steps, r.memorizedBits]);
    assert.deepEqual(bits(resumed), bits(whole));
  } finally {
    await main.stop("SIGTERM");
    await Deno.remove(dir, { recursive: true });
  }
});
