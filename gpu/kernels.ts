// Compiles WGSL into compute pipelines (cached by source), and records
// "ops": a pipeline, its bind group and its grid, built once and replayed in
// every step. Static shaders live in shaders/*.wgsl and read their shape as
// `const` declarations that this module prepends, so each shape compiles to
// straight-line code with no uniform loads. `{ alias }` declares a type alias
// and `{ expr }` a const of any WGSL expression, so one shader text serves
// both the vec4 path and the scalar path of shapes not divisible by 4.

export type ConstValue = number | boolean | { f32: number } | { alias: string } | {
  expr: string;
};

export interface Op {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  grid: [number, number, number];
}

const shaderText = new Map<string, string>();

async function loadShader(name: string): Promise<string> {
  let text = shaderText.get(name);
  if (text === undefined) {
    text = await Deno.readTextFile(new URL(`../shaders/${name}.wgsl`, import.meta.url));
    shaderText.set(name, text);
  }
  return text;
}

function constDecl(name: string, v: ConstValue): string {
  if (typeof v === "boolean") return `const ${name}: bool = ${v};`;
  if (typeof v === "number") {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new RangeError(`shader constant ${name}=${v} is not a u32`);
    }
    return `const ${name}: u32 = ${v}u;`;
  }
  if ("alias" in v) return `alias ${name} = ${v.alias};`;
  if ("expr" in v) return `const ${name} = ${v.expr};`;
  const f = v.f32;
  const s = Number.isInteger(f) ? f.toFixed(1) : f.toExponential(9);
  return `const ${name}: f32 = ${s};`;
}

/**
 * Vector width for rows of these lengths: vec4 loads and stores when every
 * length is a multiple of 4 (on llvmpipe a vec4 access costs ~2.7x a scalar
 * one for 4x the data), else scalars. W: floats per access; VF, VU: its f32
 * and u32 types; LANES: each component's offset within it.
 */
export function vectorWidth(
  ...lengths: number[]
): { W: number; VF: ConstValue; VU: ConstValue; LANES: ConstValue } {
  return lengths.every((n) => n % 4 === 0)
    ? {
      W: 4,
      VF: { alias: "vec4<f32>" },
      VU: { alias: "vec4<u32>" },
      LANES: { expr: "vec4<u32>(0u, 1u, 2u, 3u)" },
    }
    : { W: 1, VF: { alias: "f32" }, VU: { alias: "u32" }, LANES: { expr: "0u" } };
}

/**
 * Whether a per-thread private array of n elements (e.g. a cached row) pays
 * off on llvmpipe: only while the loops over it unroll and it stays in
 * registers (n <= 16, measured); a longer one becomes indexed memory that
 * costs more than reloading the row from the storage buffer.
 */
export function privateArrayFits(n: number): boolean {
  return n <= 16;
}

/** Workgroups needed for `threads` threads, as a 2-D grid within the limits. */
export function gridFor(threads: number, wg: number, maxPerDim = 65535): [number, number] {
  const groups = Math.max(1, Math.ceil(threads / wg));
  const gx = Math.min(groups, maxPerDim);
  return [gx, Math.ceil(groups / gx)];
}

export class Kernels {
  private pipelines = new Map<string, GPUComputePipeline>();

  private static perDevice = new WeakMap<GPUDevice, Kernels>();

  /** One pipeline cache per device: fleets of the same shape share compiled kernels. */
  static forDevice(device: GPUDevice): Kernels {
    let k = Kernels.perDevice.get(device);
    if (!k) {
      k = new Kernels(device);
      Kernels.perDevice.set(device, k);
    }
    return k;
  }

  constructor(readonly device: GPUDevice) {}

  pipeline(code: string, label: string): GPUComputePipeline {
    let p = this.pipelines.get(code);
    if (!p) {
      const module = this.device.createShaderModule({ code, label });
      p = this.device.createComputePipeline({
        label,
        layout: "auto",
        compute: { module, entryPoint: "main" },
      });
      this.pipelines.set(code, p);
    }
    return p;
  }

  /** The WGSL of a static shader with its constants and the snippets it uses prepended. */
  async source(
    name: string,
    consts: Record<string, ConstValue>,
    snippets: string[] = [],
  ): Promise<string> {
    const header = Object.entries(consts).map(([k, v]) => constDecl(k, v)).join("\n");
    const shared = await Promise.all(snippets.map(loadShader));
    return [header, ...shared, await loadShader(name)].join("\n");
  }

  op(
    label: string,
    pipeline: GPUComputePipeline,
    bindings: GPUBufferBinding[],
    grid: [number, number, number],
  ): Op {
    const bindGroup = this.device.createBindGroup({
      label,
      layout: pipeline.getBindGroupLayout(0),
      entries: bindings.map((resource, binding) => ({ binding, resource })),
    });
    return { label, pipeline, bindGroup, grid };
  }

  /** Records ops into one compute pass (dispatches are cheap there). */
  static encode(pass: GPUComputePassEncoder, ops: Op[]): void {
    for (const op of ops) {
      pass.setPipeline(op.pipeline);
      pass.setBindGroup(0, op.bindGroup);
      pass.dispatchWorkgroups(op.grid[0], op.grid[1], op.grid[2]);
    }
  }
}
