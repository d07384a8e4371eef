// Wiring only: configuration from the environment, the parts the app needs, and the server.

import { getGpu } from "./gpu/device.ts";
import { createApp } from "./routes/app.ts";
import { loadConfig } from "./lib/config.ts";
import type { GpuProvider } from "./lib/http/deps.ts";
import { VERSION } from "./lib/version.ts";

const config = loadConfig();
await Deno.mkdir(config.dataDir, { recursive: true });

const gpu: GpuProvider = async () => (await getGpu()).info;

const app = createApp({ gpu, token: config.token, maxBodyBytes: config.maxBodyBytes });

const server = Deno.serve({
  hostname: config.host,
  port: config.port,
  onListen: ({ hostname, port }) => {
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    console.log(`memcap ${VERSION} listening on http://${host}:${port}`);
    console.log(`data: ${config.dataDir}; auth: ${config.token ? "bearer token" : "none"}`);
  },
}, app.fetch);

// Report the adapter without holding up the listener (the first request may take a moment).
gpu().then(
  (g) => console.log(`gpu: ${g.description} (${g.backend}${g.software ? ", software" : ""})`),
  (err) => console.warn(`gpu: unavailable: ${err instanceof Error ? err.message : err}`),
);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: shutting down`);
  await server.shutdown();
  Deno.exit(0);
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => void shutdown(signal));
}
await server.finished;
