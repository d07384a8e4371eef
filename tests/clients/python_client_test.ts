// The Python client (clients/python/memcap.py, standard library only) against a live service:
// a tiny capacity sweep created, waited for with progress, its answer and figure fetched; an
// error response (a typo, an extend the sweep cannot take) raises MemcapError with the
// service's code. Needs python3 (the test task
// installs Debian's when missing).
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startMain } from "../http/_main_process.ts";

const CLIENT_DIR = fileURLToPath(new URL("../../clients/python/", import.meta.url));

const SCRIPT = `
import json, sys
sys.path.insert(0, sys.argv[1])
import memcap
client = memcap.Client(sys.argv[2])
assert client.health()["status"] in ("ok", "degraded")
sweep = client.start_capacity(
    config={"vocabSize": 16, "seqLen": 8, "layers": 1, "dModel": 8, "heads": 1},
    datasetSizes=[8, 24], testSequences=0,
    training={"maxSteps": 500, "batchSize": 8},
)
phases = []
def progress(job):
    memcap.print_progress(job)
    if job.get("progress"):
        phases.append(job["progress"]["phase"])
done = client.wait_capacity(sweep["id"], progress=progress, poll=0.2)
svg = client.capacity_svg(sweep["id"])
try:
    client.start_capacity(
        config={"vocabSize": 16, "seqLen": 8, "layers": 1, "dModel": 8, "heads": 1},
        trainig={"maxSteps": 10},
    )
    error = None
except memcap.MemcapError as e:
    error = {"status": e.status, "code": e.code, "message": e.message}
try:
    client.extend_capacity(sweep["id"], 10**6)
    refused = None
except memcap.MemcapError as e:
    refused = {"status": e.status, "code": e.code}
print(json.dumps({"done": done, "phases": phases, "svg": svg[:5], "error": error,
                  "refused": refused}))
`;

Deno.test("the Python client creates a sweep, waits with progress and reads its answer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memcap-py-" });
  const main = await startMain(`${dir}/data`);
  try {
    const out = await new Deno.Command("python3", {
      args: ["-c", SCRIPT, CLIENT_DIR, main.url],
      env: { MEMCAP_TOKEN: "" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const r = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(r.done.status, "succeeded");
    assert.ok(r.done.bitsPerParameter > 0);
    assert.ok(["certified", "lower-bound"].includes(r.done.verdict));
    assert.equal(r.svg, "<svg ");
    assert.ok(r.phases.includes("training"), r.phases.join(","));
    assert.match(stderr, /cap_\w+ running (preparing|compiling|training|evaluating): models/);
    // A typo is the service's 422 naming the key, as a MemcapError.
    assert.equal(r.error.status, 422);
    assert.match(r.error.message, /body\.trainig: unknown key; did you mean "training"\?/);
    // A sweep that trained its grid once is not one more budget continues: 409.
    assert.deepEqual(r.refused, { status: 409, code: "conflict" });
  } finally {
    await main.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
