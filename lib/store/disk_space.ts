// Free space in the data folder (MEMCAP_DATA) and the floor kept under it (MEMCAP_MIN_FREE_MB).
//
// A store on a full disk cannot even delete: Deno KV (SQLite) must append to its log to commit
// a delete, and a job must write its record to fail. So nothing new is written once the free
// space falls under the floor, and the floor is what deletes and job state changes live on:
//   - new work (a create request: dataset, model, run, sweep, weights upload) is refused when
//     less than the floor is free (the HTTP layer answers 507 storage_full before reading the
//     body);
//   - writes of work already admitted (a running job's checkpoints and weights, records) go on
//     until only half the floor is left, then fail with StorageFullError (the job fails with
//     code storage_full);
//   - the last half is for deletes, cancels and job state changes, which are never refused.
// `guardStore` applies the second rule to every artifact and record a Store creates.
//
// The free space is statfs's f_bavail (what an unprivileged writer may use; node:fs `statfs`,
// which Deno implements), read at most once per `maxAgeMs` and again after every write or
// delete through the guarded store.

import { statfs } from "node:fs/promises";
import {
  type Collection,
  type CreateOptions,
  type ListOptions,
  type Page,
  type Patch,
  type Rec,
  type Store,
  StoreError,
  type StoreSignals,
} from "./store.ts";

const MiB = 2 ** 20;

/** Thrown when MEMCAP_DATA has too little free space for a write (HTTP 507 storage_full). */
export class StorageFullError extends StoreError {
  constructor(message: string, readonly freeBytes: number, readonly minFreeBytes: number) {
    super("storage_full", message);
    this.name = "StorageFullError";
  }

  get details(): { freeBytes: number; minFreeBytes: number } {
    return { freeBytes: this.freeBytes, minFreeBytes: this.minFreeBytes };
  }
}

/**
 * True for StorageFullError (also across the engine process boundary, where it arrives as a
 * RemoteError of that name) and for the operating system's or SQLite's own "disk full".
 */
export function isOutOfSpace(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === "StorageFullError" || (err as { code?: unknown }).code === "storage_full") {
    return true;
  }
  return /No space left on device|os error 28|ENOSPC|database or disk is full|SQLITE_FULL/i
    .test(err.message);
}

/** What to tell a client or a failed job about an out-of-space error (see isOutOfSpace). */
export function outOfSpaceMessage(err: Error): string {
  if (err.name === "StorageFullError" || (err as { code?: unknown }).code === "storage_full") {
    return err.message;
  }
  return `MEMCAP_DATA ran out of space (${err.message}). Deletes still work: delete datasets, ` +
    "models, runs or capacity sweeps you no longer need (or raise MEMCAP_MIN_FREE_MB so the " +
    "service stops earlier), then retry.";
}

/** `n bytes (x.y MiB)`. */
export function formatBytes(n: number): string {
  return `${n} bytes (${(n / MiB).toFixed(1)} MiB)`;
}

/** Bytes free to this process in the file system of `dir` (statfs f_bavail · f_bsize). */
export async function statfsFreeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

export interface DiskSpaceOptions {
  /** Reads the free bytes of `dir` (default: statfsFreeBytes; tests inject a fake). */
  read?: (dir: string) => Promise<number>;
  /** How long a reading is reused (default 1000 ms). */
  maxAgeMs?: number;
  /** Clock in ms (default Date.now). */
  now?: () => number;
  /** Told once when the free space cannot be read (the checks then let writes through). */
  log?: (message: string) => void;
}

export class DiskSpace {
  private readonly read: (dir: string) => Promise<number>;
  private readonly maxAgeMs: number;
  private readonly now: () => number;
  private readonly log: (message: string) => void;
  private reading: { at: number; value: Promise<number> } | null = null;
  private warned = false;

  /** `minFreeBytes` 0 turns the checks off. */
  constructor(readonly dir: string, readonly minFreeBytes: number, opts: DiskSpaceOptions = {}) {
    this.read = opts.read ?? statfsFreeBytes;
    this.maxAgeMs = opts.maxAgeMs ?? 1000;
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? ((m) => console.warn(m));
  }

  /** Free bytes (a reading at most maxAgeMs old; Infinity when it cannot be read). */
  freeBytes(): Promise<number> {
    const now = this.now();
    if (!this.reading || now - this.reading.at >= this.maxAgeMs) {
      const value = this.read(this.dir).catch((e) => {
        if (!this.warned) {
          this.warned = true;
          this.log(
            `storage: cannot read the free space of ${this.dir} ` +
              `(${e instanceof Error ? e.message : e}); MEMCAP_MIN_FREE_MB is not enforced`,
          );
        }
        return Number.POSITIVE_INFINITY;
      });
      this.reading = { at: now, value };
    }
    return this.reading.value;
  }

  /** Forgets the reading (after a write or delete changed the free space). */
  invalidate(): void {
    this.reading = null;
  }

  /** For new work (a create request): throws StorageFullError under the floor. */
  async checkNewWork(): Promise<void> {
    if (this.minFreeBytes <= 0) return;
    const free = await this.freeBytes();
    if (free >= this.minFreeBytes) return;
    throw new StorageFullError(
      `MEMCAP_DATA has ${formatBytes(free)} free, under its floor of ` +
        `${formatBytes(this.minFreeBytes)} (MEMCAP_MIN_FREE_MB), so nothing new is stored. ` +
        "Deletes, cancels and reads still work: delete datasets, models, runs or capacity " +
        "sweeps you no longer need (or free space on the disk), then retry.",
      free,
      this.minFreeBytes,
    );
  }

  /**
   * For a write of admitted work (`bytes` about to be written, 0 if unknown): throws
   * StorageFullError when less than half the floor would stay free.
   */
  async checkWrite(bytes = 0): Promise<void> {
    if (this.minFreeBytes <= 0) return;
    const free = await this.freeBytes();
    const reserve = Math.floor(this.minFreeBytes / 2);
    if (free - bytes >= reserve) return;
    throw new StorageFullError(
      `MEMCAP_DATA has ${formatBytes(free)} free` +
        (bytes > 0 ? ` and this write needs ${formatBytes(bytes)}` : "") +
        `; the last ${formatBytes(reserve)} of its ${formatBytes(this.minFreeBytes)} floor ` +
        "(MEMCAP_MIN_FREE_MB) are kept for deletes and job state changes. Deletes still work: " +
        "delete datasets, models, runs or capacity sweeps you no longer need, then retry.",
      free,
      this.minFreeBytes,
    );
  }
}

/**
 * `store` with the write rule of `space`: creates and artifact writes throw StorageFullError
 * when less than half the floor would stay free; updates (job state), deletes and reads are
 * never refused. Writes and deletes refresh the free-space reading.
 */
export function guardStore(store: Store, space: DiskSpace): Store {
  return new GuardedStore(store, space);
}

class GuardedStore implements Store {
  constructor(private readonly inner: Store, private readonly space: DiskSpace) {}

  get signals(): StoreSignals | undefined {
    return this.inner.signals;
  }

  newId(collection: Collection): string {
    return this.inner.newId(collection);
  }

  async create<T>(collection: Collection, body: T, opts?: CreateOptions): Promise<Rec<T>> {
    await this.space.checkWrite();
    return await this.inner.create(collection, body, opts);
  }

  get<T>(collection: Collection, id: string): Promise<Rec<T> | null> {
    return this.inner.get(collection, id);
  }

  update<T>(
    collection: Collection,
    id: string,
    patch: Patch<T>,
    expectedVersion?: number,
  ): Promise<Rec<T> | null> {
    return this.inner.update(collection, id, patch, expectedVersion);
  }

  atomicUpdate<T>(
    collection: Collection,
    id: string,
    fn: (current: Rec<T>) => Patch<T> | undefined,
  ): Promise<Rec<T> | null> {
    return this.inner.atomicUpdate(collection, id, fn);
  }

  list<T>(collection: Collection, opts?: ListOptions): Promise<Page<T>> {
    return this.inner.list(collection, opts);
  }

  count(collection: Collection, opts?: { status?: string }): Promise<number> {
    return this.inner.count(collection, opts);
  }

  referencing(id: string): Promise<Rec[]> {
    return this.inner.referencing(id);
  }

  async delete(collection: Collection, id: string): Promise<boolean> {
    try {
      return await this.inner.delete(collection, id);
    } finally {
      this.space.invalidate();
    }
  }

  async putArtifact(
    collection: Collection,
    id: string,
    name: string,
    data: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  ): Promise<number> {
    await this.space.checkWrite(data instanceof Uint8Array ? data.length : 0);
    try {
      return await this.inner.putArtifact(collection, id, name, data);
    } finally {
      this.space.invalidate();
    }
  }

  async putArtifactFile(
    collection: Collection,
    id: string,
    name: string,
    write: (path: string) => Promise<void>,
    expectedBytes = 0,
  ): Promise<number> {
    await this.space.checkWrite(expectedBytes);
    try {
      return await this.inner.putArtifactFile(collection, id, name, write, expectedBytes);
    } finally {
      this.space.invalidate();
    }
  }

  getArtifact(collection: Collection, id: string, name: string): Promise<Uint8Array | null> {
    return this.inner.getArtifact(collection, id, name);
  }

  getArtifactRange(
    collection: Collection,
    id: string,
    name: string,
    start: number,
    length: number,
  ): Promise<Uint8Array | null> {
    return this.inner.getArtifactRange(collection, id, name, start, length);
  }

  artifactStream(
    collection: Collection,
    id: string,
    name: string,
  ): Promise<{ size: number; stream: ReadableStream<Uint8Array> } | null> {
    return this.inner.artifactStream(collection, id, name);
  }

  artifactSize(collection: Collection, id: string, name: string): Promise<number | null> {
    return this.inner.artifactSize(collection, id, name);
  }

  listArtifacts(collection: Collection, id: string): Promise<string[]> {
    return this.inner.listArtifacts(collection, id);
  }

  async deleteArtifact(collection: Collection, id: string, name: string): Promise<boolean> {
    try {
      return await this.inner.deleteArtifact(collection, id, name);
    } finally {
      this.space.invalidate();
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
