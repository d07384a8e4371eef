// The store conformance suite: the cases every Store implementation must pass, registered
// once per backend (tests/store/kv_store_test.ts for Deno KV, pg_store_test.ts for PostgreSQL).
import assert from "node:assert/strict";
import {
  ConflictError,
  InvalidCursorError,
  InvalidIdError,
  MAX_RECORD_BYTES,
  newId,
  RecordTooLargeError,
  type Store,
} from "../../lib/store/store.ts";

export interface StoreFixture {
  store: Store;
  /** The data folder when the backend keeps artifacts as files (checked for stray files). */
  dir?: string;
  /** Closes the store and removes whatever the fixture made. */
  cleanup(): Promise<void>;
}

/** Registers the conformance cases; `open` makes a fresh, empty store for each. */
export function storeConformance(
  backend: string,
  open: () => Promise<StoreFixture>,
  testOptions: Partial<Deno.TestDefinition> = {},
): void {
  async function withStore(fn: (store: Store, dir?: string) => Promise<void>): Promise<void> {
    const f = await open();
    try {
      await fn(f.store, f.dir);
    } finally {
      await f.cleanup();
    }
  }
  const test = (name: string, fn: () => Promise<void>) => Deno.test({ ...testOptions, name, fn });

  test(`store (${backend}): create, get, update with version check, atomicUpdate`, async () => {
    await withStore(async (store) => {
      const rec = await store.create("models", { name: "m", n: 1 });
      assert.match(rec.id, /^mdl_/);
      assert.equal(rec.version, 1);
      assert.equal(rec.status, null);
      assert.deepEqual(rec.refs, []);
      assert.equal(rec.createdAt, rec.updatedAt);
      assert.deepEqual(await store.get("models", rec.id), rec);
      assert.equal(await store.get("datasets", rec.id), null, "wrong collection");
      assert.equal(await store.get("models", "../x"), null);
      assert.equal(await store.get("models", newId("models")), null);

      const up = await store.update("models", rec.id, { body: { name: "m", n: 2 } }, 1);
      assert.equal(up!.version, 2);
      assert.deepEqual(up!.body, { name: "m", n: 2 });
      await assert.rejects(
        () => store.update("models", rec.id, { body: { name: "x", n: 0 } }, 1),
        ConflictError,
      );
      assert.equal((await store.get<{ n: number }>("models", rec.id))!.body.n, 2);

      // Concurrent read-modify-write increments: none may be lost.
      await Promise.all(
        Array.from(
          { length: 20 },
          () =>
            store.atomicUpdate<{ name: string; n: number }>("models", rec.id, (cur) => ({
              body: { ...cur.body, n: cur.body.n + 1 },
            })),
        ),
      );
      const after = await store.get<{ n: number }>("models", rec.id);
      assert.equal(after!.body.n, 22);
      assert.equal(after!.version, 22);

      // fn returning undefined writes nothing.
      const same = await store.atomicUpdate("models", rec.id, () => undefined);
      assert.equal(same!.version, 22);
      assert.equal(await store.atomicUpdate("models", newId("models"), () => ({})), null);

      // Duplicate explicit id.
      await assert.rejects(() => store.create("models", {}, { id: rec.id }), ConflictError);
      await assert.rejects(() => store.create("models", {}, { id: "../x" }), InvalidIdError);
      await assert.rejects(() => store.create("models", {}, { id: newId("runs") }), InvalidIdError);
    });
  });

  test(`store (${backend}): list is newest first with an opaque cursor; asc and status filters`, async () => {
    await withStore(async (store) => {
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) {
        const r = await store.create("runs", { i }, { status: i % 2 === 0 ? "queued" : "done" });
        ids.push(r.id);
      }
      await store.create("datasets", { other: true });

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: Awaited<ReturnType<typeof store.list>> = await store.list("runs", {
          limit: 3,
          cursor,
        });
        pages++;
        assert.ok(page.items.length <= 3);
        seen.push(...page.items.map((r) => r.id));
        cursor = page.nextCursor;
      } while (cursor);
      assert.equal(pages, 3);
      assert.deepEqual(seen, [...ids].reverse());

      // Exactly divisible: no empty trailing page.
      const p1 = await store.list("runs", { limit: 7 });
      assert.equal(p1.items.length, 7);
      assert.equal(p1.nextCursor, null);

      const asc = await store.list("runs", { order: "asc", limit: 4 });
      assert.deepEqual(asc.items.map((r) => r.id), ids.slice(0, 4));
      const asc2 = await store.list("runs", { order: "asc", limit: 4, cursor: asc.nextCursor });
      assert.deepEqual(asc2.items.map((r) => r.id), ids.slice(4));
      assert.equal(asc2.nextCursor, null);

      const queued = await store.list("runs", { status: "queued", limit: 2 });
      assert.deepEqual(queued.items.map((r) => r.id), [ids[6], ids[4]]);
      const queued2 = await store.list("runs", { status: "queued", cursor: queued.nextCursor });
      assert.deepEqual(queued2.items.map((r) => r.id), [ids[2], ids[0]]);
      assert.equal(await store.count("runs"), 7);
      assert.equal(await store.count("runs", { status: "queued" }), 4);
      assert.equal(await store.count("runs", { status: "done" }), 3);

      // Status index follows updates.
      await store.update("runs", ids[0], { status: "done" });
      assert.equal(await store.count("runs", { status: "queued" }), 3);
      assert.equal(await store.count("runs", { status: "done" }), 4);

      await assert.rejects(() => store.list("runs", { cursor: "garbage!" }), InvalidCursorError);
      await assert.rejects(
        () => store.list("runs", { cursor: btoa("c1:../x") }),
        InvalidCursorError,
      );
      // A cursor from another collection is not accepted either.
      assert.ok(queued.nextCursor);
      await assert.rejects(
        () => store.list("datasets", { cursor: queued.nextCursor }),
        InvalidCursorError,
      );
      assert.deepEqual((await store.list("models")).items, []);
    });
  });

  test(`store (${backend}): delete removes record, indexes, artifacts; refs index`, async () => {
    await withStore(async (store, dir) => {
      const ds = await store.create("datasets", { n: 1 });
      const model = await store.create("models", { n: 2 });
      const run = await store.create("runs", {}, { status: "queued", refs: [ds.id, model.id] });
      await store.create("runs", {}, { status: "queued", refs: [model.id] });
      assert.deepEqual((await store.referencing(ds.id)).map((r) => r.id), [run.id]);
      assert.equal((await store.referencing(model.id)).length, 2);
      assert.deepEqual(await store.referencing("../x"), []);
      await assert.rejects(() => store.create("runs", {}, { refs: ["../x"] }), InvalidIdError);

      // refs follow updates
      await store.update("runs", run.id, { refs: [model.id] });
      assert.deepEqual(await store.referencing(ds.id), []);

      await store.putArtifact("runs", run.id, "checkpoint.bin", new Uint8Array([1, 2, 3]));
      assert.equal(await store.delete("runs", run.id), true);
      assert.equal(await store.get("runs", run.id), null);
      assert.equal(await store.count("runs", { status: "queued" }), 1);
      assert.equal((await store.referencing(model.id)).length, 1);
      assert.equal(await store.getArtifact("runs", run.id, "checkpoint.bin"), null);
      if (dir) {
        await assert.rejects(
          () => Deno.stat(`${dir}/artifacts/runs/${run.id}`),
          Deno.errors.NotFound,
        );
      }
      assert.equal(await store.delete("runs", run.id), false);
      assert.equal(await store.delete("runs", "../x"), false);
    });
  });

  test(`store (${backend}): records over the size limit are refused and nothing is written`, async () => {
    await withStore(async (store) => {
      const big = "x".repeat(MAX_RECORD_BYTES);
      await assert.rejects(() => store.create("models", { big }), RecordTooLargeError);
      assert.equal(await store.count("models"), 0);
      const r = await store.create("models", { big: "" });
      await assert.rejects(
        () => store.update("models", r.id, { body: { big } }),
        RecordTooLargeError,
      );
      assert.equal((await store.get<{ big: string }>("models", r.id))!.body.big, "");
    });
  });

  test(`artifacts (${backend}): atomic write leaves no temp file, content intact, overwrite, stream`, async () => {
    await withStore(async (store, dir) => {
      const id = store.newId("models");
      const data = new Uint8Array(3 * 1024 * 1024 + 7);
      for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 255;
      const n = await store.putArtifact("models", id, "weights.safetensors", data);
      assert.equal(n, data.length);
      if (dir) {
        const names = (await Array.fromAsync(Deno.readDir(`${dir}/artifacts/models/${id}`))).map((
          e,
        ) => e.name);
        assert.deepEqual(names, ["weights.safetensors"], "no temporary file left behind");
      }
      assert.deepEqual(await store.getArtifact("models", id, "weights.safetensors"), data);
      assert.equal(await store.artifactSize("models", id, "weights.safetensors"), data.length);

      // chunked (sync and async iterables)
      const chunks = [new Uint8Array([1, 2]), new Uint8Array([]), new Uint8Array([3])];
      assert.equal(await store.putArtifact("models", id, "a.bin", chunks), 3);
      async function* gen() {
        yield new Uint8Array([9]);
        yield new Uint8Array([8, 7]);
      }
      assert.equal(await store.putArtifact("models", id, "b.bin", gen()), 3);
      assert.deepEqual(await store.getArtifact("models", id, "a.bin"), new Uint8Array([1, 2, 3]));
      assert.deepEqual(await store.getArtifact("models", id, "b.bin"), new Uint8Array([9, 8, 7]));

      // overwrite replaces whole content
      await store.putArtifact("models", id, "a.bin", new Uint8Array([5]));
      assert.deepEqual(await store.getArtifact("models", id, "a.bin"), new Uint8Array([5]));
      assert.deepEqual(await store.listArtifacts("models", id), [
        "a.bin",
        "b.bin",
        "weights.safetensors",
      ]);

      assert.deepEqual(
        await store.getArtifactRange("models", id, "weights.safetensors", 1000, 5000),
        data.subarray(1000, 6000),
      );
      assert.deepEqual(
        await store.getArtifactRange("models", id, "weights.safetensors", data.length - 3, 10),
        data.subarray(data.length - 3),
      );
      assert.equal(
        (await store.getArtifactRange("models", id, "weights.safetensors", data.length + 5, 10))!
          .length,
        0,
      );
      assert.equal(await store.getArtifactRange("models", id, "nope.bin", 0, 1), null);
      await assert.rejects(
        () => store.getArtifactRange("models", id, "weights.safetensors", -1, 1),
        RangeError,
      );

      const s = await store.artifactStream("models", id, "weights.safetensors");
      assert.ok(s);
      assert.equal(s.size, data.length);
      assert.deepEqual(new Uint8Array(await new Response(s.stream).arrayBuffer()), data);

      // a failing source leaves nothing behind
      async function* broken() {
        yield new Uint8Array([1]);
        throw new Error("source broke");
      }
      await assert.rejects(
        () => store.putArtifact("models", id, "c.bin", broken()),
        /source broke/,
      );
      assert.equal(await store.getArtifact("models", id, "c.bin"), null);
      assert.deepEqual(await store.listArtifacts("models", id), [
        "a.bin",
        "b.bin",
        "weights.safetensors",
      ]);
      if (dir) {
        assert.equal(
          (await Array.fromAsync(Deno.readDir(`${dir}/artifacts/models/${id}`))).length,
          3,
          "no temporary file left by a failed write",
        );
      }

      assert.equal(await store.deleteArtifact("models", id, "a.bin"), true);
      assert.equal(await store.deleteArtifact("models", id, "a.bin"), false);
      assert.equal(await store.getArtifact("models", id, "missing.bin"), null);
      assert.equal(await store.artifactStream("models", id, "missing.bin"), null);
      assert.deepEqual(await store.listArtifacts("models", store.newId("models")), []);
    });
  });

  test(`artifacts (${backend}): ids and names are validated before any filesystem use`, async () => {
    await withStore(async (store, dir) => {
      const id = store.newId("datasets");
      const bytes = new Uint8Array([1]);
      await assert.rejects(
        () => store.putArtifact("datasets", "../x", "a.bin", bytes),
        InvalidIdError,
      );
      await assert.rejects(
        () => store.putArtifact("datasets", "../../tmp/evil", "a.bin", bytes),
        InvalidIdError,
      );
      await assert.rejects(() => store.putArtifact("datasets", id, "../x", bytes), InvalidIdError);
      await assert.rejects(
        () => store.putArtifact("datasets", id, "../../x.bin", bytes),
        InvalidIdError,
      );
      await assert.rejects(
        // deno-lint-ignore no-explicit-any
        () => store.putArtifact("../etc" as any, id, "a.bin", bytes),
        InvalidIdError,
      );
      assert.equal(await store.getArtifact("datasets", "../x", "a.bin"), null);
      await assert.rejects(
        () => store.getArtifact("datasets", id, "../../memcap.kv"),
        InvalidIdError,
      );
      assert.equal(await store.deleteArtifact("datasets", "../x", "a.bin"), false);
      assert.deepEqual(await store.listArtifacts("datasets", id), []);
      if (!dir) return;
      // nothing was created outside the artifacts folder
      const top = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
      assert.ok(!top.includes("x"), top.join(","));
      assert.deepEqual(
        (await Array.fromAsync(Deno.readDir(`${dir}/artifacts`))).map((e) => e.name),
        [],
      );
    });
  });
}
