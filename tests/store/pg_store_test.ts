// PgStore against a real PostgreSQL: the store conformance suite, then what only a shared
// database has (reopen, two nodes, big chunked artifacts). Needs Debian's `postgresql`
// (server binaries); one throwaway cluster serves the whole file, one database per test.
import assert from "node:assert/strict";
import postgres from "postgres";
import { CHUNK_BYTES, PgStore } from "../../lib/store/pg_store.ts";
import { openStore } from "../../lib/store/mod.ts";
import { StoreError } from "../../lib/store/store.ts";
import { startPostgres } from "./_postgres.ts";
import { storeConformance } from "./_store_conformance.ts";

const pg = await startPostgres();
// The cluster goes when the test process ends, whichever tests ran.
globalThis.addEventListener("unload", () => pg.stopSync());

storeConformance("pg", async () => {
  const store = await PgStore.open(await pg.newDatabase());
  return { store, cleanup: () => store.close() };
});

/** Two stores ("nodes") on one fresh database; both closed afterwards. */
async function withNodes(fn: (a: PgStore, b: PgStore, url: string) => Promise<void>) {
  const url = await pg.newDatabase();
  const [a, b] = await Promise.all([PgStore.open(url), PgStore.open(url)]);
  try {
    await fn(a, b, url);
  } finally {
    await a.close();
    await b.close();
  }
}

async function query<T>(url: string, text: string): Promise<T[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await sql.unsafe(text) as unknown as T[];
  } finally {
    await sql.end();
  }
}

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 131 + seed + (i >> 12)) & 255;
  return out;
}

// PgStore's soleNode holds a database for one process alone (a session advisory lock): a
// second soleNode open is refused until the first closes.
Deno.test("pg store: soleNode holds its database alone until it closes", async () => {
  const url = await pg.newDatabase();
  const first = await PgStore.open(url, { soleNode: true });
  await assert.rejects(
    PgStore.open(url, { soleNode: true }),
    (e: Error) => e instanceof StoreError && e.code === "database_in_use",
  );
  await first.close();
  const second = await PgStore.open(url, { soleNode: true });
  await second.create("runs", { after: true });
  await second.close();
});

// The service's job queue has leases (lib/jobs/queue.ts): its store does not ask for soleNode,
// so several nodes open one database and see each other's records.
Deno.test("pg store: the service's store lets several nodes share a database", async () => {
  const url = await pg.newDatabase();
  const dataDir = await Deno.makeTempDir({ prefix: "memcap_pg_unused_" });
  try {
    const first = await openStore({ dataDir, databaseUrl: url });
    try {
      const second = await openStore({ dataDir, databaseUrl: url });
      try {
        const rec = await first.create("runs", { shared: true });
        assert.deepEqual(await second.get("runs", rec.id), rec);
      } finally {
        await second.close();
      }
    } finally {
      await first.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("pg store: data and artifacts survive close and reopen (also via openStore)", async () => {
  const url = await pg.newDatabase();
  let store = await PgStore.open(url);
  const kept = await store.create("datasets", { keep: true }, { status: "ready" });
  await store.putArtifact("datasets", kept.id, "tokens.bin", new Uint8Array([4, 5, 6]));
  await store.close();
  await store.close(); // idempotent

  store = await PgStore.open(url);
  try {
    assert.deepEqual(await store.get("datasets", kept.id), kept);
    assert.deepEqual(
      await store.getArtifact("datasets", kept.id, "tokens.bin"),
      new Uint8Array([4, 5, 6]),
    );
  } finally {
    await store.close();
  }
  const dataDir = await Deno.makeTempDir({ prefix: "memcap_pg_unused_" });
  try {
    const viaFactory = await openStore({ dataDir, databaseUrl: url });
    try {
      assert.deepEqual((await viaFactory.list("datasets")).items, [kept]);
      assert.equal(await viaFactory.count("datasets", { status: "ready" }), 1);
    } finally {
      await viaFactory.close();
    }
    assert.deepEqual([...Deno.readDirSync(dataDir)], [], "Deno KV was not opened");
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
  const [v] = await query<{ version: number }>(url, "SELECT version FROM memcap_schema_version");
  assert.equal(v.version, 1);
});

Deno.test("pg store: a newer schema than this build knows is refused", async () => {
  const url = await pg.newDatabase();
  await (await PgStore.open(url)).close();
  await query(url, "UPDATE memcap_schema_version SET version = 99");
  await assert.rejects(() => PgStore.open(url), (e) => {
    assert.ok(e instanceof StoreError);
    assert.equal(e.code, "schema_too_new");
    return true;
  });
});

Deno.test("pg store: two nodes see each other's writes; concurrent atomicUpdate loses nothing", async () => {
  await withNodes(async (a, b) => {
    const rec = await a.create("runs", { n: 0 }, { status: "queued" });
    assert.deepEqual(await b.get("runs", rec.id), rec);
    await b.update("runs", rec.id, { status: "running" }, 1);
    assert.equal((await a.get("runs", rec.id))!.status, "running");
    assert.equal(await a.count("runs", { status: "running" }), 1);
    // a's copy is stale now: its versioned update conflicts.
    await assert.rejects(() => a.update("runs", rec.id, { status: "done" }, 1), /version 2/);

    const inc = (s: PgStore) =>
      s.atomicUpdate<{ n: number }>("runs", rec.id, (cur) => ({ body: { n: cur.body.n + 1 } }));
    // 2 × 50 increments, the two nodes' interleaved.
    await Promise.all(Array.from({ length: 100 }, (_, i) => inc(i % 2 ? a : b)));
    const after = await a.get<{ n: number }>("runs", rec.id);
    assert.equal(after!.body.n, 100);
    assert.equal(after!.version, 102);

    await b.putArtifact("runs", rec.id, "checkpoint.bin", new Uint8Array([7]));
    assert.deepEqual(await a.listArtifacts("runs", rec.id), ["checkpoint.bin"]);
    assert.equal(await a.delete("runs", rec.id), true);
    assert.equal(await b.get("runs", rec.id), null);
    assert.equal(await b.getArtifact("runs", rec.id, "checkpoint.bin"), null);
  });
});

Deno.test("pg store: two nodes opening a fresh database at once both succeed", async () => {
  const url = await pg.newDatabase();
  const stores = await Promise.all(Array.from({ length: 4 }, () => PgStore.open(url)));
  try {
    const r = await stores[0].create("models", {});
    for (const s of stores) assert.equal((await s.get("models", r.id))!.id, r.id);
  } finally {
    for (const s of stores) await s.close();
  }
});

Deno.test("pg store: a 5 MiB artifact is chunked; ranges across chunks; atomic overwrite", async () => {
  await withNodes(async (a, b, url) => {
    const id = a.newId("models");
    const name = "weights.safetensors";
    const old = pattern(5 * CHUNK_BYTES + 12345, 1);
    // Written in odd-sized pieces so chunk boundaries fall inside them.
    const pieces = (data: Uint8Array) => {
      const out: Uint8Array[] = [];
      for (let off = 0; off < data.length; off += 777_777) {
        out.push(data.subarray(off, off + 777_777));
      }
      return out;
    };
    assert.equal(await a.putArtifact("models", id, name, pieces(old)), old.length);
    assert.deepEqual(await b.getArtifact("models", id, name), old);
    assert.equal(await b.artifactSize("models", id, name), old.length);
    const [c] = await query<{ n: number }>(
      url,
      "SELECT count(*)::int AS n FROM memcap_artifact_chunks",
    );
    assert.equal(c.n, 6);

    for (
      const [start, length] of [
        [0, CHUNK_BYTES],
        [CHUNK_BYTES - 10, 20],
        [CHUNK_BYTES, CHUNK_BYTES],
        [2 * CHUNK_BYTES - 1, CHUNK_BYTES + 2],
        [3, 4 * CHUNK_BYTES],
        [old.length - 5, 100],
        [5 * CHUNK_BYTES, 12345],
        [CHUNK_BYTES * 2, 0],
        [old.length, 10],
      ]
    ) {
      assert.deepEqual(
        await b.getArtifactRange("models", id, name, start, length),
        old.subarray(start, start + length),
        `range ${start}+${length}`,
      );
    }

    // A stream opened before an overwrite keeps the old bytes to its end.
    const s = await a.artifactStream("models", id, name);
    assert.ok(s);
    assert.equal(s.size, old.length);
    const reader = s.stream.getReader();
    const first = await reader.read();
    assert.ok(first.value instanceof Uint8Array);
    assert.equal(first.value.length, CHUNK_BYTES, "streams chunk by chunk");

    // Overwrite with a different size while the other node keeps reading: each read is
    // wholly old or wholly new.
    const next = pattern(2 * CHUNK_BYTES + 3, 2);
    let stop = false;
    let rounds = 0;
    const seen = new Set<string>();
    const readers = (async () => {
      while (!stop) {
        const got = await b.getArtifact("models", id, name);
        const range = await b.getArtifactRange("models", id, name, CHUNK_BYTES - 2, 4);
        assert.ok(got);
        if (got.length === old.length) {
          assert.deepEqual(got, old);
          seen.add("old");
        } else {
          assert.deepEqual(got, next);
          seen.add("new");
        }
        const r = [old, next].find((d) =>
          equal(d.subarray(CHUNK_BYTES - 2, CHUNK_BYTES + 2), range!)
        );
        assert.ok(r, "a range is wholly old or new");
        rounds++;
      }
    })();
    while (rounds < 1) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await a.putArtifact("models", id, name, pieces(next)), next.length);
    // Two more rounds: the second one started after the overwrite committed.
    const at = rounds;
    while (rounds < at + 2) await new Promise((r) => setTimeout(r, 10));
    stop = true;
    await readers;
    assert.ok(seen.has("new"));
    assert.deepEqual(await b.getArtifact("models", id, name), next);

    const rest: Uint8Array[] = [first.value];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest.push(value);
    }
    assert.deepEqual(concat(rest), old, "the open stream kept the old artifact");

    // A failed overwrite leaves the current artifact as it was.
    async function* broken() {
      yield new Uint8Array(CHUNK_BYTES + 1);
      throw new Error("source broke");
    }
    await assert.rejects(() => a.putArtifact("models", id, name, broken()), /source broke/);
    assert.deepEqual(await a.getArtifact("models", id, name), next);
    const [c2] = await query<{ n: number }>(
      url,
      "SELECT count(*)::int AS n FROM memcap_artifact_chunks",
    );
    assert.equal(c2.n, 3, "the replaced artifact's chunks are gone");

    // A stream cancelled early gives its connection back.
    const s2 = await a.artifactStream("models", id, name);
    await s2!.stream.cancel();

    // putArtifactFile streams the file in and removes it.
    let tmp = "";
    const n = await a.putArtifactFile("models", id, "ckpt.bin", async (path) => {
      tmp = path;
      await Deno.writeFile(path, old);
    });
    assert.equal(n, old.length);
    assert.deepEqual(await b.getArtifact("models", id, "ckpt.bin"), old);
    await assert.rejects(() => Deno.stat(tmp), Deno.errors.NotFound);
    await assert.rejects(() =>
      a.putArtifactFile("models", id, "bad.bin", () => Promise.reject(new Error("no file")))
    );
    assert.deepEqual(await b.listArtifacts("models", id), ["ckpt.bin", name]);
  });
});

function equal(x: Uint8Array, y: Uint8Array): boolean {
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
