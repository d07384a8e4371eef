// The experiment runner's plumbing against a real service: startService
// launches main.ts, a sweep goes through POST /v1/capacity, and a second
// client on the same state file finds the sweep again instead of training it
// anew (how an interrupted study resumes), or extends it when only a larger token budget
// is asked.
import assert from "node:assert/strict";
import { ExperimentClient } from "../../experiments/client.ts";
import { type Service, startService } from "../../experiments/service.ts";

/** A service (main.ts in its own process) on a fresh folder, stopped and removed after `fn`. */
async function withService(fn: (service: Service, dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "memcap_experiment_" });
  const service = await startService(`${dir}/store`, () => {});
  try {
    await fn(service, dir);
  } finally {
    await service.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("experiment client: a sweep through the service, found again on a second run", async () => {
  await withService(async (service, dir) => {
    const state = `${dir}/sweeps.json`;
    const request = {
      config: { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 2 },
      datasetSizes: [4, 64],
      maxExtraSizes: 0, // this checks the plumbing: just the two sizes asked for
      testSequences: 8,
      training: {
        batchSize: 16,
        maxSteps: 400,
        schedule: { kind: "cosine-restarts" as const, warmupSteps: 10, firstCycleSteps: 100 },
      },
    };
    const first = await ExperimentClient.open(service, state, () => {});
    const id = await first.submitSweep("tiny", request);
    const result = await first.waitSweep("tiny", id);
    assert.equal(result.runs.length, 2);
    assert.ok(result.points[0].fractionMemorized > 0.9, JSON.stringify(result.points[0]));

    const again = await ExperimentClient.open(service, state, () => {});
    assert.equal(await again.submitSweep("tiny", request), id, "the saved sweep is reused");
    const changed = { ...request, datasetSizes: [4, 32] };
    assert.notEqual(await again.submitSweep("tiny", changed), id, "a changed request is new");

    // --max-fleet-size 1 --seeds 3: the same study, each model alone, three seeds per size; a
    // new sweep, and what a report reads as its request says so.
    const alone = await ExperimentClient.open(service, `${dir}/alone.json`, () => {}, {
      maxFleetSize: 1,
      seeds: 3,
    });
    const aloneId = await alone.submitSweep("tiny", request);
    const sweep = await alone.request<{ input: { maxFleetSize: number; seeds: unknown } }>(
      "GET",
      `/v1/capacity/${aloneId}`,
    );
    assert.equal(sweep.input.maxFleetSize, 1);
    assert.deepEqual(sweep.input.seeds, 3);
    assert.deepEqual(alone.withOverrides(request), { ...request, maxFleetSize: 1, seeds: 3 });
    await alone.request("POST", `/v1/capacity/${aloneId}/cancel`);
  });
});

Deno.test("--token-budget extends a saved sweep a smaller budget stopped, not a new one", async () => {
  await withService(async (service, dir) => {
    const state = `${dir}/sweeps.json`;
    // Three sizes, the two larger capacity-limited; a budget one token over the first pass.
    const request = {
      config: { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 2 },
      datasetSizes: [16, 128, 256],
      testSequences: 0,
      maxExtraSizes: 0,
      until: "certified" as const,
      training: {
        batchSize: 32,
        maxSteps: 400,
        optimizer: { lr: 0.02 },
        schedule: { kind: "cosine-restarts" as const, warmupSteps: 20, firstCycleSteps: 100 },
        saturation: { fraction: 0.02, minSteps: 200 },
      },
    };
    const firstPass = 3 * 400 * 32 * 8;
    const small = await ExperimentClient.open(service, state, () => {}, {
      tokenBudget: firstPass + 1,
    });
    const id = await small.submitSweep("tight", request);
    const stopped = await small.waitSweep("tight", id);
    assert.equal(stopped.budget.stoppedBy, "token-budget", JSON.stringify(stopped.budget));

    const lines: string[] = [];
    const large = await ExperimentClient.open(service, state, (l) => lines.push(l), {
      tokenBudget: 4 * firstPass,
    });
    assert.equal(await large.submitSweep("tight", request), id, "the same sweep, extended");
    assert.match(
      lines.join("\n"),
      /^tight: cap_\w+ stopped at 3\.07e\+5 tokens; extended to 1\.23e\+6$/,
    );
    const extended = await large.waitSweep("tight", id);
    assert.deepEqual(extended.budget.extendedFrom, [firstPass + 1]);
    assert.equal(extended.budget.tokenBudget, 4 * firstPass);
    assert.ok(extended.budget.tokensSpent > stopped.budget.tokensSpent);
    // Found again as it is now; a smaller budget, or none (the default), keeps it too.
    for (const tokenBudget of [4 * firstPass, firstPass, undefined]) {
      const notes: string[] = [];
      const again = await ExperimentClient.open(service, state, (l) => notes.push(l), {
        tokenBudget,
      });
      assert.equal(await again.submitSweep("tight", request), id, String(tokenBudget));
      if (tokenBudget !== 4 * firstPass) assert.match(notes.join("\n"), /kept: its budget/);
    }
  });
});

Deno.test("--token-budget reaches the sweeps that train until certified, and only those", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memcap_experiment_" });
  try {
    // withOverrides never calls the service: a closed port is enough.
    const service = { url: "http://127.0.0.1:9", close: async () => {} };
    const client = await ExperimentClient.open(service, `${dir}/sweeps.json`, () => {}, {
      tokenBudget: 2_000_000_000,
    });
    const base = {
      config: { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 2 },
      datasetSizes: [4, 64],
    };
    const certified = { ...base, until: "certified" as const };
    assert.deepEqual(client.withOverrides(certified), { ...certified, tokenBudget: 2e9 });
    // A sweep that trains to maxSteps only never reads a token budget: left as the study wrote it.
    assert.deepEqual(client.withOverrides(base), base);
    assert.deepEqual(client.withOverrides({ ...base, until: "budget" as const }), {
      ...base,
      until: "budget",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
