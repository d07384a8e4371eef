// What a training step could reach on this adapter at best: a step's rate
// (model FLOPs per second) cannot exceed that of its fastest kernel. The
// step's model FLOPs are done by its matmuls and, for small models on a CPU
// rasterizer, by the fused row kernels (gpu/row_codegen.ts) and the
// row-split weight gradients (gpu/weight_grad_codegen.ts); the rest
// (attention, layernorm parameter gradients, the embedding and the
// optimizer) do few model FLOPs in the time they take (`deno task bench
// profile`). So the best rate among those kernels, each timed alone,
// bounds what any ratio against a peer could be while the kernels stay as
// they are. fastestMatmul times the matmuls of bench/matmul_bench.ts (the
// reference config's step is all matmuls there); fastestStepKernel times
// the ops of a step as the engine builds it.
import { getGpu } from "../gpu/device.ts";
import { HARDWARE_TUNING, SOFTWARE_TUNING } from "../gpu/matmul/shape.ts";
import { Kernels, type Op } from "../gpu/kernels.ts";
import type { ModelConfig } from "../lib/model/schemas.ts";
import { type BenchCase, benchCase, type BenchResult } from "./matmul_bench.ts";
import { fleetAfterOneStep } from "./profile_bench.ts";

/** The fastest of a step's matmuls (bench/matmul_bench.ts's cases), timed one by one. */
export async function fastestMatmul(cases: BenchCase[]): Promise<BenchResult> {
  const gpu = await getGpu();
  // The blocks the engine would plan on this adapter (gpu/gpt_fleet.ts).
  const tuning = gpu.info.software ? SOFTWARE_TUNING : HARDWARE_TUNING;
  let best: BenchResult | undefined;
  for (const bc of cases) {
    // Only timed here: `deno run -A bench/matmul_bench.ts` checks every case
    // against a CPU matmul, and tests/gpu/ check the same generated kernels.
    // Best of 5 (not the usual 3): on a shared machine the bound should rest
    // on what the kernel can do, not on a slow moment.
    const r = await benchCase(gpu.device, bc, { tuning, check: false, reps: 5 });
    if (!best || r.gflops > best.gflops) best = r;
  }
  if (!best) throw new Error("fastestMatmul: no cases");
  return best;
}

/**
 * Model FLOPs per row of a training step's op (by its label), or undefined
 * for ops that do few: attention, layernorm, embedding, optimizer, sums.
 */
function opFlopsPerRow(label: string, C: number, V: number): number | undefined {
  const kind = label.replace(/\.\d+/, "").replace(/\.(dx|dw)$/, "");
  const perRow: Record<string, number> = {
    // Matmuls (and their .dx / .dw), and the row-split weight gradients.
    qkv: 6 * C * C,
    attproj: 2 * C * C,
    fc: 8 * C * C,
    fcproj: 8 * C * C,
    logits: 2 * V * C,
    dlnf: 2 * V * C,
    "dwte.head": 2 * V * C,
    // Fused row kernels (gpu/row_codegen.ts).
    train_head: 4 * V * C, // logits, and dlogits · wte
    qkv_forward: 6 * C * C,
    qkv_backward: 6 * C * C,
    mlp_forward: 16 * C * C, // two [C] · [C, 4C]
    mlp_backward: 16 * C * C,
  };
  return perRow[kind];
}

/** ms per dispatch of one op: (many - few) dispatches in one pass each, best of 3. */
async function opMs(device: GPUDevice, op: Op): Promise<number> {
  const run = async (n: number) => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    Kernels.encode(pass, Array(n).fill(op));
    pass.end();
    device.queue.submit([enc.finish()]);
    const t0 = performance.now();
    await device.queue.onSubmittedWorkDone();
    return performance.now() - t0;
  };
  await run(1);
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const few = await run(5), many = await run(45);
    best = Math.min(best, (many - few) / 40);
  }
  return best;
}

/**
 * The fastest kernel of a training step of this shape, as the engine builds
 * it (matmuls, fused row kernels, row-split weight gradients), each op timed
 * alone with the step's own buffers.
 */
export async function fastestStepKernel(
  config: ModelConfig,
  fleetSize: number,
  batchSize: number,
): Promise<{ name: string; gflops: number }> {
  const gpu = await getGpu();
  const fleet = await fleetAfterOneStep(config, fleetSize, batchSize);
  try {
    // The rows its kernels compute: a training fleet leaves each sequence's last position out.
    const rows = fleetSize * batchSize * fleet.P;
    let best: { name: string; gflops: number } | undefined;
    for (const op of fleet.stepOps()) {
      const flops = opFlopsPerRow(op.label, config.dModel, config.vocabSize);
      if (flops === undefined) continue;
      const gflops = (rows * flops) / ((await opMs(gpu.device, op)) * 1e6);
      if (!best || gflops > best.gflops) best = { name: op.label, gflops };
    }
    if (!best) throw new Error("fastestStepKernel: no op does model FLOPs");
    return best;
  } finally {
    fleet.destroy();
  }
}
