// Deno KV implementation of Store: records in a KV file in the data folder,
// artifacts as files beside it.
//
// KV layout (every write is one atomic commit that keeps them consistent):
//   ["rec", collection, id]                 -> Rec
//   ["status", collection, status, id]      -> true   (only when status != null)
//   ["ref", refId, collection, id]          -> true   (one per entry of refs)
// Ids sort by creation time, so ["rec", collection] listed in reverse is
// newest first without a separate time index.
//
// Artifacts: <dataDir>/artifacts/<collection>/<id>/<name>, each written as
// <dir>/.<name>.tmp-<random>, fsynced, renamed over the final name, then the
// directory fsynced. Paths are built only from validated ids and names.
//
// Crash safety: KV commits are SQLite transactions (WAL), so a kill -9 loses
// nothing acknowledged and never leaves half a record. Callers write a new
// record's artifacts *before* creating the record; a crash in between leaves
// an artifact folder with no record, which `open` removes (with any stray
// temporary files), as it does a folder whose record delete had committed.

import {
  assertArtifactName,
  assertCollection,
  assertId,
  clampLimit,
  type Collection,
  COLLECTIONS,
  ConflictError,
  type CreateOptions,
  decodeCursor,
  encodeCursor,
  isValidArtifactName,
  isValidId,
  type ListOptions,
  newId,
  newRecord,
  type Page,
  type Patch,
  patchAtVersion,
  patchedRecord,
  type Rec,
  type Store,
} from "./store.ts";

const MAX_RETRIES = 100;

export interface KvStoreOptions {
  /** Remove orphaned artifact folders and temp files on open (default true). */
  sweep?: boolean;
}

export class KvStore implements Store {
  private closed = false;

  private constructor(
    private readonly kv: Deno.Kv,
    readonly dataDir: string,
  ) {}

  /** Opens (creating if needed) the store in `dataDir`. */
  static async open(dataDir: string, opts: KvStoreOptions = {}): Promise<KvStore> {
    await Deno.mkdir(`${dataDir}/artifacts`, { recursive: true });
    const kv = await Deno.openKv(`${dataDir}/memcap.kv`);
    const store = new KvStore(kv, dataDir);
    if (opts.sweep ?? true) {
      try {
        await store.sweep();
      } catch (e) {
        kv.close();
        throw e;
      }
    }
    return store;
  }

  newId(collection: Collection): string {
    return newId(collection);
  }

  // ---------------------------------------------------------------- records

  async create<T>(collection: Collection, body: T, opts: CreateOptions = {}): Promise<Rec<T>> {
    const rec = newRecord(collection, body, opts);
    const { id } = rec;
    const key = recKey(collection, id);
    const op = this.kv.atomic().check({ key, versionstamp: null }).set(key, rec);
    addIndexes(op, rec);
    const res = await op.commit();
    if (!res.ok) throw new ConflictError(`${collection}/${id} already exists`);
    return rec;
  }

  async get<T>(collection: Collection, id: string): Promise<Rec<T> | null> {
    assertCollection(collection);
    if (!isValidId(id, collection)) return null;
    return (await this.kv.get<Rec<T>>(recKey(collection, id))).value;
  }

  async update<T>(
    collection: Collection,
    id: string,
    patch: Patch<T>,
    expectedVersion?: number,
  ): Promise<Rec<T> | null> {
    return await this.atomicUpdate<T>(collection, id, patchAtVersion(patch, expectedVersion));
  }

  async atomicUpdate<T>(
    collection: Collection,
    id: string,
    fn: (current: Rec<T>) => Patch<T> | undefined,
  ): Promise<Rec<T> | null> {
    assertCollection(collection);
    if (!isValidId(id, collection)) return null;
    const key = recKey(collection, id);
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const entry = await this.kv.get<Rec<T>>(key);
      const cur = entry.value;
      if (!cur) return null;
      const patch = fn(structuredClone(cur));
      if (patch === undefined) return cur;
      const next = patchedRecord(cur, patch);
      const op = this.kv.atomic().check(entry).set(key, next);
      updateIndexes(op, cur, next);
      if ((await op.commit()).ok) return next;
      // Someone else wrote between our read and commit: read again, retry.
    }
    throw new ConflictError(`${collection}/${id}: too much contention`);
  }

  async list<T>(collection: Collection, opts: ListOptions = {}): Promise<Page<T>> {
    assertCollection(collection);
    const limit = clampLimit(opts.limit);
    const reverse = (opts.order ?? "desc") === "desc";
    const after = opts.cursor ? decodeCursor(opts.cursor, collection) : null;
    const prefix: Deno.KvKey = opts.status === undefined
      ? ["rec", collection]
      : ["status", collection, opts.status];
    // KV selectors: `end` is exclusive; `start` is inclusive, so start just
    // past the cursor id ("\0" sorts right after it).
    const selector: Deno.KvListSelector = after === null
      ? { prefix }
      : reverse
      ? { prefix, end: [...prefix, after] }
      : { prefix, start: [...prefix, after + "\0"] };
    const ids: string[] = [];
    const values: Rec<T>[] = [];
    for await (const e of this.kv.list<unknown>(selector, { reverse, limit: limit + 1 })) {
      const id = e.key[e.key.length - 1] as string;
      ids.push(id);
      if (opts.status === undefined) values.push(e.value as Rec<T>);
    }
    const more = ids.length > limit;
    if (more) ids.length = limit;
    let items: Rec<T>[];
    if (opts.status === undefined) {
      items = values.slice(0, ids.length);
    } else {
      items = [];
      for (let i = 0; i < ids.length; i += 10) {
        const got = await this.kv.getMany<Rec<T>[]>(
          ids.slice(i, i + 10).map((id) => recKey(collection, id)),
        );
        for (const g of got) if (g.value) items.push(g.value);
      }
    }
    return { items, nextCursor: more ? encodeCursor(ids[ids.length - 1]) : null };
  }

  async count(collection: Collection, opts: { status?: string } = {}): Promise<number> {
    assertCollection(collection);
    const prefix = opts.status === undefined
      ? ["rec", collection]
      : ["status", collection, opts.status];
    let n = 0;
    for await (const _ of this.kv.list({ prefix })) n++;
    return n;
  }

  async referencing(id: string): Promise<Rec[]> {
    if (!isValidId(id)) return [];
    const keys: Deno.KvKey[] = [];
    for await (const e of this.kv.list({ prefix: ["ref", id] })) {
      keys.push(recKey(e.key[2] as Collection, e.key[3] as string));
    }
    const out: Rec[] = [];
    for (let i = 0; i < keys.length; i += 10) {
      for (const g of await this.kv.getMany<Rec[]>(keys.slice(i, i + 10))) {
        if (g.value) out.push(g.value);
      }
    }
    return out.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
  }

  async delete(collection: Collection, id: string): Promise<boolean> {
    assertCollection(collection);
    if (!isValidId(id, collection)) return false;
    const key = recKey(collection, id);
    let deleted = false;
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const entry = await this.kv.get<Rec>(key);
      if (!entry.value) break;
      const op = this.kv.atomic().check(entry).delete(key);
      removeIndexes(op, entry.value);
      if ((await op.commit()).ok) {
        deleted = true;
        break;
      }
    }
    // The record is gone first; a crash before the folder goes leaves an
    // orphan that the next open sweeps.
    await removeIfExists(this.artifactDir(collection, id), true);
    return deleted;
  }

  // -------------------------------------------------------------- artifacts

  async putArtifact(
    collection: Collection,
    id: string,
    name: string,
    data: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  ): Promise<number> {
    const dir = this.artifactDir(collection, id);
    assertArtifactName(name);
    await Deno.mkdir(dir, { recursive: true });
    const rand = crypto.getRandomValues(new Uint32Array(2)).join("");
    const tmp = `${dir}/.${name}.tmp-${rand}`;
    const file = await Deno.open(tmp, { write: true, createNew: true });
    let size = 0;
    try {
      const chunks = data instanceof Uint8Array ? [data] : data;
      for await (const chunk of chunks) {
        let off = 0;
        while (off < chunk.length) off += await file.write(chunk.subarray(off));
        size += chunk.length;
      }
      await file.sync();
    } catch (e) {
      file.close();
      await removeIfExists(tmp, false);
      throw e;
    }
    file.close();
    try {
      await Deno.rename(tmp, `${dir}/${name}`);
    } catch (e) {
      await removeIfExists(tmp, false);
      throw e;
    }
    await syncDir(dir);
    return size;
  }

  async putArtifactFile(
    collection: Collection,
    id: string,
    name: string,
    write: (path: string) => Promise<void>,
  ): Promise<number> {
    const dir = this.artifactDir(collection, id);
    assertArtifactName(name);
    await Deno.mkdir(dir, { recursive: true });
    const rand = crypto.getRandomValues(new Uint32Array(2)).join("");
    const tmp = `${dir}/.${name}.tmp-${rand}`;
    let size: number;
    try {
      await write(tmp);
      size = (await Deno.stat(tmp)).size;
      await Deno.rename(tmp, `${dir}/${name}`);
    } catch (e) {
      await removeIfExists(tmp, false);
      throw e;
    }
    await syncDir(dir);
    return size;
  }

  async getArtifact(collection: Collection, id: string, name: string): Promise<Uint8Array | null> {
    const path = this.artifactPath(collection, id, name);
    if (path === null) return null;
    try {
      return await Deno.readFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw e;
    }
  }

  async getArtifactRange(
    collection: Collection,
    id: string,
    name: string,
    start: number,
    length: number,
  ): Promise<Uint8Array | null> {
    if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new RangeError(`bad artifact range start=${start} length=${length}`);
    }
    const path = this.artifactPath(collection, id, name);
    if (path === null) return null;
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw e;
    }
    try {
      const { size } = await file.stat();
      const n = Math.max(0, Math.min(length, size - start));
      const out = new Uint8Array(n);
      if (n === 0) return out;
      await file.seek(start, Deno.SeekMode.Start);
      let off = 0;
      while (off < n) {
        const got = await file.read(out.subarray(off));
        if (got === null) break;
        off += got;
      }
      return off === n ? out : out.subarray(0, off);
    } finally {
      file.close();
    }
  }

  async artifactStream(
    collection: Collection,
    id: string,
    name: string,
  ): Promise<{ size: number; stream: ReadableStream<Uint8Array> } | null> {
    const path = this.artifactPath(collection, id, name);
    if (path === null) return null;
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw e;
    }
    const { size } = await file.stat();
    // The open file keeps its content even if the artifact is replaced or
    // deleted meanwhile (rename/unlink do not touch an open inode).
    return { size, stream: file.readable };
  }

  async artifactSize(collection: Collection, id: string, name: string): Promise<number | null> {
    const path = this.artifactPath(collection, id, name);
    if (path === null) return null;
    try {
      return (await Deno.stat(path)).size;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw e;
    }
  }

  async listArtifacts(collection: Collection, id: string): Promise<string[]> {
    assertCollection(collection);
    if (!isValidId(id, collection)) return [];
    const names: string[] = [];
    try {
      for await (const e of Deno.readDir(this.artifactDir(collection, id))) {
        if (e.isFile && isValidArtifactName(e.name)) names.push(e.name);
      }
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
    return names.sort();
  }

  async deleteArtifact(collection: Collection, id: string, name: string): Promise<boolean> {
    const path = this.artifactPath(collection, id, name);
    if (path === null) return false;
    const existed = await removeIfExists(path, false);
    if (existed) await syncDir(this.artifactDir(collection, id));
    return existed;
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.kv.close();
    }
    return Promise.resolve();
  }

  // ---------------------------------------------------------------- helpers

  /** Throws InvalidIdError for a malformed collection or id. */
  private artifactDir(collection: Collection, id: string): string {
    assertCollection(collection);
    assertId(id, collection);
    return `${this.dataDir}/artifacts/${collection}/${id}`;
  }

  /** Null for a malformed id (cannot exist); throws for a malformed name. */
  private artifactPath(collection: Collection, id: string, name: string): string | null {
    assertCollection(collection);
    assertArtifactName(name);
    if (!isValidId(id, collection)) return null;
    return `${this.artifactDir(collection, id)}/${name}`;
  }

  /** Removes temp files and artifact folders that have no record. */
  private async sweep(): Promise<void> {
    for (const collection of COLLECTIONS) {
      const base = `${this.dataDir}/artifacts/${collection}`;
      let entries: Deno.DirEntry[];
      try {
        entries = await Array.fromAsync(Deno.readDir(base));
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) continue;
        throw e;
      }
      for (const e of entries) {
        if (!e.isDirectory || !isValidId(e.name, collection)) continue;
        const dir = `${base}/${e.name}`;
        if ((await this.kv.get(recKey(collection, e.name))).value === null) {
          await removeIfExists(dir, true);
          continue;
        }
        for await (const f of Deno.readDir(dir)) {
          if (f.name.startsWith(".") && f.name.includes(".tmp-")) {
            await removeIfExists(`${dir}/${f.name}`, false);
          }
        }
      }
    }
  }
}

function recKey(collection: Collection, id: string): Deno.KvKey {
  return ["rec", collection, id];
}

function addIndexes(op: Deno.AtomicOperation, rec: Rec<unknown>): void {
  if (rec.status !== null) op.set(["status", rec.collection, rec.status, rec.id], true);
  for (const r of rec.refs) op.set(["ref", r, rec.collection, rec.id], true);
}

/** Deletes the index keys `prev` had and `next` lacks, sets the new ones. */
function updateIndexes(op: Deno.AtomicOperation, prev: Rec<unknown>, next: Rec<unknown>): void {
  if (prev.status !== next.status) {
    if (prev.status !== null) op.delete(["status", prev.collection, prev.status, prev.id]);
    if (next.status !== null) op.set(["status", next.collection, next.status, next.id], true);
  }
  for (const r of prev.refs) {
    if (!next.refs.includes(r)) op.delete(["ref", r, prev.collection, prev.id]);
  }
  for (const r of next.refs) {
    if (!prev.refs.includes(r)) op.set(["ref", r, next.collection, next.id], true);
  }
}

function removeIndexes(op: Deno.AtomicOperation, rec: Rec<unknown>): void {
  if (rec.status !== null) op.delete(["status", rec.collection, rec.status, rec.id]);
  for (const r of rec.refs) op.delete(["ref", r, rec.collection, rec.id]);
}

async function removeIfExists(path: string, recursive: boolean): Promise<boolean> {
  try {
    await Deno.remove(path, { recursive });
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** fsync a directory so a rename or unlink in it is durable (best effort). */
async function syncDir(dir: string): Promise<void> {
  let f: Deno.FsFile | undefined;
  try {
    f = await Deno.open(dir, { read: true });
    await f.sync();
  } catch {
    // Not every platform can fsync a directory; the rename is still atomic.
  } finally {
    f?.close();
  }
}
