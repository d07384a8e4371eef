// The GPU (hardware) matmul's large blocks: where the planner uses them, and
// that they compute the same products as the CPU reference. The fleet tests
// run shapes too small to reach them.
import assert from "node:assert/strict";
import { getGpu } from "../../gpu/device.ts";
import { HARDWARE_TUNING, type MatmulShape } from "../../gpu/matmul/shape.ts";
import { planMatmul } from "../../gpu/matmul/plan.ts";
import { benchCase, CASES, ODD_CASES, randomCases } from "../../bench/matmul_bench.ts";

function plain(M: number, N: number, K: number, more: Partial<MatmulShape> = {}): MatmulShape {
  return { M, N, K, transA: false, transB: false, bias: false, addend: false, ...more };
}

Deno.test("hardware matmul: 8x8 blocks only where 4x4 blocks give 2^20 threads or more and 8 divides M and N", () => {
  const block = (s: MatmulShape) => {
    const p = planMatmul(s, HARDWARE_TUNING);
    return `${p.rm}x${p.rn}`;
  };
  // The paper-scale lm head (batch 2048): 16.8M threads at 4x4.
  assert.equal(block(plain(131072, 2048, 32, { transB: true })), "8x8");
  // The reference config's lm head: 524,288 threads at 4x4.
  assert.equal(block(plain(4096, 2048, 64, { transB: true })), "4x4");
  // ... but two models of it together reach 2^20.
  assert.equal(block(plain(4096, 2048, 64, { transB: true, fleet: 2 })), "8x8");
  // Only where 8 divides both edges.
  assert.equal(block(plain(131072, 2052, 32, { transB: true })), "4x4");
});

Deno.test("hardware matmul with 8x8 blocks matches the CPU reference", async () => {
  const { device } = await getGpu();
  const tuning = { ...HARDWARE_TUNING, largeBlock: { minThreads: 1, maxRm: 8, maxRn: 8 } };
  const cases = [
    ...CASES.filter((c) =>
      /^(logits|dwte|fc\.dw|fcproj\.dw|fleet8\.fc\.dx|sweep5\.fcproj\.dx)$/.test(c.name)
    ),
    ...ODD_CASES,
    ...randomCases(12, 777),
  ];
  let large = 0;
  for (const bc of cases) {
    const r = await benchCase(device, bc, { tuning, time: false });
    assert.ok(r.relErr < 1e-4, `${bc.name}: ${r.relErr}`);
    if (r.plan.rm * r.plan.rn > 16) large++;
  }
  assert.ok(large >= 6, `only ${large} shapes ran blocks larger than 4x4`);
});
