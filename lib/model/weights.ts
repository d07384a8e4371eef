// Model weights <-> safetensors with Hugging Face GPT-2 tensor names, so
// GPT2LMHeadModel loads an export and memcap loads a Hugging Face checkpoint of
// the same shape. Export writes every tensor of tensorLayout as F32 (bf16 and
// bf16-pure models: F32 holding the bf16-rounded values) and no lm_head.weight (GPT-2
// ties it to wte). Import accepts F32/BF16/F16/F64, the names with or without
// the "transformer." prefix, tolerates GPT-2's attn.bias / attn.masked_bias
// buffers and a tied lm_head.weight, and rejects everything else it does not
// expect with an error that names the tensor.
import { bf16Weights, checkModelConfig, parameterCount } from "./config.ts";
import { type ModelConfig, Precision } from "./schemas.ts";
import { tensorLayout } from "./layout.ts";
import { roundToBf16 } from "../bf16.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  float32Bytes,
  type NamedTensor,
  type SafeTensor,
  tensorToFloat32,
} from "../safetensors.ts";

/** Metadata keys memcap writes (all values are strings). */
export const META_FORMAT = "format"; // "pt": transformers refuses safetensors without it
export const META_CONFIG = "memcap.config"; // JSON of the ModelConfig
export const META_PRECISION = "memcap.precision"; // "fp32" | "bf16" | "bf16-pure"
export const META_PARAMETERS = "memcap.parameterCount"; // decimal integer

export class WeightsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WeightsError";
  }
}

function configJson(c: ModelConfig): string {
  // Fixed key order so the metadata (and therefore the file) is deterministic.
  return JSON.stringify({
    vocabSize: c.vocabSize,
    seqLen: c.seqLen,
    layers: c.layers,
    dModel: c.dModel,
    heads: c.heads,
  });
}

/**
 * Serialises one model's flat parameter vector as safetensors. `meta` is merged
 * into `__metadata__`; memcap's own keys (format, config, precision,
 * parameterCount) are written last and win.
 */
export function exportWeights(
  config: ModelConfig,
  params: Float32Array,
  precision: Precision,
  meta: Record<string, string> = {},
): Uint8Array {
  const count = parameterCount(config);
  if (params.length !== count) {
    throw new WeightsError(`params has ${params.length} floats; the model has ${count}`);
  }
  if (!Precision.safeParse(precision).success) {
    throw new WeightsError(`unknown precision ${JSON.stringify(precision)}`);
  }
  let values = params;
  if (bf16Weights(precision)) {
    values = params.slice();
    roundToBf16(values);
  }
  const tensors: NamedTensor[] = tensorLayout(config).map((t) => ({
    name: t.name,
    dtype: "F32",
    shape: t.shape,
    data: float32Bytes(values.subarray(t.offset, t.offset + t.size)),
  }));
  return encodeSafetensors(tensors, {
    ...meta,
    [META_FORMAT]: "pt",
    [META_CONFIG]: configJson(config),
    [META_PRECISION]: precision,
    [META_PARAMETERS]: String(count),
  });
}

export interface ImportOptions {
  /** "bf16" or "bf16-pure": round the imported values to bf16 (what such a model holds). */
  precision?: Precision;
}

export interface ImportedWeights {
  params: Float32Array;
  metadata: Record<string, string>;
}

const FLOAT_DTYPES = new Set(["F32", "BF16", "F16", "F64"]);

function floats(name: string, t: SafeTensor): Float32Array {
  if (!FLOAT_DTYPES.has(t.dtype)) {
    throw new WeightsError(`tensor "${name}": dtype ${t.dtype} is not supported (use F32 or BF16)`);
  }
  return tensorToFloat32(t);
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Reads safetensors bytes into a flat parameter vector for `config`. Throws
 * (SafetensorsError for a malformed file, WeightsError otherwise) naming the
 * tensor that is missing, misshapen, non-finite or unexpected.
 */
export function importWeights(
  config: ModelConfig,
  bytes: Uint8Array,
  options: ImportOptions = {},
): ImportedWeights {
  const { tensors, metadata } = decodeSafetensors(bytes);
  const specs = tensorLayout(config);
  // Hugging Face GPT2LMHeadModel files use "transformer.*"; GPT2Model files
  // (e.g. the original gpt2 checkpoint) drop the prefix.
  const prefix = !tensors.has("transformer.wte.weight") && tensors.has("wte.weight")
    ? ""
    : "transformer.";
  const fileName = (hfName: string) => prefix + hfName.slice("transformer.".length);

  const params = new Float32Array(parameterCount(config));
  const used = new Set<string>();
  for (const spec of specs) {
    const name = fileName(spec.name);
    const t = tensors.get(name);
    if (!t) throw new WeightsError(`tensor "${name}" is missing`);
    if (!sameShape(t.shape, spec.shape)) {
      throw new WeightsError(
        `tensor "${name}" has shape ${JSON.stringify(t.shape)}; ` +
          `the model needs ${JSON.stringify(spec.shape)}`,
      );
    }
    const v = floats(name, t);
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i])) {
        throw new WeightsError(`tensor "${name}" holds a non-finite value (${v[i]}) at ${i}`);
      }
    }
    params.set(v, spec.offset);
    used.add(name);
  }

  const wte = specs[0];
  const unexpected: string[] = [];
  for (const [name, t] of tensors) {
    if (used.has(name)) continue;
    if (name === "lm_head.weight") {
      if (!sameShape(t.shape, wte.shape)) {
        throw new WeightsError(
          `tensor "lm_head.weight" has shape ${JSON.stringify(t.shape)}; ` +
            `it must equal ${fileName(wte.name)} ${JSON.stringify(wte.shape)}`,
        );
      }
      const head = floats(name, t);
      const emb = params.subarray(wte.offset, wte.offset + wte.size);
      for (let i = 0; i < head.length; i++) {
        if (head[i] !== emb[i]) {
          throw new WeightsError(
            `tensor "lm_head.weight" differs from "${fileName(wte.name)}" at ${i}; ` +
              `memcap models tie the output head to the token embedding`,
          );
        }
      }
      continue;
    }
    const m = /^(?:transformer\.)?h\.(\d+)\.attn\.(?:bias|masked_bias)$/.exec(name);
    if (m && Number(m[1]) < config.layers) continue; // GPT-2's causal-mask buffers
    unexpected.push(name);
  }
  if (unexpected.length > 0) {
    const shown = unexpected.slice(0, 5).map((n) => `"${n}"`).join(", ");
    const more = unexpected.length > 5 ? ` and ${unexpected.length - 5} more` : "";
    throw new WeightsError(`unexpected tensor${unexpected.length > 1 ? "s" : ""} ${shown}${more}`);
  }
  if (options.precision !== undefined && bf16Weights(options.precision)) roundToBf16(params);
  return { params, metadata };
}

/** The ModelConfig written by exportWeights, or null when the metadata has none. */
export function configFromMetadata(meta: Record<string, string>): ModelConfig | null {
  const raw = meta[META_CONFIG];
  if (raw === undefined) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new WeightsError(`metadata "${META_CONFIG}" is not JSON`);
  }
  try {
    return checkModelConfig(parsed);
  } catch (e) {
    throw new WeightsError(`metadata "${META_CONFIG}": ${(e as Error).message}`);
  }
}

/** The precision written by exportWeights, or null when absent or unknown. */
export function precisionFromMetadata(meta: Record<string, string>): Precision | null {
  const p = Precision.safeParse(meta[META_PRECISION]);
  return p.success ? p.data : null;
}
