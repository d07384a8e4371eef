// Service configuration from the environment, validated with zod so that a bad value stops
// the process at start with a message naming the variable.

import { z } from "zod";

const emptyToUndefined = (v: unknown) => (v === "" ? undefined : v);

export const ConfigEnv = z.object({
  PORT: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(65535).default(8787))
    .meta({ description: "Listen port (0 picks a free one)." }),
  HOST: z.preprocess(emptyToUndefined, z.string().min(1).default("127.0.0.1"))
    .meta({ description: "Listen address." }),
  MEMCAP_DATA: z.preprocess(emptyToUndefined, z.string().min(1).default("./data"))
    .meta({ description: "Store and artifacts folder." }),
  MEMCAP_TOKEN: z.preprocess(emptyToUndefined, z.string().min(1).optional())
    .meta({ description: "Bearer token required on /v1/* (except health) when set." }),
  MEMCAP_MAX_BODY_MB: z.preprocess(emptyToUndefined, z.coerce.number().positive().default(64))
    .meta({ description: "Default request body limit in MiB." }),
});

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  token?: string;
  maxBodyBytes: number;
}

/** Parses the environment; throws an Error naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined> = Deno.env.toObject()): Config {
  const r = ConfigEnv.safeParse(env);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new Error(`Bad configuration: ${lines.join("; ")}`);
  }
  const e = r.data;
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir: e.MEMCAP_DATA,
    token: e.MEMCAP_TOKEN,
    maxBodyBytes: Math.floor(e.MEMCAP_MAX_BODY_MB * 1024 * 1024),
  };
}
