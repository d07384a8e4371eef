// The job queue's cases (_queue_cases.ts) on PostgreSQL: one throwaway cluster for the file,
// a fresh database per case. Needs Debian's `postgresql` (see tests/store/_postgres.ts).
import { PgStore } from "../../lib/store/pg_store.ts";
import { startPostgres } from "../store/_postgres.ts";
import { queueCases } from "./_queue_cases.ts";

const pg = await startPostgres();
globalThis.addEventListener("unload", () => pg.stopSync());

queueCases("pg", {
  place: async () => ({ where: await pg.newDatabase(), cleanup: () => Promise.resolve() }),
  open: (url) => PgStore.open(url),
});
