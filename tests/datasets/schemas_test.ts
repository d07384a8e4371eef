import assert from "node:assert/strict";
import { z } from "zod";
import {
  Dataset,
  DatasetCreateRequest,
  DatasetSequencesQuery,
  formatPath,
} from "../../lib/datasets/schemas.ts";
import {
  buildDataset,
  createDataset,
  getDataset,
  loadDatasetTokens,
  readSequences,
  TOKENS_ARTIFACT,
} from "../../lib/datasets/dataset.ts";
import { KvStore } from "../../lib/store/kv_store.ts";
import { generateUniform } from "../../lib/datasets/uniform.ts";

Deno.test("schemas: uniform request parses, seed defaults to 0, bounds name the field", () => {
  const r = DatasetCreateRequest.parse({ kind: "uniform", vocabSize: 2048, seqLen: 64, count: 16 });
  assert.deepEqual(r, { kind: "uniform", vocabSize: 2048, seqLen: 64, count: 16, seed: 0 });
  const bad = DatasetCreateRequest.safeParse({
    kind: "uniform",
    vocabSize: 1,
    seqLen: 64,
    count: 1,
  });
  assert.ok(!bad.success);
  assert.deepEqual(bad.error.issues[0].path, ["vocabSize"]);
  const noSeq = DatasetCreateRequest.safeParse({
    kind: "uniform",
    vocabSize: 8,
    seqLen: 1,
    count: 1,
    seed: -1,
  });
  assert.ok(!noSeq.success);
  assert.deepEqual(noSeq.error.issues.map((i) => i.path[0]).sort(), ["seed", "seqLen"]);
  const huge = DatasetCreateRequest.safeParse({
    kind: "uniform",
    vocabSize: 8,
    seqLen: 4096,
    count: 1 << 20,
  });
  assert.ok(!huge.success);
  assert.deepEqual(huge.error.issues[0].path, ["count"]);
  const unknown = DatasetCreateRequest.safeParse({ kind: "pictures" });
  assert.ok(!unknown.success);
  assert.deepEqual(unknown.error.issues[0].path, ["kind"]);
});

Deno.test("schemas: tokens request reports the offending token by path", () => {
  const sequences = Array.from({ length: 5 }, () => Array.from({ length: 10 }, () => 1));
  sequences[3][7] = 5000;
  const res = DatasetCreateRequest.safeParse({ kind: "tokens", vocabSize: 2048, sequences });
  assert.ok(!res.success);
  const issue = res.error.issues[0];
  assert.deepEqual(issue.path, ["sequences", 3, 7]);
  assert.equal(
    `${formatPath(issue.path)}: ${issue.message}`,
    "sequences[3][7]: token 5000 ≥ vocabSize 2048",
  );
  const ok = DatasetCreateRequest.parse({
    kind: "tokens",
    vocabSize: 16,
    sequences: [[1, 2], [3, 4]],
  });
  assert.equal(ok.kind, "tokens");
  const notNum = DatasetCreateRequest.safeParse({
    kind: "tokens",
    vocabSize: 16,
    sequences: [["a", 1]],
  });
  assert.ok(!notNum.success);
  assert.deepEqual(notNum.error.issues[0].path, ["sequences", 0, 0]);
});

Deno.test("schemas: JSON Schema export names the components", () => {
  const reg = z.globalRegistry;
  assert.equal(reg.get(DatasetCreateRequest)?.id, "DatasetCreateRequest");
  assert.equal(reg.get(Dataset)?.id, "Dataset");
  const js = z.toJSONSchema(DatasetCreateRequest, { io: "input" }) as Record<string, any>;
  const defs = Object.keys(js.$defs ?? {});
  for (const id of ["UniformDatasetRequest", "TokensDatasetRequest"]) {
    assert.ok(defs.includes(id), `${id} in ${defs}`);
  }
  const dj = z.toJSONSchema(Dataset) as Record<string, any>;
  assert.ok(dj.$defs.Dataset.example.id.startsWith("ds_"));
  assert.deepEqual(Dataset.parse(dj.$defs.Dataset.example), dj.$defs.Dataset.example);
  assert.deepEqual(DatasetSequencesQuery.parse({ offset: "5" }), { offset: 5, limit: 100 });
  assert.ok(!DatasetSequencesQuery.safeParse({ limit: "0" }).success);
});

Deno.test("datasets: create writes tokens then record; read back pages and tokens", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memcap_ds_" });
  const store = await KvStore.open(dir);
  try {
    const req = DatasetCreateRequest.parse({
      kind: "uniform",
      vocabSize: 2048,
      seqLen: 64,
      count: 32,
      seed: 3,
    });
    const ds = await createDataset(store, req);
    assert.match(ds.id, /^ds_/);
    assert.equal(ds.kind, "uniform");
    assert.equal(ds.entropyBits, 32 * 64 * 11);
    assert.equal(ds.entropyBitsPredicted, 32 * 63 * 11);
    assert.equal(ds.seed, 3);
    assert.deepEqual(Dataset.parse(ds), ds);
    assert.deepEqual(await getDataset(store, ds.id), ds);
    assert.deepEqual(await store.listArtifacts("datasets", ds.id), [TOKENS_ARTIFACT]);
    const tokens = await loadDatasetTokens(store, ds.id);
    assert.deepEqual(tokens, generateUniform({ vocabSize: 2048, seqLen: 64, count: 32, seed: 3 }));
    const page = await readSequences(store, ds.id, 30, 10);
    assert.equal(page!.total, 32);
    assert.equal(page!.sequences.length, 2);
    assert.deepEqual(page!.sequences[1], Array.from(tokens!.tokens.slice(31 * 64)));
    assert.deepEqual((await readSequences(store, ds.id, 0, 3))!.sequences, [
      Array.from(tokens!.tokens.slice(0, 64)),
      Array.from(tokens!.tokens.slice(64, 128)),
      Array.from(tokens!.tokens.slice(128, 192)),
    ]);
    const past = await readSequences(store, ds.id, 40, 5);
    assert.deepEqual(past, { id: ds.id, offset: 40, limit: 5, total: 32, sequences: [] });
    assert.equal(await readSequences(store, "ds_nope", 0, 1), null);
    assert.equal(await getDataset(store, "../x"), null);

    const up = await createDataset(
      store,
      DatasetCreateRequest.parse({ kind: "tokens", vocabSize: 100000, sequences: [[99999, 0, 5]] }),
    );
    assert.equal(up.kind, "tokens");
    assert.equal(up.entropyBits, undefined);
    assert.equal(up.seqLen, 3);
    assert.deepEqual((await readSequences(store, up.id, 0, 5))!.sequences, [[99999, 0, 5]]);
    const wide = await createDataset(
      store,
      DatasetCreateRequest.parse({
        kind: "tokens",
        vocabSize: 70000,
        sequences: [[1, 2], [69999, 3], [4, 65536]],
      }),
    );
    assert.deepEqual((await readSequences(store, wide.id, 1, 2))!.sequences, [[69999, 3], [
      4,
      65536,
    ]]);
    // newest first
    assert.deepEqual((await store.list("datasets")).items.map((r) => r.id), [
      wide.id,
      up.id,
      ds.id,
    ]);
    // buildDataset is pure
    const b = buildDataset(req);
    assert.equal(b.body.kind, "uniform");
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
