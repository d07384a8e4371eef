// The training loop around a fleet: seeded minibatches per model, the
// learning-rate schedule, and a loss read-back only every `readEvery` steps
// (each GPU->CPU sync costs ~11 ms on llvmpipe).
import type { GptFleet, StepHyper } from "./gpt_fleet.ts";
import { BatchSampler, gatherSequences } from "../lib/training/batches.ts";
import { learningRate, type Schedule } from "../lib/training/schedule.ts";

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

export interface TrainOptions {
  /** Per model: its training sequences, tokens [N_z * S]. */
  datasets: Uint32Array[];
  /** Per model: the seed of its batch order. */
  seeds: number[];
  optimizer: OptimizerSettings;
  schedule: Schedule;
  /** Steps of the schedule (its length) and the step to start from (resume). */
  totalSteps: number;
  startStep?: number;
  /** Train until this step (default totalSteps): lets a caller train in slices. */
  untilStep?: number;
  readEvery: number;
  /** Per model: false freezes it (learning rate 0), e.g. once it has saturated. */
  active?: boolean[];
  onProgress?: (p: TrainProgress) => void | "stop" | Promise<void | "stop">;
}

export async function trainFleet(fleet: GptFleet, o: TrainOptions): Promise<TrainProgress> {
  const K = fleet.K, B = fleet.B, S = fleet.T;
  if (o.datasets.length !== K || o.seeds.length !== K) {
    throw new RangeError(
      `need ${K} datasets and seeds, got ${o.datasets.length}/${o.seeds.length}`,
    );
  }
  const samplers = o.datasets.map((d, z) => {
    if (d.length === 0 || d.length % S !== 0) {
      throw new RangeError(`dataset of model ${z}: ${d.length} tokens is not N x seqLen ${S}`);
    }
    return new BatchSampler(d.length / S, B, o.seeds[z]);
  });
  const start = o.startStep ?? 0;
  // Replay the batch order up to the start step, so a resumed run sees the
  // same batches as an uninterrupted one.
  for (let s = 0; s < start; s++) for (const smp of samplers) smp.next();
  fleet.step = start;
  const until = Math.min(o.untilStep ?? o.totalSteps, o.totalSteps);
  const tokens = new Uint32Array(K * B * S);
  let last: TrainProgress = {
    step: start,
    totalSteps: o.totalSteps,
    loss: new Float32Array(K).fill(NaN),
    tokensPerSecond: 0,
  };
  let t0 = performance.now();
  let stepsSinceRead = 0;
  for (let step = start + 1; step <= until; step++) {
    for (let z = 0; z < K; z++) {
      gatherSequences(o.datasets[z], S, samplers[z].next(), tokens, z * B * S);
    }
    const lr = learningRate(o.schedule, o.optimizer.lr, step, o.totalSteps);
    const hyper: StepHyper[] = Array.from({ length: K }, (_, z) => ({
      ...o.optimizer,
      lr: o.active && !o.active[z] ? 0 : lr,
    }));
    fleet.trainStep(tokens, hyper);
    stepsSinceRead++;
    if (step % o.readEvery === 0 || step === until) {
      const loss = await fleet.meanLoss();
      const now = performance.now();
      last = {
        step,
        totalSteps: o.totalSteps,
        loss,
        tokensPerSecond: (stepsSinceRead * K * B * S) / ((now - t0) / 1000),
      };
      t0 = now;
      stepsSinceRead = 0;
      if ((await o.onProgress?.(last)) === "stop") break;
    }
  }
  return last;
}
