// What the routes and job handlers ask of the compute engine, as plain data,
// so the engine can live in this process or behind a process boundary. The
// implementation is gpu/engine.ts.
import type { ModelConfig, Precision } from "./model/config.ts";
import type { GpuSummary } from "./http/deps.ts";

export interface LikelihoodRequest {
  config: ModelConfig;
  precision: Precision;
  /** Parameters in the logical layout (lib/model/layout.ts). */
  params: Float32Array;
  /** N sequences of config.seqLen tokens, row-major. */
  tokens: Uint32Array;
  perToken?: boolean;
}

export interface LikelihoodResult {
  /** Per sequence: NLL in bits of tokens 2..S given their prefixes. */
  bits: Float64Array;
  /** Per token, [N, S-1] in bits, when asked. */
  tokenBits?: Float32Array;
}

export interface FitQuery {
  config: ModelConfig;
  fleetSize: number;
  batchSize: number;
  training: boolean;
}

export interface Engine {
  gpu(): Promise<GpuSummary>;
  /** Throws a RangeError naming the buffer and the limit when the shape cannot fit. */
  checkFits(q: FitQuery): Promise<void>;
  likelihood(req: LikelihoodRequest): Promise<LikelihoodResult>;
}
