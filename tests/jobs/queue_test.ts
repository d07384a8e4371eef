// The job queue on Deno KV (the cases are in _queue_cases.ts; queue_pg_test.ts runs them
// on PostgreSQL).
import { KvStore } from "../../lib/store/kv_store.ts";
import { queueCases } from "./_queue_cases.ts";

queueCases("", {
  place: async () => {
    const dir = await Deno.makeTempDir({ prefix: "memcap_jobs_" });
    return { where: dir, cleanup: () => Deno.remove(dir, { recursive: true }) };
  },
  open: (dir) => KvStore.open(dir),
});
