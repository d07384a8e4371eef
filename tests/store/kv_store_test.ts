import assert from "node:assert/strict";
import { KvStore } from "../../lib/store/kv_store.ts";
import {
  assertId,
  compareIds,
  idTime,
  InvalidIdError,
  isValidArtifactName,
  isValidId,
  newId,
} from "../../lib/store/store.ts";
import { openStore } from "../../lib/store/mod.ts";
import { storeConformance } from "./_store_conformance.ts";

Deno.test("ids: prefixed, well-formed, strictly increasing, time-sortable", () => {
  const ids = Array.from({ length: 2000 }, () => newId("datasets"));
  for (const id of ids) assert.match(id, /^ds_[0-9a-hjkmnp-tv-z]{20}$/);
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1] < ids[i], `${ids[i - 1]} < ${ids[i]}`);
  assert.equal(new Set(ids).size, ids.length);
  assert.ok(Math.abs(idTime(ids[0]) - Date.now()) < 60_000);
  assert.match(newId("models"), /^mdl_/);
  assert.match(newId("runs"), /^run_/);
  assert.match(newId("capacity"), /^cap_/);
  const a = newId("runs"), b = newId("capacity");
  assert.ok(compareIds(a, b) < 0);
});

Deno.test("ids: validation rejects path traversal and anything loose", () => {
  const good = newId("datasets");
  assert.ok(isValidId(good));
  assert.ok(isValidId(good, "datasets"));
  assert.ok(!isValidId(good, "models"));
  for (
    const bad of [
      "../x",
      "ds_../../../../etc/pa",
      `${good}/..`,
      `${good}\n`,
      good.toUpperCase(),
      "ds_0000000000000000000i", // i is not Crockford base32
      "ds_000000000000000000000", // 21 chars
      "",
      "x".repeat(300),
    ]
  ) {
    assert.ok(!isValidId(bad), bad);
  }
  assert.throws(() => assertId("../x"), InvalidIdError);
  for (const name of ["tokens.bin", "weights.safetensors", "ckpt-000100.bin", "a"]) {
    assert.ok(isValidArtifactName(name), name);
  }
  for (const name of ["../x", "..", ".", ".hidden", "a/b", "a..b", "A.bin", "a\\b", ""]) {
    assert.ok(!isValidArtifactName(name), name);
  }
});

storeConformance("kv", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memcap_store_" });
  const store = await KvStore.open(dir);
  return {
    store,
    dir,
    cleanup: async () => {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
});

Deno.test("store: data survives reopen; open sweeps orphans and temp files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memcap_store_" });
  try {
    let store = await KvStore.open(dir);
    const kept = await store.create("datasets", { keep: true });
    await store.putArtifact("datasets", kept.id, "tokens.bin", new Uint8Array([4, 5, 6]));
    // A crash between artifact write and record create leaves an orphan folder.
    const orphan = store.newId("datasets");
    await store.putArtifact("datasets", orphan, "tokens.bin", new Uint8Array([1]));
    // A crash mid-write leaves a temp file.
    const tmp = `${dir}/artifacts/datasets/${kept.id}/.tokens.bin.tmp-123`;
    await Deno.writeFile(tmp, new Uint8Array([0]));
    // Foreign files are left alone.
    await Deno.writeFile(`${dir}/artifacts/datasets/README`, new Uint8Array([0]));
    await store.close();

    store = await KvStore.open(dir);
    try {
      assert.deepEqual((await store.get("datasets", kept.id))!.body, { keep: true });
      assert.deepEqual(
        await store.getArtifact("datasets", kept.id, "tokens.bin"),
        new Uint8Array([4, 5, 6]),
      );
      await assert.rejects(() => Deno.stat(tmp), Deno.errors.NotFound);
      await assert.rejects(
        () => Deno.stat(`${dir}/artifacts/datasets/${orphan}`),
        Deno.errors.NotFound,
      );
      await Deno.stat(`${dir}/artifacts/datasets/README`);
    } finally {
      await store.close();
    }

    const viaFactory = await openStore({ dataDir: dir });
    try {
      assert.equal((await viaFactory.list("datasets")).items.length, 1);
    } finally {
      await viaFactory.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
