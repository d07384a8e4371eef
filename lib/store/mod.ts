// The store's front door: main.ts opens the store here and passes the
// `Store` interface on; nothing else needs to know whether it is Deno KV or PostgreSQL.
import { KvStore } from "./kv_store.ts";
import { PgStore } from "./pg_store.ts";
import { type DiskSpace, guardStore } from "./disk_space.ts";
import type { Store } from "./store.ts";

export * from "./store.ts";
export * from "./disk_space.ts";

export interface OpenStoreOptions {
  /** Store + artifacts folder (MEMCAP_DATA, default ./data). */
  dataDir: string;
  /**
   * The free-space floor of `dataDir` (MEMCAP_MIN_FREE_MB): when given, creates and artifact
   * writes fail with StorageFullError once less than half of it would stay free.
   */
  space?: DiskSpace;
  /**
   * PostgreSQL URL (MEMCAP_DATABASE_URL): when given, records and artifacts live in that
   * database (PgStore) instead of Deno KV in `dataDir`; several nodes may share it.
   */
  databaseUrl?: string;
}

/** Opens the configured store: PostgreSQL when `databaseUrl` is given, else Deno KV in `dataDir`. */
export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  const store: Store = opts.databaseUrl
    // No soleNode: job leases (lib/jobs/queue.ts) let several nodes share one database.
    ? await PgStore.open(opts.databaseUrl)
    : await KvStore.open(opts.dataDir);
  return opts.space ? guardStore(store, opts.space) : store;
}
