// The free-space floor (lib/store/disk_space.ts) with an injected reading: new work stops at the
// floor, admitted writes at half of it, deletes and updates never; readings are cached.
import assert from "node:assert/strict";
import {
  DiskSpace,
  guardStore,
  isOutOfSpace,
  statfsFreeBytes,
  StorageFullError,
} from "../../lib/store/disk_space.ts";
import { KvStore } from "../../lib/store/kv_store.ts";

const MiB = 2 ** 20;

/** A DiskSpace over a settable reading and clock, counting its reads. */
function fake(minFreeBytes: number, free: number, maxAgeMs = 1000) {
  const t = { free, now: 0, reads: 0 };
  const space = new DiskSpace("/nowhere", minFreeBytes, {
    read: () => {
      t.reads++;
      return Promise.resolve(t.free);
    },
    now: () => t.now,
    maxAgeMs,
  });
  return { space, t };
}

Deno.test("floor: new work is refused under the floor with a message naming both numbers", async () => {
  const { space, t } = fake(100 * MiB, 150 * MiB);
  await space.checkNewWork();
  t.free = 100 * MiB; // exactly the floor still admits
  space.invalidate();
  await space.checkNewWork();
  t.free = 100 * MiB - 1;
  space.invalidate();
  await assert.rejects(space.checkNewWork(), (e: unknown) => {
    assert.ok(e instanceof StorageFullError);
    assert.equal(e.code, "storage_full");
    assert.deepEqual(e.details, { freeBytes: 100 * MiB - 1, minFreeBytes: 100 * MiB });
    assert.match(e.message, new RegExp(`${100 * MiB - 1} bytes`));
    assert.match(e.message, new RegExp(`${100 * MiB} bytes \\(100\\.0 MiB\\)`));
    assert.match(e.message, /MEMCAP_MIN_FREE_MB/);
    assert.match(e.message, /Deletes, cancels and reads still work/);
    return true;
  });
});

Deno.test("floor: admitted writes go on down to half the floor, counting their own bytes", async () => {
  const { space, t } = fake(100 * MiB, 60 * MiB);
  await assert.rejects(space.checkNewWork(), StorageFullError);
  await space.checkWrite(); // 60 MiB free >= 50 MiB reserve
  await space.checkWrite(10 * MiB); // exactly 50 MiB would remain
  await assert.rejects(space.checkWrite(10 * MiB + 1), (e: unknown) => {
    assert.ok(e instanceof StorageFullError);
    assert.match(e.message, /this write needs 10485761 bytes/);
    assert.match(e.message, /kept for deletes and job state changes/);
    return true;
  });
  t.free = 50 * MiB - 1;
  space.invalidate();
  await assert.rejects(space.checkWrite(), StorageFullError);
});

Deno.test("floor: 0 turns the checks off without reading the disk", async () => {
  const { space, t } = fake(0, 0);
  await space.checkNewWork();
  await space.checkWrite(1e12);
  assert.equal(t.reads, 0);
});

Deno.test("floor: one reading serves maxAgeMs; invalidate and age read again", async () => {
  const { space, t } = fake(10, 100, 1000);
  await Promise.all([space.freeBytes(), space.freeBytes(), space.checkNewWork()]);
  assert.equal(t.reads, 1, "concurrent callers share one reading");
  t.free = 5;
  assert.equal(await space.freeBytes(), 100, "cached");
  t.now = 999;
  await space.checkNewWork(); // still the old reading
  t.now = 1000;
  await assert.rejects(space.checkNewWork(), StorageFullError);
  assert.equal(t.reads, 2);
  t.free = 50;
  space.invalidate();
  await space.checkNewWork();
  assert.equal(t.reads, 3);
});

Deno.test("floor: an unreadable disk lets writes through and warns once", async () => {
  const warnings: string[] = [];
  const space = new DiskSpace("/nowhere", 10, {
    read: () => Promise.reject(new Error("statfs not supported")),
    log: (m) => warnings.push(m),
    maxAgeMs: 0,
  });
  await space.checkNewWork();
  await space.checkWrite(100);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /statfs not supported.*not enforced/);
});

Deno.test("floor: statfs reads a real folder's free bytes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const free = await statfsFreeBytes(dir);
    assert.ok(Number.isSafeInteger(free) && free > 0, `free ${free}`);
  } finally {
    await Deno.remove(dir);
  }
});

Deno.test("isOutOfSpace: the floor's error, the OS's ENOSPC and SQLite's full disk", () => {
  assert.ok(isOutOfSpace(new StorageFullError("x", 1, 2)));
  const remote = Object.assign(new Error("MEMCAP_DATA has ..."), { name: "StorageFullError" });
  assert.ok(isOutOfSpace(remote), "across the engine process boundary");
  assert.ok(isOutOfSpace(new Error("No space left on device (os error 28): write 'x'")));
  assert.ok(isOutOfSpace(new TypeError("database or disk is full")));
  assert.ok(!isOutOfSpace(new Error("permission denied")));
  assert.ok(!isOutOfSpace("No space left on device"));
});

Deno.test("guardStore: creates and artifact writes stop at half the floor; updates and deletes never", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memcap_space_" });
  const kv = await KvStore.open(dir);
  const { space, t } = fake(100, 1000);
  const store = guardStore(kv, space);
  try {
    const rec = await store.create("datasets", { n: 1 });
    await store.putArtifact("datasets", rec.id, "tokens.bin", new Uint8Array(10));
    const job = await store.create("runs", { n: 1 }, { status: "running" });

    t.free = 49; // under half the floor
    space.invalidate();
    await assert.rejects(store.create("datasets", { n: 2 }), StorageFullError);
    await assert.rejects(
      store.putArtifact("runs", job.id, "checkpoint.bin", new Uint8Array(1)),
      StorageFullError,
    );
    assert.deepEqual(await store.listArtifacts("runs", job.id), [], "nothing half-written");
    // Job state changes and deletes go through; the data reads back as it was.
    assert.equal((await store.update("runs", job.id, { status: "failed" }))?.status, "failed");
    assert.deepEqual((await store.get("datasets", rec.id))?.body, { n: 1 });
    assert.deepEqual(
      await store.getArtifact("datasets", rec.id, "tokens.bin"),
      new Uint8Array(10),
    );
    const reads = t.reads;
    t.free = 1000;
    assert.equal(await store.delete("datasets", rec.id), true);
    assert.equal(await store.get("datasets", rec.id), null);
    assert.deepEqual(await store.listArtifacts("datasets", rec.id), [], "its artifacts are gone");
    // The delete dropped the cached reading: the next write sees the freed space at once.
    await store.create("datasets", { n: 3 });
    assert.equal(t.reads, reads + 1);
    // The write's size counts: 1000 free - 960 leaves less than the 50 reserved.
    await assert.rejects(
      store.putArtifact("runs", job.id, "checkpoint.bin", new Uint8Array(960)),
      StorageFullError,
    );
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
