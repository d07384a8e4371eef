// Counters and histograms for GET /metrics in the Prometheus text format
// (version 0.0.4). Only what an operator of a shared GPU server asks about:
// requests and their latency, jobs by state, tokens trained, GPU time,
// engine restarts.

type Labels = Record<string, string>;

const key = (labels: Labels) =>
  Object.entries(labels).sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) =>
      `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`
    )
    .join(",");

export class Counter {
  private values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1) {
    const k = key(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.values.size === 0) lines.push(`${this.name} 0`);
    for (const [k, v] of this.values) lines.push(`${this.name}${k ? `{${k}}` : ""} ${v}`);
    return lines.join("\n");
  }
}

/** Request-latency buckets in seconds. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Histogram {
  private series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets = BUCKETS) {}
  observe(labels: Labels, value: number) {
    const k = key(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 });
    this.buckets.forEach((b, i) => {
      if (value <= b) s.counts[i]++;
    });
    s.sum += value;
    s.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, s] of this.series) {
      const sep = k ? "," : "";
      this.buckets.forEach((b, i) =>
        lines.push(`${this.name}_bucket{${k}${sep}le="${b}"} ${s.counts[i]}`)
      );
      lines.push(`${this.name}_bucket{${k}${sep}le="+Inf"} ${s.count}`);
      lines.push(`${this.name}_sum${k ? `{${k}}` : ""} ${s.sum}`);
      lines.push(`${this.name}_count${k ? `{${k}}` : ""} ${s.count}`);
    }
    return lines.join("\n");
  }
}

/** A value read when /metrics is scraped. */
export interface Gauge {
  name: string;
  help: string;
  read(): Promise<{ labels: Labels; value: number }[]>;
}

export class Metrics {
  readonly requests = new Counter(
    "memcap_http_requests_total",
    "HTTP requests by route and status.",
  );
  readonly latency = new Histogram(
    "memcap_http_request_duration_seconds",
    "HTTP request latency by route.",
  );
  readonly tokensTrained = new Counter(
    "memcap_tokens_trained_total",
    "Training tokens processed by finished or interrupted jobs (fleet models counted each).",
  );
  readonly gpuSeconds = new Counter(
    "memcap_gpu_seconds_total",
    "Wall seconds the engine spent on jobs, likelihood and decoding requests, by kind.",
  );
  readonly engineRestarts = new Counter(
    "memcap_engine_restarts_total",
    "Times the GPU engine process ended unexpectedly (each is followed by a restart).",
  );
  readonly connectionsClosed = new Counter(
    "memcap_connections_closed_total",
    "Client connections the service closed or refused on its own, by reason (timeouts, " +
      "shedding at the connection cap, oversized heads).",
  );
  private gauges: Gauge[] = [];

  addGauge(g: Gauge) {
    this.gauges.push(g);
  }

  async render(): Promise<string> {
    const parts = [
      this.requests,
      this.latency,
      this.tokensTrained,
      this.gpuSeconds,
      this.engineRestarts,
      this.connectionsClosed,
    ]
      .map((m) => m.render());
    for (const g of this.gauges) {
      const lines = [`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`];
      for (const { labels, value } of await g.read()) {
        const k = key(labels);
        lines.push(`${g.name}${k ? `{${k}}` : ""} ${value}`);
      }
      parts.push(lines.join("\n"));
    }
    return parts.join("\n") + "\n";
  }
}
