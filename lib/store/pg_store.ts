// PostgreSQL implementation of Store: records and artifacts in one database,
// so several memcap nodes can share it (issue 24). Chosen by openStore when
// MEMCAP_DATABASE_URL is set; semantics match KvStore (kv_store.ts).
//
// Tables (created at open under an advisory lock, see SCHEMA_VERSION):
//   memcap_schema_version(version)            one row: the layout's version
//   memcap_records(id PK, collection, version, status, created_at, updated_at,
//                  refs text[] (GIN index), body json)
//   memcap_artifacts(collection, id, name PK, blob, size, chunk_size)
//   memcap_artifact_chunks(blob, seq PK, collection, id, name, data bytea)
// Ids are compared with the "C" collation, so ORDER BY id is creation order
// (as in KvStore's key order).
//
// Artifacts: a write puts its bytes, in CHUNK_BYTES chunks, under a fresh blob
// id, then points the artifacts row at that blob and deletes the other blobs of
// that name, all in one transaction: a reader sees the old artifact or the new
// one, never a mix, and a failed write leaves nothing. Reads of one artifact
// are single statements (one snapshot); a stream reads chunk by chunk inside a
// REPEATABLE READ transaction, so it keeps its content even if the artifact is
// replaced or deleted meanwhile (as an open file does in KvStore).
//
// Durability: a write is acknowledged after its COMMIT (synchronous_commit as
// the server has it, on by default), so it survives a kill -9 of either side.

import postgres from "postgres";
import {
  assertArtifactName,
  assertCollection,
  assertId,
  clampLimit,
  type Collection,
  ConflictError,
  type CreateOptions,
  decodeCursor,
  encodeCursor,
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
  StoreError,
  type StoreSignals,
} from "./store.ts";

const MAX_RETRIES = 100;
/** Artifact chunk size: every chunk but the last holds exactly this many bytes. */
export const CHUNK_BYTES = 1024 * 1024;
/** The table layout this code writes; later migrations bump it. */
const SCHEMA_VERSION = 1;
/** pg_advisory_xact_lock key for schema creation/migration ("memcap" in ASCII). */
const SCHEMA_LOCK = 0x6d656d636170;

type Sql = postgres.Sql;

interface RecRow {
  id: string;
  collection: Collection;
  version: number;
  status: string | null;
  created_at: Date;
  updated_at: Date;
  refs: string[];
  body: unknown;
}

export interface PgStoreOptions {
  /** Most connections in the pool (default 10). */
  max?: number;
  /**
   * Hold the database for this process alone (a session advisory lock), refusing to open
   * when another holds it. The service no longer asks for it: its job queue has leases
   * (lib/jobs/queue.ts), so several nodes may share one database.
   */
  soleNode?: boolean;
}

/** pg_try_advisory_lock key of the one node a database serves ("memnod" in ASCII). */
const NODE_LOCK = 0x6d656d6e6f64;

export class PgStore implements Store {
  private closed = false;
  private nodeLock: postgres.ReservedSql | null = null;

  private constructor(private readonly sql: Sql) {}

  /** LISTEN/NOTIFY on this database: a job enqueued on one node wakes the idle others. */
  readonly signals: StoreSignals = {
    listen: async (channel, fn) => {
      const { unlisten } = await this.sql.listen(channel, (payload) => fn(payload));
      return unlisten;
    },
    notify: async (channel, payload = "") => {
      await this.sql.notify(channel, payload);
    },
  };

  /** Connects to `url` (postgres://...) and creates or checks the tables. */
  static async open(url: string, opts: PgStoreOptions = {}): Promise<PgStore> {
    const sql = postgres(url, {
      max: opts.max ?? 10,
      onnotice: () => {},
      // Keep int8 as strings (the default) and convert where needed.
    });
    const store = new PgStore(sql);
    try {
      await migrate(sql);
      if (opts.soleNode) await store.lockNode();
    } catch (e) {
      await sql.end({ timeout: 5 });
      throw e;
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
    const rows = await this.sql`
      INSERT INTO memcap_records (id, collection, version, status, created_at, updated_at, refs, body)
      VALUES (${id}, ${collection}, 1, ${rec.status}, ${rec.createdAt}::timestamptz,
              ${rec.createdAt}::timestamptz, ${rec.refs}::text[], ${this.json(body)}::json)
      ON CONFLICT (id) DO NOTHING
      RETURNING id`;
    if (rows.length === 0) throw new ConflictError(`${collection}/${id} already exists`);
    return rec;
  }

  async get<T>(collection: Collection, id: string): Promise<Rec<T> | null> {
    assertCollection(collection);
    if (!isValidId(id, collection)) return null;
    const rows = await this.sql<RecRow[]>`
      SELECT * FROM memcap_records WHERE collection = ${collection} AND id = ${id}`;
    return rows.length ? toRec<T>(rows[0]) : null;
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
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const cur = await this.get<T>(collection, id);
      if (!cur) return null;
      const patch = fn(structuredClone(cur));
      if (patch === undefined) return cur;
      const next = patchedRecord(cur, patch);
      // The version check makes this a compare-and-set: it writes only if no one else
      // wrote since our read.
      const rows = await this.sql`
        UPDATE memcap_records
        SET version = ${next.version}, status = ${next.status},
            updated_at = ${next.updatedAt}::timestamptz, refs = ${next.refs}::text[],
            body = ${this.json(next.body)}::json
        WHERE collection = ${collection} AND id = ${id} AND version = ${cur.version}
        RETURNING id`;
      if (rows.length === 1) return next;
      // Someone else wrote between our read and update: read again, retry (after a short,
      // growing, random pause so writers on several nodes do not keep colliding).
      await sleep(Math.random() * Math.min(20, 1 + attempt));
    }
    throw new ConflictError(`${collection}/${id}: too much contention`);
  }

  async list<T>(collection: Collection, opts: ListOptions = {}): Promise<Page<T>> {
    assertCollection(collection);
    const limit = clampLimit(opts.limit);
    const reverse = (opts.order ?? "desc") === "desc";
    const after = opts.cursor ? decodeCursor(opts.cursor, collection) : null;
    const sql = this.sql;
    const rows = await sql<RecRow[]>`
      SELECT * FROM memcap_records
      WHERE collection = ${collection}
        ${opts.status === undefined ? sql`` : sql`AND status = ${opts.status}`}
        ${after === null ? sql`` : reverse ? sql`AND id < ${after}` : sql`AND id > ${after}`}
      ORDER BY id ${reverse ? sql`DESC` : sql`ASC`}
      LIMIT ${limit + 1}`;
    const more = rows.length > limit;
    const items = rows.slice(0, limit).map((r) => toRec<T>(r));
    return { items, nextCursor: more ? encodeCursor(items[items.length - 1].id) : null };
  }

  async count(collection: Collection, opts: { status?: string } = {}): Promise<number> {
    assertCollection(collection);
    const sql = this.sql;
    const [row] = await sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM memcap_records
      WHERE collection = ${collection}
        ${opts.status === undefined ? sql`` : sql`AND status = ${opts.status}`}`;
    return row.n;
  }

  async referencing(id: string): Promise<Rec[]> {
    if (!isValidId(id)) return [];
    const rows = await this.sql<RecRow[]>`
      SELECT * FROM memcap_records WHERE refs @> ARRAY[${id}]::text[]
      ORDER BY created_at, collection, id`;
    return rows.map((r) => toRec(r));
  }

  async delete(collection: Collection, id: string): Promise<boolean> {
    assertCollection(collection);
    if (!isValidId(id, collection)) return false;
    // The record and its artifacts go in one transaction.
    return await this.sql.begin(async (tx) => {
      const rows = await tx`
        DELETE FROM memcap_records WHERE collection = ${collection} AND id = ${id} RETURNING id`;
      await tx`DELETE FROM memcap_artifacts WHERE collection = ${collection} AND id = ${id}`;
      await tx`DELETE FROM memcap_artifact_chunks WHERE collection = ${collection} AND id = ${id}`;
      return rows.length === 1;
    });
  }

  // -------------------------------------------------------------- artifacts

  async putArtifact(
    collection: Collection,
    id: string,
    name: string,
    data: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  ): Promise<number> {
    assertCollection(collection);
    assertId(id, collection);
    assertArtifactName(name);
    const blob = crypto.randomUUID();
    return await this.sql.begin(async (tx) => {
      let seq = 0;
      let size = 0;
      const buf = new Uint8Array(CHUNK_BYTES);
      let fill = 0;
      const flush = async (bytes: Uint8Array) => {
        await tx`
          INSERT INTO memcap_artifact_chunks (blob, seq, collection, id, name, data)
          VALUES (${blob}::uuid, ${seq++}, ${collection}, ${id}, ${name}, ${bytes})`;
      };
      const chunks = data instanceof Uint8Array ? [data] : data;
      for await (const chunk of chunks) {
        let off = 0;
        while (off < chunk.length) {
          const n = Math.min(CHUNK_BYTES - fill, chunk.length - off);
          buf.set(chunk.subarray(off, off + n), fill);
          fill += n;
          off += n;
          if (fill === CHUNK_BYTES) {
            await flush(buf);
            fill = 0;
          }
        }
        size += chunk.length;
      }
      if (fill > 0) await flush(buf.subarray(0, fill));
      await tx`
        INSERT INTO memcap_artifacts (collection, id, name, blob, size, chunk_size)
        VALUES (${collection}, ${id}, ${name}, ${blob}::uuid, ${size}, ${CHUNK_BYTES})
        ON CONFLICT (collection, id, name)
        DO UPDATE SET blob = excluded.blob, size = excluded.size, chunk_size = excluded.chunk_size`;
      // The replaced artifact's chunks (and any a crashed writer left) go with this commit.
      await tx`
        DELETE FROM memcap_artifact_chunks
        WHERE collection = ${collection} AND id = ${id} AND name = ${name} AND blob <> ${blob}::uuid`;
      return size;
    });
  }

  async putArtifactFile(
    collection: Collection,
    id: string,
    name: string,
    write: (path: string) => Promise<void>,
  ): Promise<number> {
    assertCollection(collection);
    assertId(id, collection);
    assertArtifactName(name);
    const dir = await Deno.makeTempDir({ prefix: "memcap_pg_artifact_" });
    try {
      const path = `${dir}/${name}`;
      await write(path);
      using file = await Deno.open(path, { read: true });
      return await this.putArtifact(collection, id, name, file.readable);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }

  async getArtifact(collection: Collection, id: string, name: string): Promise<Uint8Array | null> {
    if (!this.artifactKeyOk(collection, id, name)) return null;
    const rows = await this.sql<{ size: string; data: Uint8Array | null }[]>`
      SELECT a.size, c.data FROM memcap_artifacts a
      LEFT JOIN memcap_artifact_chunks c ON c.blob = a.blob
      WHERE a.collection = ${collection} AND a.id = ${id} AND a.name = ${name}
      ORDER BY c.seq`;
    if (rows.length === 0) return null;
    const out = new Uint8Array(Number(rows[0].size));
    let off = 0;
    for (const r of rows) {
      if (r.data === null) continue;
      out.set(r.data, off);
      off += r.data.length;
    }
    if (off !== out.length) throw corrupt(collection, id, name);
    return out;
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
    if (!this.artifactKeyOk(collection, id, name)) return null;
    // One statement (one snapshot) that reads only the chunks the range touches.
    const end = start + length; // exclusive
    const rows = await this.sql<
      { size: string; chunk_size: number; seq: number | null; data: Uint8Array | null }[]
    >`
      SELECT a.size, a.chunk_size, c.seq, c.data FROM memcap_artifacts a
      LEFT JOIN memcap_artifact_chunks c ON c.blob = a.blob
        AND c.seq >= ${start}::int8 / a.chunk_size
        AND c.seq < (${end}::int8 + a.chunk_size - 1) / a.chunk_size
      WHERE a.collection = ${collection} AND a.id = ${id} AND a.name = ${name}
      ORDER BY c.seq`;
    if (rows.length === 0) return null;
    const size = Number(rows[0].size);
    const chunkSize = rows[0].chunk_size;
    const n = Math.max(0, Math.min(length, size - start));
    const out = new Uint8Array(n);
    if (n === 0) return out;
    let got = 0;
    for (const r of rows) {
      if (r.data === null || r.seq === null) continue;
      const base = r.seq * chunkSize;
      const from = Math.max(start, base), to = Math.min(start + n, base + r.data.length);
      if (to <= from) continue;
      out.set(r.data.subarray(from - base, to - base), from - start);
      got += to - from;
    }
    if (got !== n) throw corrupt(collection, id, name);
    return out;
  }

  async artifactStream(
    collection: Collection,
    id: string,
    name: string,
  ): Promise<{ size: number; stream: ReadableStream<Uint8Array> } | null> {
    if (!this.artifactKeyOk(collection, id, name)) return null;
    // A reserved connection in a snapshot transaction, held until the stream ends or is
    // cancelled: every chunk comes from the same version of the artifact.
    const conn = await this.sql.reserve();
    let open = true;
    const finish = async () => {
      if (!open) return;
      open = false;
      try {
        await conn`COMMIT`;
      } finally {
        conn.release();
      }
    };
    let head: { blob: string; size: string; chunk_size: number }[];
    try {
      await conn`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`;
      head = await conn`
        SELECT blob::text, size, chunk_size FROM memcap_artifacts
        WHERE collection = ${collection} AND id = ${id} AND name = ${name}`;
    } catch (e) {
      open = false;
      conn.release();
      throw e;
    }
    if (head.length === 0) {
      await finish();
      return null;
    }
    const size = Number(head[0].size);
    const chunks = Math.ceil(size / head[0].chunk_size);
    const blob = head[0].blob;
    let seq = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          if (seq >= chunks) {
            await finish();
            controller.close();
            return;
          }
          const rows = await conn<{ data: Uint8Array }[]>`
            SELECT data FROM memcap_artifact_chunks WHERE blob = ${blob}::uuid AND seq = ${seq}`;
          if (rows.length === 0) throw corrupt(collection, id, name);
          seq++;
          controller.enqueue(plain(rows[0].data));
        } catch (e) {
          await finish().catch(() => {});
          controller.error(e);
        }
      },
      cancel: async () => {
        await finish();
      },
    });
    return { size, stream };
  }

  async artifactSize(collection: Collection, id: string, name: string): Promise<number | null> {
    if (!this.artifactKeyOk(collection, id, name)) return null;
    const rows = await this.sql<{ size: string }[]>`
      SELECT size FROM memcap_artifacts
      WHERE collection = ${collection} AND id = ${id} AND name = ${name}`;
    return rows.length ? Number(rows[0].size) : null;
  }

  async listArtifacts(collection: Collection, id: string): Promise<string[]> {
    assertCollection(collection);
    if (!isValidId(id, collection)) return [];
    const rows = await this.sql<{ name: string }[]>`
      SELECT name FROM memcap_artifacts WHERE collection = ${collection} AND id = ${id}
      ORDER BY name`;
    return rows.map((r) => r.name);
  }

  async deleteArtifact(collection: Collection, id: string, name: string): Promise<boolean> {
    if (!this.artifactKeyOk(collection, id, name)) return false;
    return await this.sql.begin(async (tx) => {
      const rows = await tx`
        DELETE FROM memcap_artifacts
        WHERE collection = ${collection} AND id = ${id} AND name = ${name} RETURNING blob`;
      await tx`
        DELETE FROM memcap_artifact_chunks
        WHERE collection = ${collection} AND id = ${id} AND name = ${name}`;
      return rows.length === 1;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Ending the pool closes the lock's session too, which releases the lock.
    this.nodeLock?.release();
    await this.sql.end({ timeout: 5 });
  }

  /** Takes the node lock on a connection of its own, held until close. */
  private async lockNode(): Promise<void> {
    const conn = await this.sql.reserve();
    const [row] = await conn<
      { locked: boolean }[]
    >`SELECT pg_try_advisory_lock(${NODE_LOCK}) AS locked`;
    if (!row.locked) {
      conn.release();
      throw new StoreError(
        "database_in_use",
        "another memcap node holds this database; several nodes on one database need job " +
          "leases, which memcap does not have yet: give each node its own database",
      );
    }
    this.nodeLock = conn;
  }

  // ---------------------------------------------------------------- helpers

  /** A body as a json parameter; undefined (which JSON cannot hold) is stored as null. */
  private json(body: unknown): postgres.SerializableParameter {
    return body === undefined || body === null
      ? null
      : this.sql.json(body as postgres.JSONValue) as unknown as postgres.SerializableParameter;
  }

  /** As KvStore.artifactPath: throws for a bad collection or name, false for a bad id. */
  private artifactKeyOk(collection: Collection, id: string, name: string): boolean {
    assertCollection(collection);
    assertArtifactName(name);
    return isValidId(id, collection);
  }
}

/** Creates the tables once, under a transaction-scoped advisory lock (nodes may start together). */
async function migrate(sql: Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${SCHEMA_LOCK}::int8)`;
    await tx`CREATE TABLE IF NOT EXISTS memcap_schema_version (version int NOT NULL)`;
    const rows = await tx<{ version: number }[]>`SELECT version FROM memcap_schema_version`;
    const have = rows.length ? Math.max(...rows.map((r) => r.version)) : 0;
    if (have > SCHEMA_VERSION) {
      throw new StoreError(
        "schema_too_new",
        `the database has memcap schema version ${have}; this build knows up to ${SCHEMA_VERSION}`,
      );
    }
    if (have === SCHEMA_VERSION) return;
    // Version 1 (later versions add steps here, each from the version before).
    await tx`
      CREATE TABLE IF NOT EXISTS memcap_records (
        id text COLLATE "C" PRIMARY KEY,
        collection text NOT NULL,
        version int NOT NULL,
        status text,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        refs text[] NOT NULL DEFAULT '{}',
        body json
      )`;
    await tx`CREATE INDEX IF NOT EXISTS memcap_records_collection_id
      ON memcap_records (collection, id)`;
    await tx`CREATE INDEX IF NOT EXISTS memcap_records_status
      ON memcap_records (collection, status, id)`;
    await tx`CREATE INDEX IF NOT EXISTS memcap_records_refs ON memcap_records USING gin (refs)`;
    await tx`
      CREATE TABLE IF NOT EXISTS memcap_artifacts (
        collection text NOT NULL,
        id text COLLATE "C" NOT NULL,
        name text COLLATE "C" NOT NULL,
        blob uuid NOT NULL,
        size int8 NOT NULL,
        chunk_size int NOT NULL,
        PRIMARY KEY (collection, id, name)
      )`;
    await tx`
      CREATE TABLE IF NOT EXISTS memcap_artifact_chunks (
        blob uuid NOT NULL,
        seq int NOT NULL,
        collection text NOT NULL,
        id text COLLATE "C" NOT NULL,
        name text COLLATE "C" NOT NULL,
        data bytea NOT NULL,
        PRIMARY KEY (blob, seq)
      )`;
    await tx`CREATE INDEX IF NOT EXISTS memcap_artifact_chunks_owner
      ON memcap_artifact_chunks (collection, id, name)`;
    await tx`DELETE FROM memcap_schema_version`;
    await tx`INSERT INTO memcap_schema_version (version) VALUES (${SCHEMA_VERSION})`;
  });
}

function toRec<T>(r: RecRow): Rec<T> {
  return {
    id: r.id,
    collection: r.collection,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    version: r.version,
    status: r.status,
    refs: r.refs,
    body: r.body as T,
  };
}

/** A plain Uint8Array view of a Buffer (so callers never see Node's Buffer). */
function plain(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function corrupt(collection: Collection, id: string, name: string): StoreError {
  return new StoreError("artifact_corrupt", `${collection}/${id}/${name}: chunks are missing`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Errors that mean the database cannot be reached right now (refused, closed, timed out,
 * shutting down), not that the request was wrong: the service answers them with a 503, and
 * postgres.js connects again on the next query.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && UNAVAILABLE_CODES.has(code);
}

const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
]);
