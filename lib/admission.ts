// Admission control: what a request will cost, estimated from its validated body before any
// work starts, against the budgets of the configuration (lib/service_config.ts). A request over a
// budget is refused with 422 `over_budget`, naming the field to change, the estimate, the
// budget and the variable that sets it. GPU memory is not estimated here: Engine.checkFits
// (gpu/memory_plan.ts, MEMCAP_GPU_MEMORY_MB) answers that, and the routes ask it as before.
//
// The estimates follow what the code really holds at once:
// - A capacity sweep (gpu/jobs/capacity_fleet.ts) generates each model's dataset in the engine
//   process as u32 tokens and keeps it, its batch order and its per-sequence likelihoods for
//   as long as its fleet trains; the fleets run one after another, so the cost is the largest
//   fleet (a dataset added by maxExtraSizes included), plus every seed's held-out set, plus
//   the fleet checkpoint on its way to the store (read back, encoded, framed, received).
// - A run loads its dataset in the service (the file, decoded to u32, framed for the engine)
//   and the engine decodes it again; checkpoints hold the weights, both Adam moments and the
//   batch order.
// - Scoring a stored dataset (likelihood, memorization, membership, extraction) loads it the
//   same way, once.
// - Creating a uniform dataset writes it to its file from a Worker a chunk at a time
//   (lib/datasets/uniform_file.ts), so its host memory is a chunk; its disk is the file.
import { ApiError } from "./http/errors.ts";
import { parameterCount } from "./model/config.ts";
import type { ModelConfig, Precision } from "./model/schemas.ts";
import { extraDatasetSize, fleetsOf, planCapacity } from "./capacity/plan.ts";
import type { CapacityCreateRequest } from "./capacity/schemas.ts";
import type { Schedule } from "./training/schemas.ts";
import { encodedSize, tokenBytesFor } from "./datasets/codec.ts";
import type { DatasetCreateRequest } from "./datasets/schemas.ts";
import { type RunCreateRequest, runSteps } from "./runs/schemas.ts";
import { MAX_TEXT_BYTES } from "./datasets/schemas.ts";

/** What one request may cost; Infinity: no limit. */
export interface Budgets {
  /** MEMCAP_MAX_HOST_MEMORY_MB: service and engine processes together. */
  hostMemoryBytes: number;
  /** MEMCAP_MAX_JOB_TOKENS: training tokens of one run or sweep, all its models. */
  jobTokens: number;
  /** MEMCAP_MAX_REQUEST_DISK_MB: dataset files, checkpoints, weights. */
  diskBytes: number;
}

export const DEFAULT_BUDGETS: Budgets = {
  hostMemoryBytes: 2048 * 2 ** 20,
  jobTokens: 1e12,
  diskBytes: 8192 * 2 ** 20,
};

type Resource = "hostMemory" | "tokens" | "disk";

const VARIABLE: Record<Resource, string> = {
  hostMemory: "MEMCAP_MAX_HOST_MEMORY_MB",
  tokens: "MEMCAP_MAX_JOB_TOKENS",
  disk: "MEMCAP_MAX_REQUEST_DISK_MB",
};

const BUDGET: Record<Resource, keyof Budgets> = {
  hostMemory: "hostMemoryBytes",
  tokens: "jobTokens",
  disk: "diskBytes",
};

/** One resource's estimate, and the field to blame (and why) should it be over budget. */
export interface CostItem {
  amount: number;
  field: string;
  /** What makes the cost, e.g. "4 models side by side, each on 16777216 sequences of 16 tokens". */
  why: string;
  /** Extra details for the error (largestFleetSize, ...). */
  details?: Record<string, unknown>;
}

export type Cost = Partial<Record<Resource, CostItem>>;

/** 1.5 GiB, 12.0 MiB, 512 B. */
export function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${Math.round(n)} B`;
}

function formatAmount(r: Resource, n: number): string {
  return r === "tokens" ? `${n.toExponential(3)} tokens` : formatBytes(n);
}

/** The first resource of `cost` over its budget, or null when everything fits. */
export function overBudget(
  cost: Cost,
  budgets: Budgets,
): { resource: Resource; item: CostItem; budget: number } | null {
  for (const resource of ["hostMemory", "tokens", "disk"] as const) {
    const item = cost[resource];
    const budget = budgets[BUDGET[resource]];
    if (item && item.amount > budget) return { resource, item, budget };
  }
  return null;
}

/** Throws a 422 over_budget naming the field, the estimate, the budget and its variable. */
export function admit(cost: Cost, budgets: Budgets = DEFAULT_BUDGETS): void {
  const over = overBudget(cost, budgets);
  if (!over) return;
  const { resource, item, budget } = over;
  const what = resource === "hostMemory"
    ? "host memory"
    : resource === "tokens"
    ? "training tokens"
    : "disk";
  throw new ApiError(
    422,
    "over_budget",
    `${item.field}: this request would take about ${formatAmount(resource, item.amount)} of ` +
      `${what} (${item.why}); the budget is ${formatAmount(resource, budget)} ` +
      `(${VARIABLE[resource]})`,
    {
      field: item.field,
      resource,
      estimate: item.amount,
      budget,
      variable: VARIABLE[resource],
      ...item.details,
    },
  );
}

// ------------------------------------------------------------------- per-item costs

/**
 * Host bytes per sequence a training model keeps beside its tokens: its place in the batch
 * order (u32), its likelihood at each evaluation (f64), and its batch order in a checkpoint
 * (the sampler's state, encoded, sent to the service and received there: 4 × u32).
 */
const PER_SEQUENCE_OVERHEAD = 4 + 8 + 16;

/**
 * Host bytes per parameter a training model costs: its initial parameters (f32), and in a
 * checkpoint its weights and both Adam moments (3 × f32) read back, encoded, framed for the
 * service and received there (4 copies).
 */
const PER_PARAMETER = 4 + 4 * 12;

/** Disk bytes of one model's checkpoint: weights, two Adam moments, the batch order. */
function checkpointBytes(params: number, sequences: number): number {
  return 12 * params + 4 * (sequences + 5);
}

/** The steps a sweep's first pass trains each model (the last evaluation step). */
export function sweepBaseSteps(t: { schedule: Schedule; maxSteps: number }): number {
  if (t.schedule.kind !== "cosine-restarts") return t.maxSteps;
  let end = t.schedule.firstCycleSteps;
  while (end * 2 <= t.maxSteps) end *= 2;
  return end;
}

/** POST /v1/capacity. */
export function capacityCost(
  req: CapacityCreateRequest,
  budgets: Budgets = DEFAULT_BUDGETS,
): Cost {
  const plan = planCapacity(req);
  const c = req.config, t = req.training;
  const S = c.seqLen;
  const P = parameterCount(c);
  const seeds = plan.seeds.length;
  const tokensPerStep = t.batchSize * S;
  const baseSteps = sweepBaseSteps(t);

  // The dataset sizes the sweep may add on its own, as it would add them.
  const sizes = [...plan.datasetSizes];
  const extras: number[] = [];
  for (let i = 0; i < req.maxExtraSizes; i++) {
    const e = extraDatasetSize(sizes, seeds, c);
    if (e.size === null) break;
    sizes.push(e.size);
    extras.push(e.size);
  }
  const model = (n: number) => n * (4 * S + PER_SEQUENCE_OVERHEAD) + P * PER_PARAMETER;
  const testSets = seeds * req.testSequences * (4 * S + 8);
  /** Host bytes of the largest fleet when fleets hold at most `k` models. */
  const hostAt = (k: number, withExtras: boolean) => {
    const groups = [
      plan.runs,
      ...(withExtras ? extras : []).map((n) =>
        plan.seeds.map((seed) => ({ datasetSize: n, seed }))
      ),
    ];
    let most = 0;
    for (const g of groups) {
      for (const f of fleetsOf(g, k)) {
        most = Math.max(most, f.reduce((s, r) => s + model(r.datasetSize), 0));
      }
    }
    return testSets + most;
  };
  const largest = Math.max(...plan.datasetSizes);
  const largestEver = Math.max(...sizes);
  const k = req.maxFleetSize;
  const host = hostAt(k, true);
  const B = budgets.hostMemoryBytes;
  const dataset = (n: number) => `${n} sequences of ${S} tokens`;
  let hostItem: CostItem;
  if (model(0) > B) {
    hostItem = {
      amount: host,
      field: "body.config",
      why: `one model of ${P} parameters alone (weights, gradients, Adam state) holds more`,
    };
  } else if (testSets + model(largest) > B) {
    hostItem = {
      amount: host,
      field: "body.datasetSizes",
      why: `one model alone on ${dataset(largest)} holds it all in memory while it trains`,
    };
  } else if (hostAt(1, true) > B) {
    hostItem = {
      amount: host,
      field: "body.maxExtraSizes",
      why: `the sweep may add datasets of up to ${dataset(largestEver)} (maxExtraSizes ` +
        `${req.maxExtraSizes}), which one model alone cannot hold`,
    };
  } else {
    // Fleets are too large: the largest fleet size that fits, by binary search (memory grows
    // with the fleet).
    let lo = 1, hi = k;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (hostAt(mid, true) > B) hi = mid - 1;
      else lo = mid;
    }
    hostItem = {
      amount: host,
      field: seeds > 1 && seeds <= k ? "body.seeds" : "body.maxFleetSize",
      why: `${Math.min(k, plan.runs.length)} models trained side by side (${seeds} ` +
        `seed${seeds > 1 ? "s" : ""} per size, maxFleetSize ${k}), each holding its dataset ` +
        `of up to ${dataset(largestEver)}; fleets of ${lo} fit: use fewer seeds or ` +
        `maxFleetSize ${lo}`,
      details: { largestFleetSize: lo },
    };
  }

  const firstPass = (plan.runs.length + extras.length * seeds) * baseSteps * tokensPerStep;
  let tokens = firstPass;
  let tokensField = "body.training.maxSteps";
  let tokensWhy = `${plan.runs.length + extras.length * seeds} models × ${baseSteps} steps × ` +
    `batchSize ${t.batchSize} × seqLen ${S}`;
  if (req.until === "certified") {
    const budget = req.tokenBudget ?? 4 * plan.runs.length * baseSteps * tokensPerStep;
    if (budget > tokens) {
      tokens = budget;
      tokensField = req.tokenBudget !== undefined ? "body.tokenBudget" : "body.until";
      tokensWhy = req.tokenBudget !== undefined
        ? 'until "certified" may train up to its tokenBudget'
        : 'until "certified" may train up to 4× its first pass (set tokenBudget lower)';
    }
  }

  const largestFleet = Math.min(k, Math.max(plan.runs.length, seeds));
  let disk = largestFleet * checkpointBytes(P, largestEver);
  let diskField = "body.maxFleetSize";
  let diskWhy = `a checkpoint of ${largestFleet} models side by side`;
  if (req.until === "certified") {
    // Every unsaturated run keeps its state to go on from.
    const kept = sizes.reduce((s, n) => s + seeds * checkpointBytes(P, n), 0);
    if (kept > disk) {
      diskField = "body.until";
      diskWhy = `until "certified" keeps the state of each of ${sizes.length * seeds} models`;
    }
    disk += kept;
  }
  return {
    hostMemory: hostItem,
    tokens: { amount: tokens, field: tokensField, why: tokensWhy },
    disk: { amount: disk, field: diskField, why: diskWhy },
  };
}

/** The shape of a stored dataset, as its record tells it. */
export interface DatasetShape {
  count: number;
  seqLen: number;
  vocabSize: number;
}

/**
 * Host bytes of a stored dataset loaded for the engine: the file and its u32 decoding in the
 * service, the frame to the engine on both sides, and the engine's own copy.
 */
export function loadedDatasetBytes(ds: DatasetShape): number {
  const n = ds.count * ds.seqLen;
  return n * (tokenBytesFor(ds.vocabSize) + 4 + 4 + 4 + 4);
}

/** POST /v1/runs, given the model and the dataset it names. */
export function runCost(
  req: RunCreateRequest,
  model: { config: ModelConfig; precision: Precision },
  ds: DatasetShape,
): Cost {
  const P = parameterCount(model.config);
  const steps = runSteps(req, ds.count);
  const host = loadedDatasetBytes(ds) + ds.count * PER_SEQUENCE_OVERHEAD + P * PER_PARAMETER;
  const disk = checkpointBytes(P, ds.count) + 4 * P + 4 * P; // + completion record + weights
  return {
    hostMemory: {
      amount: host,
      field: "body.datasetId",
      why: `dataset of ${ds.count} sequences of ${ds.seqLen} tokens, loaded for training`,
    },
    tokens: {
      amount: steps * req.batchSize * ds.seqLen,
      field: req.epochs !== undefined ? "body.epochs" : "body.steps",
      why: `${steps} steps × batchSize ${req.batchSize} × seqLen ${ds.seqLen}`,
    },
    disk: {
      amount: disk,
      field: "body.modelId",
      why: `checkpoints and weights of a model of ${P} parameters`,
    },
  };
}

/** Scoring a stored dataset (likelihood, memorization, membership, extraction). */
export function datasetUseCost(ds: DatasetShape, field: string, perToken = false): Cost {
  const n = ds.count * ds.seqLen;
  // Per-token results: f32 in the engine and the service, then numbers in the JSON answer.
  const results = ds.count * 16 + (perToken ? n * (4 + 4 + 24) : 0);
  return {
    hostMemory: {
      amount: loadedDatasetBytes(ds) + results,
      field,
      why: `dataset of ${ds.count} sequences of ${ds.seqLen} tokens, loaded to be scored` +
        (perToken ? ", with a value per token" : ""),
    },
  };
}

/** Bytes of tokens a uniform dataset is generated and written in at a time (uniform_file.ts). */
const DATASET_CHUNK_BYTES = 4 * 2 ** 20;

/** POST /v1/datasets. */
export function datasetCost(req: DatasetCreateRequest): Cost {
  switch (req.kind) {
    case "uniform": {
      const file = encodedSize(req);
      return {
        // Written to its file a chunk at a time (small ones are made whole, in one piece).
        hostMemory: {
          amount: Math.min(file, DATASET_CHUNK_BYTES),
          field: "body.count",
          why: `${req.count} sequences of ${req.seqLen} tokens, generated in chunks`,
        },
        disk: {
          amount: file,
          field: "body.count",
          why: `${req.count} sequences of ${req.seqLen} tokens at ` +
            `${tokenBytesFor(req.vocabSize)} bytes each`,
        },
      };
    }
    case "tokens": {
      const count = req.sequences.length, seqLen = req.sequences[0]?.length ?? 0;
      const file = encodedSize({ count, seqLen, vocabSize: req.vocabSize });
      return {
        hostMemory: {
          amount: count * seqLen * 4 + file,
          field: "body.sequences",
          why: `${count} sequences of ${seqLen} tokens, checked and encoded`,
        },
        disk: { amount: file, field: "body.sequences", why: `${count} sequences` },
      };
    }
    case "text": {
      // Bounded by the source: the Brown corpus (~6 MB) or at most 8 MiB of text, each token
      // (at least a byte) at most 4 bytes of u32 in the pool, then 2 bytes in the file.
      const sourceBytes = req.text !== undefined ? req.text.length * 3 : MAX_TEXT_BYTES;
      return {
        hostMemory: {
          amount: sourceBytes * 12,
          field: req.text !== undefined ? "body.text" : "body.corpus",
          why: "the text, tokenized, cut into sequences and deduplicated",
        },
        // The sequences taken, or at most the whole source (a token is at least a byte).
        disk: {
          amount: 24 + 4 * (req.count !== undefined ? req.count * req.seqLen : sourceBytes),
          field: "body.count",
          why: "the sequences taken",
        },
      };
    }
  }
}

/** POST /v1/models: initial weights, encoded, written. */
export function modelCost(config: ModelConfig): Cost {
  const P = parameterCount(config);
  return {
    hostMemory: { amount: 8 * P, field: "body.config", why: `${P} parameters, initialised` },
    disk: { amount: 4 * P, field: "body.config", why: `${P} parameters as float32` },
  };
}
