// The compute engine: answers likelihood and greedy-decoding requests and runs the GPU jobs
// (training runs, capacity sweeps) that the job queue hands it. Routes reach
// it only through the Engine interface (lib/engine_interface.ts).
import type { Gpu } from "./device.ts";
import { GptFleet } from "./fleet/gpt_fleet.ts";
import { sequenceNll } from "./likelihood.ts";
import { greedyDecode } from "./greedy_decode.ts";
import { checkFleetFitsOn } from "./memory_plan.ts";
import type {
  Engine,
  FitQuery,
  GreedyDecodeRequest,
  GreedyDecodeResult,
  JobHost,
  JobKind,
  LikelihoodRequest,
  LikelihoodResult,
} from "../lib/engine_interface.ts";
import { trainRunJob } from "./jobs/train_run.ts";
import { capacityFleetJob } from "./jobs/capacity_fleet.ts";
import type { GpuSummary } from "../lib/http/deps.ts";
import type { ModelConfig } from "../lib/model/schemas.ts";

export interface EngineOptions {
  /** Cap on one fleet's GPU memory (bytes); default: only the adapter's buffer limits. */
  memoryBudgetBytes?: number;
  /** Training seconds between a capacity sweep's fleet checkpoints (default 120). */
  sweepCheckpointSeconds?: number;
}

/** Sequences per likelihood batch: keeps the logits buffer near 64 MiB. */
export function evalBatchSize(config: ModelConfig, sequences: number): number {
  const perSequence = config.seqLen * config.vocabSize;
  return Math.max(1, Math.min(sequences, 256, Math.floor((16 << 20) / perSequence)));
}

export class GpuEngine implements Engine {
  constructor(readonly open: () => Promise<Gpu>, readonly options: EngineOptions = {}) {}

  async gpu(): Promise<GpuSummary> {
    const { info } = await this.open();
    return info;
  }

  async checkFits(q: FitQuery): Promise<void> {
    const { info } = await this.open();
    checkFleetFitsOn(info, q, this.options.memoryBudgetBytes);
  }

  async likelihood(req: LikelihoodRequest, signal?: AbortSignal): Promise<LikelihoodResult> {
    signal?.throwIfAborted();
    return await this.withEvalFleet(
      req,
      (fleet) => sequenceNll(fleet, req.tokens, req.perToken ?? false, signal),
    );
  }

  async greedyDecode(req: GreedyDecodeRequest, signal?: AbortSignal): Promise<GreedyDecodeResult> {
    signal?.throwIfAborted();
    return await this.withEvalFleet(req, async (fleet) => ({
      sequences: await greedyDecode(fleet, req.tokens, req.prefixLengths, signal),
    }));
  }

  /** A forward-only fleet of one model holding req.params, sized for req.tokens. */
  private async withEvalFleet<T>(
    req: Pick<LikelihoodRequest, "config" | "precision" | "params" | "tokens">,
    work: (fleet: GptFleet) => Promise<T>,
  ): Promise<T> {
    const n = req.tokens.length / req.config.seqLen;
    const fleet = await GptFleet.create(await this.open(), {
      config: req.config,
      fleetSize: 1,
      batchSize: evalBatchSize(req.config, n),
      precision: req.precision,
      optimizer: "adamw",
      training: false,
      memoryBudgetBytes: this.options.memoryBudgetBytes,
    });
    try {
      fleet.setParameters(0, req.params);
      return await work(fleet);
    } finally {
      fleet.destroy();
    }
  }

  runJob(kind: JobKind, host: JobHost): Promise<unknown> {
    switch (kind) {
      case "train":
        return trainRunJob(this, host as Parameters<typeof trainRunJob>[1]);
      case "capacity-fleet":
        return capacityFleetJob(this, host as Parameters<typeof capacityFleetJob>[1]);
    }
  }
}
