// What a training step could reach on this adapter at best: a step's rate
// (model FLOPs per second) cannot exceed that of its fastest kernel. The
// matmuls are the step's fastest kernels (`deno task bench profile`: the
// rest, layernorm, attention, cross-entropy and the optimizer, do few model
// FLOPs in the time they take), so the best rate among the step's matmuls,
// each timed alone with the planner's blocks, bounds what any ratio against
// a peer could be while the kernels stay as they are.
import { getGpu } from "../gpu/device.ts";
import { HARDWARE_TUNING, SOFTWARE_TUNING } from "../gpu/matmul_codegen.ts";
import { type BenchCase, benchCase, type BenchResult } from "./matmul_bench.ts";

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
