// The one interface memcap keeps its records and artifacts behind.
//
// Records are small JSON documents in five collections (datasets, models,
// runs, capacity, membership); artifacts are binary blobs that belong to one record
// (dataset tokens, model weights, checkpoints). Deno KV (kv_store.ts) is the
// embedded implementation, PostgreSQL (pg_store.ts) the shared one. Code outside
// lib/store/ talks to `Store` only and never learns which implementation runs.
//
// Guarantees every implementation must keep:
// - create/update/delete are atomic: a reader sees a record either complete
//   or not at all, and the indexes (status, refs) always agree with it.
// - An acknowledged write (the promise resolved) survives a kill -9.
// - Artifacts are written to a temporary name, flushed and renamed, so a
//   reader never sees a half-written artifact under its real name.
// - Ids are generated here and checked against a strict pattern before they
//   reach a key or a path; user input never reaches the filesystem.

export const COLLECTIONS = [
  "datasets",
  "models",
  "runs",
  "capacity",
  "fleets",
  "membership",
] as const;
export type Collection = typeof COLLECTIONS[number];

/** Id prefix per collection: `ds_01j...`. */
export const ID_PREFIX: Record<Collection, string> = {
  datasets: "ds",
  models: "mdl",
  runs: "run",
  capacity: "cap",
  // a capacity sweep's fleets, trained as jobs of their own (lib/jobs/fleet_jobs.ts)
  fleets: "flt",
  // membership inference attack results
  membership: "mia",
};

/** A stored record: metadata the store maintains plus a JSON body. */
export interface Rec<T = unknown> {
  id: string;
  collection: Collection;
  /** ISO 8601, set once at create. */
  createdAt: string;
  /** ISO 8601, set at every write. */
  updatedAt: string;
  /** 1 at create, +1 at every update (optimistic concurrency). */
  version: number;
  /** Indexed: list/count by status (jobs use queued/running/...). */
  status: string | null;
  /** Indexed: ids of other records this one uses (a run's model and dataset). */
  refs: string[];
  /** JSON-serialisable payload; keep it under MAX_RECORD_BYTES. */
  body: T;
}

/** What a caller may change in an update. Missing fields stay as they are. */
export interface Patch<T> {
  body?: T;
  status?: string | null;
  refs?: string[];
}

export interface CreateOptions {
  /** Use an id from `newId(collection)` (to write artifacts before the record). */
  id?: string;
  status?: string | null;
  refs?: string[];
}

export interface ListOptions {
  /** 1..1000, default 20. */
  limit?: number;
  /** `nextCursor` from the previous page. */
  cursor?: string | null;
  /** Only records with this status. */
  status?: string;
  /** "desc" (default): newest first. "asc": oldest first (queue order). */
  order?: "asc" | "desc";
}

export interface Page<T> {
  items: Rec<T>[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

/** Longest payload a signal carries (PostgreSQL's NOTIFY takes under 8000 bytes). */
export const NOTIFY_PAYLOAD_BYTES = 7900;

/**
 * Wake-ups between processes that share a store (PostgreSQL's LISTEN/NOTIFY). Absent where
 * one process owns the store (Deno KV): there the process wakes itself.
 */
export interface StoreSignals {
  /**
   * Calls `fn` with the payload whenever any process notifies `channel`; resolves to a
   * function that stops.
   */
  listen(channel: string, fn: (payload: string) => void): Promise<() => Promise<void>>;
  /** `payload` is at most NOTIFY_PAYLOAD_BYTES of UTF-8. */
  notify(channel: string, payload?: string): Promise<void>;
}

export interface Store {
  /** Cross-process wake-ups, where the store is shared (see StoreSignals). */
  readonly signals?: StoreSignals;
  /** A fresh, time-sortable id for `collection`. */
  newId(collection: Collection): string;

  /** Creates a record atomically. Throws ConflictError if `opts.id` exists. */
  create<T>(collection: Collection, body: T, opts?: CreateOptions): Promise<Rec<T>>;
  /** The record, or null (also null for an id that is not well-formed). */
  get<T>(collection: Collection, id: string): Promise<Rec<T> | null>;
  /**
   * Optimistic update: applies `patch` only if the stored version equals
   * `expectedVersion` (when given), else throws ConflictError. Null if missing.
   */
  update<T>(
    collection: Collection,
    id: string,
    patch: Patch<T>,
    expectedVersion?: number,
  ): Promise<Rec<T> | null>;
  /**
   * Read-modify-write, retried on conflict. `fn` gets the current record (a
   * copy) and returns a patch, or undefined to write nothing. `fn` may run more
   * than once, so it must not have side effects. Null if the record is missing.
   */
  atomicUpdate<T>(
    collection: Collection,
    id: string,
    fn: (current: Rec<T>) => Patch<T> | undefined,
  ): Promise<Rec<T> | null>;
  /** Newest first (default) with an opaque cursor. */
  list<T>(collection: Collection, opts?: ListOptions): Promise<Page<T>>;
  /** Number of records, optionally with one status. */
  count(collection: Collection, opts?: { status?: string }): Promise<number>;
  /** Records (any collection) whose `refs` contain `id`, oldest first. */
  referencing(id: string): Promise<Rec[]>;
  /** Deletes the record and all its artifacts. False if it did not exist. */
  delete(collection: Collection, id: string): Promise<boolean>;

  /** Writes an artifact atomically (temp file, fsync, rename). Returns its size. */
  putArtifact(
    collection: Collection,
    id: string,
    name: string,
    data: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  ): Promise<number>;
  /**
   * Writes an artifact that `write` makes at a file path: `write` creates and fills the
   * temporary file at `path` and flushes it (fsync), e.g. from a Worker, so that a large write
   * holds no thread the service answers on; then it is renamed into place as putArtifact does.
   * `expectedBytes` (its size, when known) lets a store refuse it up front. Returns its size.
   */
  putArtifactFile(
    collection: Collection,
    id: string,
    name: string,
    write: (path: string) => Promise<void>,
    expectedBytes?: number,
  ): Promise<number>;
  /** The whole artifact, or null if absent. */
  getArtifact(collection: Collection, id: string, name: string): Promise<Uint8Array | null>;
  /**
   * `length` bytes from byte `start` (fewer at the end of the artifact), or
   * null if absent. For pages of big artifacts without reading them whole.
   */
  getArtifactRange(
    collection: Collection,
    id: string,
    name: string,
    start: number,
    length: number,
  ): Promise<Uint8Array | null>;
  /** A byte stream of the artifact (for large downloads), or null if absent. */
  artifactStream(
    collection: Collection,
    id: string,
    name: string,
  ): Promise<{ size: number; stream: ReadableStream<Uint8Array> } | null>;
  /** Size in bytes, or null if absent. */
  artifactSize(collection: Collection, id: string, name: string): Promise<number | null>;
  /** Names of a record's artifacts, sorted. */
  listArtifacts(collection: Collection, id: string): Promise<string[]>;
  /** False if it did not exist. */
  deleteArtifact(collection: Collection, id: string, name: string): Promise<boolean>;

  close(): Promise<void>;
}

// ---------------------------------------------------------------------------
// Errors (each has a stable `code`; the route layer maps codes to HTTP).

export class StoreError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = "StoreError";
  }
}
/** A malformed id, collection or artifact name (never reaches a path). */
export class InvalidIdError extends StoreError {
  constructor(message: string) {
    super("invalid_id", message);
    this.name = "InvalidIdError";
  }
}
export class InvalidCursorError extends StoreError {
  constructor() {
    super("invalid_cursor", "cursor is not one this service returned");
    this.name = "InvalidCursorError";
  }
}
/** Version mismatch, duplicate id, or too much contention. */
export class ConflictError extends StoreError {
  constructor(message: string) {
    super("conflict", message);
    this.name = "ConflictError";
  }
}
export class RecordTooLargeError extends StoreError {
  constructor(bytes: number) {
    super(
      "record_too_large",
      `record is ${bytes} bytes as JSON; the limit is ${MAX_RECORD_BYTES} (put big data in artifacts)`,
    );
    this.name = "RecordTooLargeError";
  }
}

/** Deno KV caps a value at 64 KiB; keep a margin for the record envelope. */
export const MAX_RECORD_BYTES = 60_000;

// ---------------------------------------------------------------------------
// Ids: prefix + "_" + 20 Crockford base32 characters (lower case):
// 10 for the millisecond timestamp (50 bits), 10 random (50 bits). Ids made
// by one process are strictly increasing (same millisecond: random part + 1),
// so sorting ids sorts by creation time and newest-first lists need no index.
// The random part comes from crypto.getRandomValues, not lib/prng.ts: ids must
// be unique across processes and restarts, not reproducible, and they never
// feed any measured number.

const B32 = "0123456789abcdefghjkmnpqrstvwxyz";
const ID_BODY = "[0-9a-hjkmnp-tv-z]{20}";
const ANY_ID = new RegExp(`^(?:${Object.values(ID_PREFIX).join("|")})_${ID_BODY}$`);
const ID_RE: Record<Collection, RegExp> = Object.fromEntries(
  COLLECTIONS.map((c) => [c, new RegExp(`^${ID_PREFIX[c]}_${ID_BODY}$`)]),
) as Record<Collection, RegExp>;
/** Artifact names: lower-case, starts alphanumeric, no slashes, no "..". */
const ARTIFACT_NAME = /^[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9_-]+)*$/;

let lastMs = -1;
const lastRand: number[] = new Array(10).fill(0);

export function newId(collection: Collection): string {
  assertCollection(collection);
  const now = Date.now();
  if (now > lastMs) {
    lastMs = now;
    const bytes = crypto.getRandomValues(new Uint8Array(10));
    for (let i = 0; i < 10; i++) lastRand[i] = bytes[i] & 31;
  } else {
    // Same (or an earlier, clock stepped back) millisecond: keep the last
    // timestamp and increment the random part, so ids stay increasing.
    let i = 9;
    while (i >= 0 && lastRand[i] === 31) lastRand[i--] = 0;
    if (i < 0) {
      lastMs++;
    } else lastRand[i]++;
  }
  let t = lastMs;
  const time: string[] = new Array(10);
  for (let i = 9; i >= 0; i--) {
    time[i] = B32[t % 32];
    t = Math.floor(t / 32);
  }
  return `${ID_PREFIX[collection]}_${time.join("")}${lastRand.map((d) => B32[d]).join("")}`;
}

export function isCollection(c: unknown): c is Collection {
  return typeof c === "string" && (COLLECTIONS as readonly string[]).includes(c);
}

export function assertCollection(c: unknown): asserts c is Collection {
  if (!isCollection(c)) throw new InvalidIdError(`unknown collection ${JSON.stringify(c)}`);
}

/** True if `id` is a well-formed id of `collection` (or of any collection). */
export function isValidId(id: unknown, collection?: Collection): boolean {
  if (typeof id !== "string") return false;
  return collection ? ID_RE[collection].test(id) : ANY_ID.test(id);
}

export function assertId(id: unknown, collection?: Collection): asserts id is string {
  if (!isValidId(id, collection)) {
    throw new InvalidIdError(
      `${JSON.stringify(id)} is not a valid ${collection ?? "record"} id`,
    );
  }
}

export function isValidArtifactName(name: unknown): boolean {
  return typeof name === "string" && name.length <= 64 && ARTIFACT_NAME.test(name);
}

export function assertArtifactName(name: unknown): asserts name is string {
  if (!isValidArtifactName(name)) {
    throw new InvalidIdError(`${JSON.stringify(name)} is not a valid artifact name`);
  }
}

/** The collection an id belongs to, from its prefix (null if malformed). */
export function collectionOf(id: string): Collection | null {
  for (const c of COLLECTIONS) if (ID_RE[c].test(id)) return c;
  return null;
}

/** Creation time encoded in an id (milliseconds since the epoch). */
export function idTime(id: string): number {
  assertId(id);
  const body = id.slice(id.indexOf("_") + 1, id.indexOf("_") + 11);
  let t = 0;
  for (const ch of body) t = t * 32 + B32.indexOf(ch);
  return t;
}

/** Orders ids of any collections by creation (the part after the prefix). */
export function compareIds(a: string, b: string): number {
  const x = a.slice(a.indexOf("_") + 1);
  const y = b.slice(b.indexOf("_") + 1);
  return x < y ? -1 : x > y ? 1 : 0;
}

// ---------------------------------------------------------------------------
// Cursors: opaque to clients (base64url of a version tag and the last id).

export function encodeCursor(lastId: string): string {
  return btoa(`c1:${lastId}`).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** The last id of the previous page; throws InvalidCursorError. */
export function decodeCursor(cursor: string, collection: Collection): string {
  let text: string;
  try {
    if (cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Error();
    text = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    throw new InvalidCursorError();
  }
  const id = text.startsWith("c1:") ? text.slice(3) : "";
  if (!isValidId(id, collection)) throw new InvalidCursorError();
  return id;
}

/** Clamps a list limit to 1..1000 (default 20). */
export function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return 20;
  return Math.min(1000, Math.max(1, Math.floor(limit)));
}

/** Size of a record as JSON, checked against MAX_RECORD_BYTES. */
export function checkRecordSize(rec: Rec<unknown>): void {
  const bytes = new TextEncoder().encode(JSON.stringify(rec)).length;
  if (bytes > MAX_RECORD_BYTES) throw new RecordTooLargeError(bytes);
}

// ---------------------------------------------------------------------------
// Records as every implementation builds them (only how they are stored differs).

/** A new record (version 1), its id and refs checked and its size within the limit. */
export function newRecord<T>(collection: Collection, body: T, opts: CreateOptions = {}): Rec<T> {
  assertCollection(collection);
  const id = opts.id ?? newId(collection);
  assertId(id, collection);
  const now = new Date().toISOString();
  const rec: Rec<T> = {
    id,
    collection,
    createdAt: now,
    updatedAt: now,
    version: 1,
    status: opts.status ?? null,
    refs: normRefs(opts.refs),
    body,
  };
  checkRecordSize(rec);
  return rec;
}

/** `cur` with `patch` applied and its version bumped, its size within the limit. */
export function patchedRecord<T>(cur: Rec<T>, patch: Patch<T>): Rec<T> {
  const next: Rec<T> = {
    ...cur,
    body: "body" in patch ? patch.body as T : cur.body,
    status: "status" in patch ? patch.status ?? null : cur.status,
    refs: "refs" in patch ? normRefs(patch.refs) : cur.refs,
    version: cur.version + 1,
    updatedAt: new Date().toISOString(),
  };
  checkRecordSize(next);
  return next;
}

/** An atomicUpdate step for `update`: `patch`, once the stored version is `expected`. */
export function patchAtVersion<T>(
  patch: Patch<T>,
  expected: number | undefined,
): (cur: Rec<T>) => Patch<T> {
  return (cur) => {
    if (expected !== undefined && cur.version !== expected) {
      throw new ConflictError(
        `${cur.collection}/${cur.id} is at version ${cur.version}, not ${expected}`,
      );
    }
    return patch;
  };
}

/** Refs without repeats, each a well-formed id. */
export function normRefs(refs: string[] | undefined): string[] {
  const out = [...new Set(refs ?? [])];
  for (const r of out) assertId(r);
  return out;
}
