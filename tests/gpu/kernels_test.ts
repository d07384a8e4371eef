// An op names its buffers by the WGSL variables of its kernel. A wrong or a
// missing name fails when the op is built, with the kernel's bindings in the
// message; and every kernel's binding list is the one its WGSL declares.
// Generated kernels carry their own lists (webgpu-utils' parser rejects some
// of them: it takes the identifier `block` for a keyword), so this test reads
// their declarations back itself.
import assert from "node:assert/strict";
import { getGpu } from "../../gpu/device.ts";
import { GptFleet } from "../../gpu/fleet/gpt_fleet.ts";
import { Kernels } from "../../gpu/kernels.ts";

async function layerNormKernel(kernels: Kernels) {
  const code = await kernels.source("layernorm_forward", {
    BT: 4,
    C: 8,
    P_STRIDE: 8,
    W: 1,
    VF: { alias: "f32" },
    CACHE: false,
    GX: 1,
    WG: 64,
  });
  return kernels.kernel(code, "layernorm_forward");
}

Deno.test("a static shader's bindings are read from its WGSL, in binding order", async () => {
  const gpu = await getGpu();
  const kernel = await layerNormKernel(Kernels.forDevice(gpu.device));
  assert.deepEqual(kernel.bindings, ["x", "w", "b", "out", "meanOut", "rstdOut"]);
});

Deno.test("an op with a wrong or a missing buffer name fails when it is built", async () => {
  const gpu = await getGpu();
  const kernels = Kernels.forDevice(gpu.device);
  const kernel = await layerNormKernel(kernels);
  const buffers = Object.fromEntries(
    kernel.bindings.map((name) => [
      name,
      { buffer: gpu.device.createBuffer({ size: 256, usage: GPUBufferUsage.STORAGE }) },
    ]),
  );
  try {
    // All six named: it builds.
    assert.equal(kernels.op("ln", kernel, buffers, [1, 1, 1]).label, "ln");
    const { out, ...missing } = buffers;
    assert.throws(
      () => kernels.op("ln", kernel, missing, [1, 1, 1]),
      /op ln \(kernel layernorm_forward, bindings x, w, b, out, meanOut, rstdOut\): no buffer for binding "out"/,
    );
    assert.throws(
      () => kernels.op("ln", kernel, { ...missing, output: out }, [1, 1, 1]),
      /op ln .*: it has no binding "output"/,
    );
  } finally {
    for (const b of Object.values(buffers)) b.buffer.destroy();
  }
});

/** The names of a program's `@group(0) @binding(i) var<…> name` declarations, by i. */
function declaredBindings(code: string): string[] {
  const names: string[] = [];
  for (const m of code.matchAll(/@group\(0\) @binding\((\d+)\) var<[^>]*> (\w+)/g)) {
    names[Number(m[1])] = m[2];
  }
  return names;
}

Deno.test("every kernel's binding list is what its WGSL declares", async () => {
  const gpu = await getGpu();
  const kernels = Kernels.forDevice(gpu.device);
  const small = { vocabSize: 64, seqLen: 16, layers: 1, dModel: 16, heads: 2 };
  // The software family's fused kernels, then the hardware family's with split reductions.
  const shapes = [
    { config: small, batchSize: 8, kernels: "software" as const },
    { config: small, batchSize: 8, kernels: "software" as const, fuse: false },
    {
      config: { vocabSize: 512, seqLen: 64, layers: 1, dModel: 64, heads: 2 },
      batchSize: 128,
      kernels: "hardware" as const,
    },
  ];
  let checked = 0;
  for (const shape of shapes) {
    const fleet = await GptFleet.create(gpu, {
      ...shape,
      fleetSize: 2,
      precision: "bf16",
      optimizer: "adamw",
      training: true,
    });
    fleet.destroy();
  }
  for (const [code, kernel] of kernels.compiled()) {
    assert.deepEqual(kernel.bindings, declaredBindings(code), kernel.label);
    checked++;
  }
  // Row kernels, attention, matmuls, weight gradients, split and partial sums, static shaders.
  assert.ok(checked >= 40, `${checked} kernels`);
  const labels = new Set([...kernels.compiled()].map(([, k]) => k.label));
  for (const name of ["matmul", "split_sum", "partial_sums", "weight_grad", "train_head"]) {
    assert.ok(labels.has(name), `no ${name} kernel among ${[...labels].join(", ")}`);
  }
});
