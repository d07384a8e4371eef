// The training loop around a fleet: seeded minibatches per model, the
// learning-rate schedule, and a loss read-back only every `readEvery` steps
// (a GPU->CPU sync is expensive on llvmpipe; docs/performance.md, "Notes
// from source comments", host syncs).
import { setImmediate } from "node:timers";
import type { GptFleet, StepHyper } from "./fleet/gpt_fleet.ts";
import { BatchSampler, gatherSequences } from "../lib/training/batches.ts";
import { learningRate } from "../lib/training/schedule.ts";
import type { Schedule } from "../lib/training/schemas.ts";

export interface OptimizerSettings {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export interface TrainProgress {
  /** Steps done so far (of totalSteps). */
  step: number;
  totalSteps: number;
  /** Mean token loss (nats) of each model at this step. */
  loss: Float32Array;
  /** Training tokens per second over the last read interval, whole fleet. */
  tokensPerSecond: number;
}

/** What a read callback may answer: "stop" ends training after this step. */
export type OnRead = (p: TrainProgress) => void | "stop" | Promise<void | "stop">;

/** One model's training data: its sequences and the sampler of its batch order. */
export interface ModelData {
  /** tokens [N * S]. */
  tokens: Uint32Array;
  sampler: BatchSampler;
}

/** A sampler positioned as if `steps` batches had been drawn (for resuming). */
export function samplerAt(count: number, batch: number, seed: number, steps: number) {
  const s = new BatchSampler(count, batch, seed);
  for (let i = 0; i < steps; i++) s.next();
  return s;
}

/**
 * The sampler a resumed model continues with: the state its checkpoint kept, or, for
 * checkpoints made before samplers were saved (and for a fresh start, steps = 0), its seed
 * replayed to `steps`.
 */
export function resumedSampler(
  count: number,
  batch: number,
  seed: number,
  steps: number,
  state?: Uint32Array,
): BatchSampler {
  return state ? BatchSampler.fromState(count, batch, state) : samplerAt(count, batch, seed, steps);
}

/**
 * Trains every model of a fleet on its own data: one call moves from the
 * fleet's current step to `untilStep`. The samplers live in `data`, so a
 * caller can train in slices, or move some models to a smaller fleet, and
 * every model still sees the batches an uninterrupted run would.
 */
export async function trainSteps(fleet: GptFleet, o: {
  data: ModelData[];
  optimizer: OptimizerSettings;
  schedule: Schedule;
  /** Steps of the schedule (its length). */
  totalSteps: number;
  untilStep: number;
  readEvery: number;
  /** Per model: false freezes it (learning rate 0). */
  active?: boolean[];
  onRead?: OnRead;
}): Promise<TrainProgress> {
  const K = fleet.K, B = fleet.B, S = fleet.T;
  if (o.data.length !== K) throw new RangeError(`need ${K} model datasets, got ${o.data.length}`);
  o.data.forEach((d, z) => {
    if (d.tokens.length === 0 || d.tokens.length % S !== 0) {
      throw new RangeError(`dataset of model ${z}: ${d.tokens.length} tokens is not N x ${S}`);
    }
  });
  const until = Math.min(o.untilStep, o.totalSteps);
  const tokens = new Uint32Array(K * B * S);
  let last: TrainProgress = {
    step: fleet.step,
    totalSteps: o.totalSteps,
    loss: new Float32Array(K).fill(NaN),
    tokensPerSecond: 0,
  };
  let t0 = performance.now();
  let sinceRead = 0;
  let lastYield = performance.now();
  while (fleet.step < until) {
    // Let other requests to this engine (a likelihood call) in between
    // steps. setImmediate turns the event loop in microseconds;
    // setTimeout(r, 0) took milliseconds, a sizeable share of a small step
    // (docs/performance.md, "What a lane's weights cost" (7), and "Notes from
    // source comments", the trainer's yield).
    if (performance.now() - lastYield > 20) {
      await new Promise((r) => setImmediate(r));
      lastYield = performance.now();
    }
    const step = fleet.step + 1;
    for (let z = 0; z < K; z++) {
      gatherSequences(o.data[z].tokens, S, o.data[z].sampler.next(), tokens, z * B * S);
    }
    const lr = learningRate(o.schedule, o.optimizer.lr, step, o.totalSteps);
    const hyper: StepHyper[] = Array.from({ length: K }, (_, z) => ({
      ...o.optimizer,
      lr: o.active && !o.active[z] ? 0 : lr,
    }));
    fleet.trainStep(tokens, hyper);
    sinceRead++;
    if (step % o.readEvery === 0 || step === until) {
      const loss = await fleet.meanLoss();
      const now = performance.now();
      last = {
        step,
        totalSteps: o.totalSteps,
        loss,
        tokensPerSecond: (sinceRead * K * B * S) / ((now - t0) / 1000),
      };
      t0 = now;
      sinceRead = 0;
      if ((await o.onRead?.(last)) === "stop") break;
    }
  }
  return last;
}

/**
 * A whole run for a fleet from `startStep` to totalSteps. Each model's batch order comes from
 * `samplers` when given (restored from a checkpoint, or kept by the caller to checkpoint it),
 * else from its seed, replayed to startStep.
 */
export function trainFleet(fleet: GptFleet, o: {
  datasets: Uint32Array[];
  seeds: number[];
  samplers?: BatchSampler[];
  optimizer: OptimizerSettings;
  schedule: Schedule;
  totalSteps: number;
  startStep?: number;
  readEvery: number;
  active?: boolean[];
  onProgress?: OnRead;
}): Promise<TrainProgress> {
  if (o.seeds.length !== o.datasets.length) {
    throw new RangeError(`${o.datasets.length} datasets but ${o.seeds.length} seeds`);
  }
  const start = o.startStep ?? 0;
  fleet.step = start;
  const data = o.datasets.map((tokens, z) => ({
    tokens,
    sampler: o.samplers?.[z] ?? samplerAt(tokens.length / fleet.T, fleet.B, o.seeds[z], start),
  }));
  return trainSteps(fleet, { ...o, data, untilStep: o.totalSteps, onRead: o.onProgress });
}
