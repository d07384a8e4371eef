// GET /metrics: Prometheus text format. Behind the token when one is set.
import type { AppDeps } from "../lib/http/deps.ts";
import { ApiRouter, defineRoute } from "../lib/http/route.ts";
import type { Metrics } from "../lib/metrics.ts";

const getMetrics = defineRoute({
  method: "get",
  path: "/metrics",
  summary: "Service metrics (Prometheus text format 0.0.4)",
  description: "Requests and latencies by route, jobs by state, tokens trained, GPU time, " +
    "engine restarts. Needs the bearer token when MEMCAP_TOKEN is set.",
  tags: ["health"],
  responses: {
    200: { contentType: "text/plain; version=0.0.4", description: "Metrics" },
  },
});

export function metricsRouter(deps: AppDeps & { metrics: Metrics }): ApiRouter {
  return new ApiRouter().add(getMetrics, async (c) =>
    c.body(await deps.metrics.render(), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    }));
}
