// Compiles WGSL into compute pipelines (cached by source), and records
// "ops": a pipeline, its bind group and its grid, built once and replayed in
// every step. An op names its buffers by the WGSL variables they bind to
// ({ x, w, out }), checked against the kernel's bindings, so a swap or a
// missing buffer fails when the op is built rather than computing garbage. Static shaders live in shaders/*.wgsl and read their shape as
// `const` declarations that this module prepends, so each shape compiles to
// straight-line code with no uniform loads. `{ alias }` declares a type alias
// and `{ expr }` a const of any WGSL expression, so one shader text serves
// both the vec4 path and the scalar path of shapes not divisible by 4.

import { makeShaderDataDefinitions } from "webgpu-utils";

export type ConstValue = number | boolean | { f32: number } | { alias: string } | {
  expr: string;
};

export interface Op {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  grid: [number, number, number];
}

/** A compiled kernel and its binding names by index: binding i is `bindings[i]`. */
export interface Kernel {
  label: string;
  pipeline: GPUComputePipeline;
  bindings: readonly string[];
}

/** One dispatch's buffers, by the WGSL names of its kernel's bindings. */
export type Buffers = Record<string, GPUBufferBinding>;

/** A generated kernel: its WGSL, its binding names by index, its workgroups for one model (z: the fleet). */
export interface GeneratedKernel {
  code: string;
  bindings: string[];
  grid: [number, number];
}

/** A generated kernel's storage or uniform variable; its place in the list is its binding. */
export interface BindingDecl {
  name: string;
  /** "uniform" for a uniform; else the storage access. */
  access: "read" | "read_write" | "uniform";
  type: string;
  /** Appended to the declaration's line. */
  comment?: string;
}

/** The WGSL lines declaring a generated kernel's bindings in group 0, from `first` on. */
export function declareBindings(list: BindingDecl[], first = 0): string[] {
  return list.map((b, i) => {
    const space = b.access === "uniform" ? "uniform" : `storage, ${b.access}`;
    const line = `@group(0) @binding(${first + i}) var<${space}> ${b.name}: ${b.type};`;
    return b.comment ? `${line} // ${b.comment}` : line;
  });
}

/**
 * A static shader's binding names in binding order, read from its WGSL
 * (webgpu-utils' reflection). Every binding is in group 0, numbered from 0.
 */
export function reflectBindings(code: string, label: string): string[] {
  const defs = makeShaderDataDefinitions(code);
  const vars = [...Object.entries(defs.storages), ...Object.entries(defs.uniforms)];
  const names: string[] = [];
  for (const [name, v] of vars) {
    if (v.group !== 0) throw new Error(`${label}: binding ${name} is in group ${v.group}, not 0`);
    names[v.binding] = name;
  }
  for (let i = 0; i < names.length; i++) {
    if (names[i] === undefined) throw new Error(`${label}: no variable at binding ${i}`);
  }
  return names;
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
 * registers (n <= 16); a longer one becomes indexed memory that costs more
 * than reloading the row from the storage buffer (docs/performance.md,
 * "Notes from source comments", private arrays).
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
  /** Compiled kernels by their WGSL text. */
  private kernels = new Map<string, Kernel>();

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

  /**
   * The kernel of a WGSL program. `bindings`: a generated kernel's own list
   * (the one its declarations were written from); without it they are read
   * from the program (static shaders).
   */
  kernel(code: string, label: string, bindings?: readonly string[]): Kernel {
    let k = this.kernels.get(code);
    if (!k) {
      const module = this.device.createShaderModule({ code, label });
      const pipeline = this.device.createComputePipeline({
        label,
        layout: "auto",
        compute: { module, entryPoint: "main" },
      });
      k = { label, pipeline, bindings: bindings ?? reflectBindings(code, label) };
      this.kernels.set(code, k);
    }
    return k;
  }

  /** Every program compiled on this device so far, with its kernel. */
  compiled(): IterableIterator<[string, Kernel]> {
    return this.kernels.entries();
  }

  /** Forgets the compiled kernels (bench/wgsl_digest.ts lists each shape's own). */
  clear(): void {
    this.kernels.clear();
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

  /** An op of `kernel` on `buffers`, which must name each of its bindings and nothing else. */
  op(label: string, kernel: Kernel, buffers: Buffers, grid: [number, number, number]): Op {
    const expected = kernel.bindings;
    const what = () => `op ${label} (kernel ${kernel.label}, bindings ${expected.join(", ")})`;
    for (const name of Object.keys(buffers)) {
      if (!expected.includes(name)) throw new Error(`${what()}: it has no binding "${name}"`);
    }
    const entries = expected.map((name, binding) => {
      const resource = buffers[name];
      if (!resource) throw new Error(`${what()}: no buffer for binding "${name}"`);
      return { binding, resource };
    });
    const bindGroup = this.device.createBindGroup({
      label,
      layout: kernel.pipeline.getBindGroupLayout(0),
      entries,
    });
    return { label, pipeline: kernel.pipeline, bindGroup, grid };
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
