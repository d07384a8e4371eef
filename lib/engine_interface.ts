// What the routes and job handlers ask of the compute engine, as plain data,
// so the engine can live in this process or behind a process boundary. The
// implementation is gpu/engine.ts.
import type { ModelConfig, Precision } from "./model/schemas.ts";
import type { GpuSummary } from "./http/deps.ts";
import type { Dataset as TokenData } from "./datasets/codec.ts";
import type { Model } from "./model_store/schemas.ts";
import type { ModelWeightsPatch } from "./model_store/models.ts";

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

export interface GreedyDecodeRequest {
  config: ModelConfig;
  precision: Precision;
  /** Parameters in the logical layout (lib/model/layout.ts). */
  params: Float32Array;
  /** N sequences of config.seqLen tokens, row-major; only each prefix is read. */
  tokens: Uint32Array;
  /** Each p in 1..S-1: tokens 1..p are given, p+1..S decoded. */
  prefixLengths: number[];
}

export interface GreedyDecodeResult {
  /**
   * One per prefix length, in request order: [N, S] with tokens 1..p copied
   * from the input and p+1..S decoded greedily (argmax, ties to the lowest id).
   */
  sequences: Uint32Array[];
}

export interface FitQuery {
  config: ModelConfig;
  fleetSize: number;
  batchSize: number;
  training: boolean;
  /** Default "fp32"; a "bf16" training fleet also holds f32 master weights. */
  precision?: Precision;
}

export interface Engine {
  gpu(): Promise<GpuSummary>;
  /** Throws a RangeError naming the buffer and the limit when the shape cannot fit. */
  checkFits(q: FitQuery): Promise<void>;
  /**
   * `signal` stops the work between batches (the request timed out or its client left), so an
   * abandoned request does not hold the GPU; the call then rejects with the signal's reason.
   */
  likelihood(req: LikelihoodRequest, signal?: AbortSignal): Promise<LikelihoodResult>;
  /** Greedy continuations of each sequence's prefixes (extraction); `signal` as above. */
  greedyDecode(req: GreedyDecodeRequest, signal?: AbortSignal): Promise<GreedyDecodeResult>;
  /** Runs one GPU job to its result (throws to fail it). */
  runJob(kind: JobKind, host: JobHost): Promise<unknown>;
}

/** The records a job reads and writes, as the engine sees them. */
export interface JobModel {
  model: Model;
  params: Float32Array;
}

/**
 * What a GPU job may do besides computing: report progress, keep
 * checkpoint artifacts, read its model and dataset, write trained weights.
 * In the service this is backed by the store and the job queue; across the
 * engine-process boundary every call is a message to the service.
 */
export interface JobHost<I = unknown, P = unknown> {
  id: string;
  input: I;
  /** An earlier start was interrupted: continue from the checkpoint artifact. */
  resumed: boolean;
  /** Throws when the job was cancelled or the service is stopping. */
  throwIfAborted(): void;
  progress(p: P, opts?: { persist?: boolean }): Promise<void>;
  getArtifact(name: string): Promise<Uint8Array | null>;
  putArtifact(name: string, bytes: Uint8Array): Promise<void>;
  deleteArtifact(name: string): Promise<void>;
  loadModel(id: string): Promise<JobModel | null>;
  loadDataset(id: string): Promise<TokenData | null>;
  saveModelWeights(id: string, params: Float32Array, patch: ModelWeightsPatch): Promise<void>;
}

/** The GPU jobs an engine runs (the job queue's kinds). */
export type JobKind = "train" | "capacity-fleet";
