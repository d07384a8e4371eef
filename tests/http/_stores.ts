// The stores the HTTP tests that touch the store run against: Deno KV in a temporary folder
// (the default for one machine) and PostgreSQL (MEMCAP_DATABASE_URL; one throwaway cluster per
// test process, started on first use and stopped when the process ends, a fresh database per
// service). `storeTest` registers a test once per store.
import { openStore } from "../../lib/store/mod.ts";
import type { Store } from "../../lib/store/store.ts";
import { startPostgres, type TestPostgres } from "../store/_postgres.ts";

export type StoreBackend = "kv" | "postgres";
export const STORE_BACKENDS: readonly StoreBackend[] = ["kv", "postgres"];

let cluster: Promise<TestPostgres> | null = null;

function postgres(): Promise<TestPostgres> {
  cluster ??= startPostgres().then((pg) => {
    globalThis.addEventListener("unload", () => pg.stopSync());
    return pg;
  });
  return cluster;
}

/** A store of `backend`; `dataDir` is its folder (Deno KV) or its scratch space (PostgreSQL). */
export async function openTestStore(backend: StoreBackend, dataDir: string): Promise<Store> {
  if (backend === "kv") return await openStore({ dataDir });
  return await openStore({ dataDir, databaseUrl: await (await postgres()).newDatabase() });
}

/** `Deno.test(name, …)` on each store; the PostgreSQL one is named `name [postgres]`. */
export function storeTest(name: string, fn: (backend: StoreBackend) => Promise<void>): void {
  for (const backend of STORE_BACKENDS) {
    Deno.test(backend === "kv" ? name : `${name} [postgres]`, () => fn(backend));
  }
}
