// The jobs-by-state gauge of GET /metrics, read from the store when scraped.
import type { Gauge } from "../metrics.ts";
import type { Store } from "../store/store.ts";
import { JOB_COLLECTIONS, JOB_STATUSES } from "./queue.ts";

export function jobsGauge(store: Store): Gauge {
  return {
    name: "memcap_jobs",
    help: "Jobs by collection and state.",
    read: async () => {
      const out = [];
      for (const collection of JOB_COLLECTIONS) {
        for (const status of JOB_STATUSES) {
          out.push({
            labels: { collection, status },
            value: await store.count(collection, { status }),
          });
        }
      }
      return out;
    },
  };
}
