// A test-only router with a JSON body, query and path parameters, used to exercise the
// validation and error paths through the real app (createApp's `routers` option).

import { z } from "zod";
import { ApiRouter, defineRoute } from "../../lib/http/route.ts";
import type { AppDeps } from "../../lib/http/deps.ts";
import type { Engine } from "../../lib/engine_interface.ts";
import { createApp } from "../../routes/app.ts";

export const ProbeConfig = z.object({
  vocabSize: z.number().int().min(2),
  heads: z.number().int().min(1).default(4),
}).meta({ id: "ProbeConfig" });

export const ProbeCreate = z.object({
  config: ProbeConfig,
  sequences: z.array(z.array(z.number().int().min(0))).optional(),
}).meta({ id: "ProbeCreate", example: { config: { vocabSize: 2048, heads: 4 } } });

export const ProbeThing = z.object({ id: z.string(), config: ProbeConfig }).meta({
  id: "ProbeThing",
});

export const createProbe = defineRoute({
  method: "post",
  path: "/v1/probes",
  summary: "Create a probe (test only)",
  tags: ["probes"],
  body: ProbeCreate,
  maxBodyBytes: 1024,
  responses: { 201: { schema: ProbeThing, description: "Created" } },
});

export const listProbeItems = defineRoute({
  method: "get",
  path: "/v1/probes/:id/items",
  summary: "List a probe's items (test only)",
  tags: ["probes"],
  params: z.object({ id: z.string().min(3) }),
  query: z.object({
    limit: z.coerce.number().int().min(1).max(100).default(10),
    tag: z.array(z.string()).optional(),
  }),
  responses: {
    200: {
      schema: z.object({ id: z.string(), limit: z.number(), tag: z.array(z.string()) }),
      description: "Items",
    },
  },
});

export const boom = defineRoute({
  method: "get",
  path: "/v1/probes/boom",
  summary: "Always fails (test only)",
  tags: ["probes"],
  responses: { 200: { description: "Never" } },
});

export const echo = defineRoute({
  method: "post",
  path: "/v1/probes/echo",
  summary: "Echo a text (test only)",
  tags: ["probes"],
  body: z.object({ text: z.string() }),
  responses: { 200: { schema: z.object({ text: z.string() }), description: "The same" } },
});

export function probeRouter(): ApiRouter {
  return new ApiRouter()
    .add(createProbe, (c, { body }) => c.json({ id: "p1", config: body.config }, 201))
    .add(echo, (c, { body }) => c.json({ text: body.text }))
    .add(boom, () => {
      throw new Error("secret internal detail");
    })
    .add(
      listProbeItems,
      (c, { params, query }) => c.json({ id: params.id, limit: query.limit, tag: query.tag ?? [] }),
    );
}

export const fakeGpu: AppDeps["gpu"] = () =>
  Promise.resolve({
    backend: "vulkan",
    description: "Fake GPU",
    software: false,
    limits: { maxBufferSize: 1 << 30 },
  });

/** The real app plus the probe router, with a fake GPU and a silent error log. */
/** An engine for tests that only queue work: every shape fits, and nothing ever runs. */
export const queueOnlyEngine: Engine = {
  gpu: fakeGpu,
  checkFits: () => Promise.resolve(),
  likelihood: () => Promise.reject(new Error("not in these tests")),
  greedyDecode: () => Promise.reject(new Error("not in these tests")),
  runJob: () => Promise.reject(new Error("not in these tests")),
};

/** An engine whose NLL of a sequence is the sum of its tokens: known numbers without a GPU. */
export const tokenSumEngine: Engine = {
  gpu: fakeGpu,
  checkFits: () => Promise.resolve(),
  likelihood: (req) => {
    const S = req.config.seqLen, n = req.tokens.length / S;
    const bits = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      for (let t = 0; t < S; t++) bits[i] += req.tokens[i * S + t];
    }
    return Promise.resolve({ bits });
  },
  greedyDecode: () => Promise.reject(new Error("no decoding here")),
  runJob: () => Promise.reject(new Error("no jobs here")),
};

export function probeApp(deps: Partial<AppDeps> = {}) {
  const logged: unknown[] = [];
  const app = createApp(
    { gpu: fakeGpu, log: (_m, err) => logged.push(err), ...deps },
    { routers: [probeRouter()] },
  );
  return { app, logged };
}
