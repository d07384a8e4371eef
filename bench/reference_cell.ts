// `deno task bench reference-cell`: the reference study's paper-scale cell
// (experiments/studies/reference.ts: Table 1's 1-layer d=32 model at V=2048,
// S=64, N = 1,000 and 2,000, AdamW lr 3e-3, batch 512, cosine restarts with
// cycle ends at 625·2^k) trained for a fixed budget by the capacity job itself
// (one fleet, in this process), and the same recipe in PyTorch
// (bench/pytorch_gpt.py --mode capacity) at the same time: memorized bits at
// every cycle end on both sides, each side's best against the paper's
// 3.39e5 bits. For a GPU server (one lease, under 10 minutes on an H100 by
// the grid's measured speed); MEMCAP_CELL_SCALE=cpu runs the cpu reference's
// 1-layer d=32 shape instead, for a dry run here.
//   MEMCAP_CELL_STEPS   training steps (default 40000; a budget between two
//                       cycle ends is cut back to the last whole cycle)
import { describeAdapter, getGpu } from "../gpu/device.ts";
import { GpuEngine } from "../gpu/engine.ts";
import { capacitySweepJob } from "../gpu/jobs/capacity_sweep.ts";
import { memoryJobHost } from "../lib/jobs/memory_host.ts";
import { CapacityCreateRequest, type SweepProgress } from "../lib/capacity/schemas.ts";
import { AGREEMENT, references, shapeOf, training } from "../experiments/studies/reference.ts";
import { runTorch, torchAvailable, torchDevice, torchShapeArgs } from "./peers.ts";

/** A side agrees with the paper's cell (3.39e5 bits) at 3.0e5 bits (issue 21). */
const PAPER_AGREEMENT_BITS = 3.0e5;

export async function referenceCellBench() {
  const scale = Deno.env.get("MEMCAP_CELL_SCALE") === "cpu" ? "cpu" : "paper";
  const steps = Number(Deno.env.get("MEMCAP_CELL_STEPS") ?? 40000);
  if (!(Number.isInteger(steps) && steps >= 625)) {
    throw new RangeError(`MEMCAP_CELL_STEPS: ${steps} is not an integer ≥ 625`);
  }
  const ref = references(scale).find((r) => r.label === "L1 d32")!;
  const config = shapeOf(scale, ref);
  // The paper cell's two sizes; at cpu scale the reference's two smallest.
  const sizes = ref.datasetSizes.slice(0, 2);
  const t = training(scale, steps);
  console.log(`adapter: ${describeAdapter((await getGpu()).info)}`);
  console.log(
    `cell: ${ref.label} (V=${config.vocabSize}, S=${config.seqLen}, ${config.heads} heads), ` +
      `N = ${sizes.join(", ")}, AdamW lr ${t.optimizer.lr}, batch ${t.batchSize}, ` +
      `${steps} steps, cycle ends ${t.schedule.firstCycleSteps}·2^k; reference ${ref.bits} bits ` +
      `(${ref.source})`,
  );
  const input = CapacityCreateRequest.parse({
    config,
    datasetSizes: sizes,
    seeds: [0],
    maxFleetSize: sizes.length,
    maxExtraSizes: 0,
    // Every size trains the whole budget, as the PyTorch side does.
    training: { ...t, saturation: { fraction: 1e-9, minSteps: steps + 1 } },
  });
  // PyTorch trains at the same time (one lease holds both; the bench compares bits, not speed).
  const torchRun = (await torchAvailable())
    ? runTorch([
      "--mode=capacity",
      ...torchShapeArgs(config),
      `--batch=${t.batchSize}`,
      `--steps=${steps}`,
      `--sizes=${sizes.join(",")}`,
      `--lr=${t.optimizer.lr}`,
      `--warmup-steps=${t.schedule.warmupSteps}`,
      `--first-cycle=${t.schedule.firstCycleSteps}`,
      `--restart-warmup-fraction=${t.schedule.restartWarmupFraction}`,
      "--threads=2",
    ]) as Promise<{
      seconds: number;
      runs: {
        size: number;
        best_bits: number;
        best_step: number;
        unseen_bits: number;
        curve: [number, number][];
        net_curve: [number, number][];
      }[];
    }>
    : null;
  const t0 = performance.now();
  const sweep = await capacitySweepJob(
    new GpuEngine(getGpu),
    memoryJobHost<CapacityCreateRequest, SweepProgress>(input),
  );
  const seconds = (performance.now() - t0) / 1000;
  const memcap = new Map(sweep.runs.map((r) => [r.datasetSize, r.memorizedBits]));
  for (const r of sweep.runs) {
    console.log(
      `memcap cell N=${r.datasetSize}: ${r.memorizedBits.toFixed(0)} bits (best, step ` +
        `${r.certificate.bestStep}), unseen ${r.unseenBits?.toFixed(0) ?? "–"}, clip credit ` +
        `${r.clipCreditBits?.toFixed(0) ?? "–"}; curve ` +
        r.curve.map((p) => `${p.step}:${p.bits.toFixed(0)}`).join(" "),
    );
  }
  console.log(`memcap cell: ${seconds.toFixed(1)} s`);
  // The cpu reference is a PyTorch figure: the reference study's own threshold.
  const least = scale === "paper" ? PAPER_AGREEMENT_BITS : AGREEMENT * ref.bits;
  const agree = (bits: number[]) => bits.every((b) => b >= least) ? "agrees" : "does not agree";
  console.log(`memcap cell vs reference: ${agree([...memcap.values()])}`);
  if (!torchRun) {
    console.log("pytorch cell: skipped (apt-get install python3-torch)");
    return;
  }
  const torch = await torchRun;
  for (const r of torch.runs) {
    // memcap's clipCreditBits is of the last measurement: the same from PyTorch's curves.
    const clip = r.curve.at(-1)![1] - r.net_curve.at(-1)![1];
    console.log(
      `pytorch cell N=${r.size}: ${r.best_bits.toFixed(0)} bits (best, step ${r.best_step}), ` +
        `unseen ${r.unseen_bits.toFixed(0)}, clip credit ${clip.toFixed(0)}; curve ` +
        r.curve.map(([s, b]) => `${s}:${b.toFixed(0)}`).join(" "),
    );
  }
  console.log(`pytorch cell: ${torch.seconds.toFixed(1)} s on ${torchDevice()}`);
  console.log(`pytorch cell vs reference: ${agree(torch.runs.map((r) => r.best_bits))}`);
  for (const r of torch.runs) {
    const m = memcap.get(r.size);
    if (m !== undefined) console.log(`ratio cell N=${r.size}: ${(m / r.best_bits).toFixed(3)}`);
  }
}
