// The CLI against a live service (main.ts in its own process): a tiny capacity sweep with
// --wait prints bits per parameter with its verdict and saves the figure; bad flags and a
// service that is not there end with a message and a non-zero exit.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startMain } from "../http/_main_process.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

async function memcap(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli/memcap.ts", ...args],
    cwd: ROOT,
    env: { MEMCAP_TOKEN: "" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** A 1,080-parameter model, two dataset sizes, 500 steps: seconds on the software adapter. */
const TINY_SWEEP = [
  "capacity",
  ...["--layers", "1", "--d-model", "8", "--heads", "1", "--vocab-size", "16"],
  ...["--seq-len", "8", "--sizes", "8,24", "--max-steps", "500", "--batch-size", "8"],
];

Deno.test("memcap capacity --wait: progress, bits per parameter with the verdict, the figure", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memcap-cli-" });
  const main = await startMain(`${dir}/data`);
  try {
    const health = await memcap("--url", main.url, "health");
    assert.equal(health.code, 0, health.stderr);
    assert.match(health.stdout, /^(ok|degraded): memcap /);

    const svg = `${dir}/figure.svg`;
    const r = await memcap(
      "--url",
      main.url,
      ...TINY_SWEEP,
      ...["--wait", "--svg", svg],
    );
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.match(/^(cap_\w+) succeeded$/m)?.[1];
    assert.ok(id, r.stdout);
    // The answer with its verdict; a lower bound says so and why.
    const answer = r.stdout.match(
      /^capacity (≥ )?[\d,]+ bits, (≥ )?\d+\.\d\d bits per parameter \(1,080 parameters\): (certified|lower-bound)$/m,
    );
    assert.ok(answer, r.stdout);
    if (answer[3] === "lower-bound") assert.match(r.stdout, /^ {2}- /m);
    assert.match(r.stdout, new RegExp(`^figure: ${svg}$`, "m"));
    assert.match(await Deno.readTextFile(svg), /^<svg /);
    // Progress went to stderr, phase by phase.
    assert.match(r.stderr, /(preparing|compiling|training|evaluating) models \d+\/\d+/);

    // The sweep again by id, as JSON, is the service's own answer.
    const again = await memcap("--url", main.url, "--json", "sweep", id);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).id, id);

    // A sweep its token budget stops (two runs of 500 steps at 64 tokens a step, one token
    // over) says how to go on; extend continues it with a larger budget.
    const tight = await memcap(
      "--url",
      main.url,
      ...TINY_SWEEP,
      ...["--until", "certified", "--token-budget", String(2 * 500 * 64 + 1), "--wait"],
      ...["--svg", svg],
    );
    assert.equal(tight.code, 0, tight.stderr);
    const stopped = tight.stdout.match(
      /^stopped at its token budget \(64,000 of 64,001 tokens spent; its next training needs a budget of ([\d,]+)\); go on with: deno task memcap extend (cap_\w+) --token-budget 128002 --wait$/m,
    );
    assert.ok(stopped, tight.stdout);
    // What the next training costs: more than what was spent, within the suggested budget.
    const least = Number(stopped[1].replaceAll(",", ""));
    assert.ok(least > 64001 && least <= 128002, stopped[1]);
    const sweepId = stopped[2];
    const extended = await memcap(
      "--url",
      main.url,
      "extend",
      sweepId,
      ...["--token-budget", "128002", "--wait", "--svg", svg],
    );
    assert.equal(extended.code, 0, extended.stderr);
    assert.match(extended.stdout, new RegExp(`^${sweepId} succeeded$`, "m"));
    const after = JSON.parse(
      (await memcap("--url", main.url, "--json", "sweep", sweepId)).stdout,
    );
    assert.deepEqual(after.result.budget.extendedFrom, [64001]);
    assert.ok(after.result.budget.tokensSpent > 64000, JSON.stringify(after.result.budget));
    // Not a sweep the budget stopped (the first one trained its grid once): the service's 409.
    const refused = await memcap("--url", main.url, "extend", id, "--token-budget", "1000000");
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /409.*not stopped by its token budget/);
  } finally {
    await main.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("memcap: a wrong flag, a missing one and no service each end with a message", async () => {
  const typo = await memcap("capacity", "--layer", "1");
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /Unknown option '--layer'/);
  const missing = await memcap("capacity", "--layers", "1");
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--d-model is required|--vocab-size is required/);
  const away = await memcap("--url", "http://127.0.0.1:9", "health");
  assert.equal(away.code, 1);
  assert.match(away.stderr, /cannot reach the service/);
  const help = await memcap("--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: deno task memcap/m);
});
