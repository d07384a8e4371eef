// Uniform datasets made without holding the thread: written by a Worker (createDataset), or in
// chunks that yield (the capacity sweep's engine), give exactly the tokens of the one-shot
// generators; loading a large dataset decodes it in chunks with the same result.
import assert from "node:assert/strict";
import { createDataset, loadDatasetTokens } from "../../lib/datasets/dataset.ts";
import {
  generateUniform,
  generateUniformAsync,
  generateUniformEncoded,
} from "../../lib/datasets/uniform.ts";
import { writeUniformFile } from "../../lib/datasets/uniform_file.ts";
import { DiskSpace, openStore, StorageFullError } from "../../lib/store/mod.ts";

for (const vocabSize of [50, 70000]) {
  Deno.test(`writeUniformFile (V=${vocabSize}): generateUniformEncoded's bytes, from a worker`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "memcap_uniform_file_" });
    try {
      const spec = { vocabSize, seqLen: 7, count: 1001, seed: 42 };
      // Chunks that do not divide the dataset.
      const size = await writeUniformFile(spec, `${dir}/a.bin`, { chunkBytes: 1000 });
      const want = generateUniformEncoded(spec);
      assert.equal(size, want.length);
      assert.deepEqual(await Deno.readFile(`${dir}/a.bin`), want);
      // It creates its file: an existing one is an error, not overwritten.
      await assert.rejects(writeUniformFile(spec, `${dir}/a.bin`), /writing the dataset failed/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("generateUniformAsync: generateUniform's tokens; a throwing check stops it", async () => {
  const spec = { vocabSize: 1000, seqLen: 16, count: 40000, seed: 9 };
  assert.deepEqual(await generateUniformAsync(spec), generateUniform(spec));
  let checks = 0;
  await assert.rejects(
    generateUniformAsync(spec, () => {
      if (++checks === 2) throw new Error("cancelled");
    }),
    /cancelled/,
  );
  assert.equal(checks, 2);
});

Deno.test("createDataset writes a large uniform dataset from a worker; loading decodes in chunks", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memcap_uniform_stream_" });
  const store = await openStore({ dataDir: dir });
  try {
    // 2^23 tokens: through the worker, and past one decode chunk.
    const req = { kind: "uniform" as const, vocabSize: 300, seqLen: 128, count: 65536, seed: 3 };
    const ds = await createDataset(store, req);
    const bytes = await store.getArtifact("datasets", ds.id, "tokens.bin");
    assert.deepEqual(bytes, generateUniformEncoded(req));
    const loaded = await loadDatasetTokens(store, ds.id);
    assert.deepEqual(loaded!.tokens, generateUniform(req).tokens);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createDataset: a large uniform dataset that would pass the free-space floor is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memcap_uniform_full_" });
  // 100 MiB free, a floor of 64 MiB (32 MiB kept): a 128 MiB file must not start.
  const space = new DiskSpace(dir, 64 * 2 ** 20, { read: () => Promise.resolve(100 * 2 ** 20) });
  const store = await openStore({ dataDir: dir, space });
  try {
    const req = { kind: "uniform" as const, vocabSize: 300, seqLen: 1024, count: 65536, seed: 3 };
    await assert.rejects(createDataset(store, req), StorageFullError);
    assert.equal(await store.count("datasets"), 0);
    const small = await createDataset(store, { ...req, count: 1024 }); // 2 MiB: fits
    assert.equal(small.count, 1024);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
