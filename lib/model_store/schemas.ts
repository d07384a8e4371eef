// Request and response shapes for /v1/models (zod v4; `.meta({id})` makes each one a named
// component in the OpenAPI document). The model's shape itself is lib/model/schemas.ts.
import { z } from "zod";
import { parameterCount } from "../model/config.ts";
import { ModelConfig, Precision } from "../model/schemas.ts";
import { pageSchema } from "../store/schemas.ts";

/**
 * Most parameters a model may have: 2^28 floats is 1 GiB of fp32 weights (a safetensors file
 * of about the same size). The engine's fit check (GPU memory) is usually the tighter bound.
 */
export const MAX_MODEL_PARAMETERS = 2 ** 28;

const EXAMPLE_CONFIG = { vocabSize: 2048, seqLen: 64, layers: 2, dModel: 64, heads: 4 };
const EXAMPLE_PARAMETERS = parameterCount(EXAMPLE_CONFIG);

const Seed = z.number().int().min(0).max(0xffffffff).describe(
  "PRNG seed of the initial weights, an integer in [0, 2^32); the same request gives the " +
    "same weights.",
);

/** Where a model's current weights came from. */
export const ModelOrigin = z.enum(["init", "upload", "run", "copy"]).describe(
  '"init": seeded GPT-2 initialisation; "upload": PUT /v1/models/{id}/weights; ' +
    '"run": written by a training run (see `runId`); "copy": POST /v1/models/{id}/copy ' +
    "(see `copiedFrom`).",
).meta({ id: "ModelOrigin" });
export type ModelOrigin = z.infer<typeof ModelOrigin>;

/** `POST /v1/models`. */
export const ModelCreateRequest = z.object({
  config: ModelConfig,
  precision: Precision.default("fp32"),
  seed: Seed.default(0),
}).superRefine((r, ctx) => {
  const n = parameterCount(r.config);
  if (n > MAX_MODEL_PARAMETERS) {
    ctx.addIssue({
      code: "custom",
      path: ["config"],
      message: `the model has ${n} parameters; at most ${MAX_MODEL_PARAMETERS} are allowed`,
    });
  }
}).meta({
  id: "ModelCreateRequest",
  example: { config: EXAMPLE_CONFIG, precision: "fp32", seed: 0 },
});
export type ModelCreateRequest = z.infer<typeof ModelCreateRequest>;

/** What the store keeps as a model record's body (id and times live on the record). */
export interface ModelBody {
  config: ModelConfig;
  precision: Precision;
  seed: number;
  parameterCount: number;
  createdFrom: ModelOrigin;
  /** Optimizer steps run on the current weights since they were initialised or uploaded. */
  trainedSteps: number;
  /** The run that last wrote the weights (when createdFrom is "run"). */
  runId?: string;
  /** The model the weights were copied from (when createdFrom is "copy"). */
  copiedFrom?: string;
}

/** A model as the API returns it. */
export const Model = z.object({
  id: z.string().describe("mdl_ + 20 base32 characters, sortable by creation time."),
  config: ModelConfig,
  precision: Precision,
  seed: z.number().int().describe("Seed of the initial weights."),
  parameterCount: z.number().int().describe(
    "GPT-2 parameters with tied embeddings: V·d + S·d + L·(12d² + 13d) + 2d.",
  ),
  trainedSteps: z.number().int().min(0).describe(
    "Optimizer steps run on the current weights since they were initialised or uploaded.",
  ),
  createdFrom: ModelOrigin,
  runId: z.string().optional().describe("The training run that last wrote the weights."),
  copiedFrom: z.string().optional().describe("The model these weights were copied from."),
  createdAt: z.string().describe("ISO 8601 creation time."),
  updatedAt: z.string().describe("ISO 8601 time of the last change (weights or record)."),
}).meta({
  id: "Model",
  example: {
    id: "mdl_01jz3k5q7r8s9t0v1w2x",
    config: EXAMPLE_CONFIG,
    precision: "fp32",
    seed: 0,
    parameterCount: EXAMPLE_PARAMETERS,
    trainedSteps: 0,
    createdFrom: "init",
    createdAt: "2025-06-01T12:00:00.000Z",
    updatedAt: "2025-06-01T12:00:00.000Z",
  },
});
export type Model = z.infer<typeof Model>;

/** `GET /v1/models`: a page of models, newest first. */
export const ModelPage = pageSchema(Model, "ModelPage");
export type ModelPage = z.infer<typeof ModelPage>;
