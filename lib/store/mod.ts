// The store's front door: main.ts opens the store here and passes the
// `Store` interface on; nothing else needs to know it is Deno KV.
import { KvStore } from "./kv_store.ts";
import type { Store } from "./store.ts";

export * from "./store.ts";

export interface OpenStoreOptions {
  /** Store + artifacts folder (MEMCAP_DATA, default ./data). */
  dataDir: string;
}

/**
 * Opens the configured store. Today always Deno KV in `dataDir`; a
 * PostgreSQL implementation would be chosen here (e.g. from a URL option).
 */
export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  return await KvStore.open(opts.dataDir);
}
