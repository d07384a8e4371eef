// POST/GET /v1/membership: a model trained to memorize its members is told apart from fresh
// uniform sequences (real engine); the checks, 404s and 422s, and persistence across a restart
// (a fake engine whose NLL is the token sum, so the numbers are known exactly).
import assert from "node:assert/strict";
import { call, withService } from "./_service.ts";
import { storeTest } from "./_stores.ts";
import { parseXml } from "../plot/xml.ts";
import { fakeGpu, tokenSumEngine } from "./_probe.ts";
import { createApp } from "../../routes/app.ts";
import { openStore } from "../../lib/store/mod.ts";

const config = { vocabSize: 16, seqLen: 8, layers: 1, dModel: 8, heads: 2 };

storeTest(
  "a model that memorized its members: AUC > 0.9, stored, plotted, listed",
  async (backend) => {
    await withService(
      async ({ app, jobs }) => {
        const uniform = (seed: number) =>
          call(app, "POST", "/v1/datasets", {
            kind: "uniform",
            vocabSize: 16,
            seqLen: 8,
            count: 16,
            seed,
          });
        const members = await uniform(1);
        const nonMembers = await uniform(2);
        assert.equal(members.status, 201, JSON.stringify(members.json));
        const model = await call(app, "POST", "/v1/models", { config, seed: 3 });
        assert.equal(model.status, 201, JSON.stringify(model.json));
        const run = await call(app, "POST", "/v1/runs", {
          modelId: model.json.id,
          datasetId: members.json.id,
          optimizer: { type: "adamw", lr: 0.02 },
          batchSize: 16,
          steps: 400,
        });
        assert.equal(run.status, 202, JSON.stringify(run.json));
        const done = await jobs.wait("runs", run.json.id, 300_000);
        assert.equal(done.status, "succeeded", JSON.stringify(done.error));

        const body = {
          modelId: model.json.id,
          membersDatasetId: members.json.id,
          nonMembersDatasetId: nonMembers.json.id,
        };
        const res = await call(app, "POST", "/v1/membership", body);
        assert.equal(res.status, 201, JSON.stringify(res.json));
        const r = res.json;
        assert.match(r.id, /^mia_/);
        assert.equal(r.count, 16);
        assert.ok(r.auc > 0.9, `auc ${r.auc}`);
        assert.ok(r.members.meanBits < r.nonMembers.meanBits);
        assert.ok(r.balanced.f1 > 0.75, `balanced f1 ${r.balanced.f1}`);
        assert.ok(r.f1 >= r.balanced.f1 && r.f1 <= 1);
        assert.deepEqual(Object.keys(r.tprAtFpr).sort(), ["0.001", "0.01"]);
        assert.deepEqual(r.roc[0], { fpr: 0, tpr: 0 });
        assert.deepEqual(r.roc.at(-1), { fpr: 1, tpr: 1 });
        // The members' mean NLL is the likelihood endpoint's.
        const lik = await call(app, "POST", `/v1/models/${model.json.id}/likelihood`, {
          datasetId: members.json.id,
        });
        assert.ok(Math.abs(lik.json.totalBits / 16 - r.members.meanBits) < 1e-9);

        const got = await call(app, "GET", `/v1/membership/${r.id}`);
        assert.equal(got.status, 200);
        assert.deepEqual(got.json, r);
        const svg = await app.request(`/v1/membership/${r.id}/roc.svg`);
        assert.equal(svg.status, 200);
        assert.match(svg.headers.get("content-type") ?? "", /image\/svg\+xml/);
        const elements = parseXml(await svg.text());
        assert.equal(elements[0].name, "svg");
        // The ROC and the chance diagonal.
        assert.ok(elements.filter((e) => e.name === "polyline").length >= 2);
        const list = await call(app, "GET", "/v1/membership");
        assert.deepEqual(list.json.items.map((x: { id: string }) => x.id), [r.id]);
      },
      undefined,
      backend,
    );
  },
);

const seqs = (...values: number[]) => values.map((v) => Array(8).fill(v));

Deno.test("membership: 404s, 422s naming the field, and results survive a restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memcap_membership_" });
  try {
    let store = await openStore({ dataDir: dir });
    let app = createApp({ gpu: fakeGpu, store, engine: tokenSumEngine, log: () => {} });
    const post = (path: string, body: unknown) => call(app, "POST", path, body);
    const tokens = async (vocabSize: number, sequences: number[][]) => {
      const r = await post("/v1/datasets", { kind: "tokens", vocabSize, sequences });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      return r.json.id as string;
    };
    const model = (await post("/v1/models", { config, seed: 0 })).json.id as string;
    const mem = await tokens(16, seqs(0, 1, 1, 3)); // sums 0, 8, 8, 24
    const non = await tokens(16, seqs(1, 2, 4, 4)); // sums 8, 16, 32, 32
    const short = await tokens(16, [[0, 1, 2, 3]]);
    const wideVocab = await tokens(32, seqs(0, 1, 2, 3));
    const fewer = await tokens(16, seqs(5, 6, 7));

    // The worked example of tests/privacy/membership_test.ts, scaled by 8.
    const ok = await post("/v1/membership", {
      modelId: model,
      membersDatasetId: mem,
      nonMembersDatasetId: non,
    });
    assert.equal(ok.status, 201, JSON.stringify(ok.json));
    assert.equal(ok.json.auc, 13 / 16);
    assert.equal(ok.json.f1, 0.8);
    assert.equal(ok.json.threshold, 24);
    assert.equal(ok.json.accuracy, 0.75);
    assert.deepEqual(ok.json.balanced, { f1: 0.75, threshold: 8 });
    assert.deepEqual(ok.json.tprAtFpr, { "0.01": 0.25, "0.001": 0.25 });
    assert.equal(ok.json.members.meanBits, 10);
    assert.equal(ok.json.nonMembers.meanBits, 22);

    const attack = (patch: Record<string, string>) =>
      post("/v1/membership", {
        modelId: model,
        membersDatasetId: mem,
        nonMembersDatasetId: non,
        ...patch,
      });
    const expect = async (patch: Record<string, string>, status: number, re: RegExp) => {
      const r = await attack(patch);
      assert.equal(r.status, status, JSON.stringify(r.json));
      assert.match(r.json.error.message, re);
    };
    await expect({ modelId: "mdl_00000000000000000000" }, 404, /body\.modelId/);
    await expect({ modelId: "nope" }, 404, /body\.modelId/);
    await expect({ membersDatasetId: "ds_00000000000000000000" }, 404, /body\.membersDatasetId/);
    await expect({ nonMembersDatasetId: "x" }, 404, /body\.nonMembersDatasetId/);
    await expect({ membersDatasetId: short }, 422, /body\.membersDatasetId: .*seqLen 4/);
    await expect(
      { nonMembersDatasetId: wideVocab },
      422,
      /body\.nonMembersDatasetId: .*vocabSize 32/,
    );
    await expect({ nonMembersDatasetId: fewer }, 422, /body\.nonMembersDatasetId: 3 sequences/);
    await expect({ nonMembersDatasetId: mem }, 422, /body\.nonMembersDatasetId: the same dataset/);
    const missing = await post("/v1/membership", { modelId: model });
    assert.equal(missing.status, 422);
    assert.match(missing.json.error.message, /body\.membersDatasetId/);
    assert.equal((await call(app, "GET", "/v1/membership/mia_00000000000000000000")).status, 404);
    assert.equal((await call(app, "GET", "/v1/membership/nope/roc.svg")).status, 404);
    // Only the one good attack was stored.
    assert.equal(await store.count("membership"), 1);

    await store.close();
    store = await openStore({ dataDir: dir });
    app = createApp({ gpu: fakeGpu, store, engine: tokenSumEngine, log: () => {} });
    const again = await call(app, "GET", `/v1/membership/${ok.json.id}`);
    assert.equal(again.status, 200);
    assert.deepEqual(again.json, ok.json);
    assert.equal((await app.request(`/v1/membership/${ok.json.id}/roc.svg`)).status, 200);
    assert.equal((await call(app, "DELETE", `/v1/membership/${ok.json.id}`)).status, 204);
    assert.equal((await call(app, "GET", `/v1/membership/${ok.json.id}`)).status, 404);
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
