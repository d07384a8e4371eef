// The store's front door: main.ts opens the store here and passes the
// `Store` interface on; nothing else needs to know it is Deno KV.
import { KvStore } from "./kv_store.ts";
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
}

/**
 * Opens the configured store. Today always Deno KV in `dataDir`; a
 * PostgreSQL implementation would be chosen here (e.g. from a URL option).
 */
export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  const store = await KvStore.open(opts.dataDir);
  return opts.space ? guardStore(store, opts.space) : store;
}
