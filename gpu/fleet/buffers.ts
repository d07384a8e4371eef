// The GPU buffers of a fleet of K models of one shape, and their reads and
// writes. Parameters, gradients, Adam moments (and a "bf16" training fleet's
// f32 master weights) are each one flat buffer in the tensor-major layout of
// memory_plan.ts (tensor i of all K models is one block, so a kernel binds
// one block); activations are one buffer each, by their typed names.
import type { Gpu } from "../device.ts";
import {
  activationBuffers,
  type FleetActivation,
  type FleetShape,
  gpuParamLayout,
  type GpuTensor,
  type LayerActivation,
  layerActivation,
} from "../memory_plan.ts";
import { keepsMasterWeights } from "../../lib/model/config.ts";
import type { TensorRole } from "../../lib/model/layout.ts";

export class FleetBuffers {
  readonly device: GPUDevice;
  /** Models (K). */
  readonly K: number;
  readonly tensors: GpuTensor[];
  /** Floats of one parameter-sized buffer (all K models). */
  readonly paramFloats: number;
  /** The weights every forward and backward kernel reads (bf16 values unless fp32). */
  readonly params: GPUBuffer;
  /**
   * A "bf16" training fleet's f32 master weights (same layout): the optimizer
   * updates them, then params = roundBf16(master). Absent otherwise.
   */
  readonly master?: GPUBuffer;
  readonly grads?: GPUBuffer;
  readonly adamM?: GPUBuffer;
  readonly adamV?: GPUBuffer;
  /** Each model's optimizer settings for the next step: 8 floats per model. */
  readonly hyper?: GPUBuffer;
  private acts = new Map<string, GPUBuffer>();
  private owned: GPUBuffer[] = [];

  /** Allocates every buffer of the memory plan for this shape (checked to fit beforehand). */
  constructor(gpu: Gpu, shape: FleetShape) {
    this.device = gpu.device;
    this.K = shape.fleetSize;
    const layout = gpuParamLayout(
      shape.config,
      this.K,
      gpu.info.limits.minStorageBufferOffsetAlignment,
    );
    this.tensors = layout.tensors;
    this.paramFloats = layout.totalFloats;
    this.params = this.buffer("parameters", this.paramFloats);
    for (const spec of activationBuffers(shape)) {
      this.acts.set(spec.name, this.buffer(spec.name, spec.floats));
    }
    if (shape.training) {
      if (keepsMasterWeights(shape.precision ?? "fp32")) {
        this.master = this.buffer("master", this.paramFloats);
      }
      this.grads = this.buffer("gradients", this.paramFloats);
      this.adamM = this.buffer("adam_m", this.paramFloats);
      this.adamV = this.buffer("adam_v", this.paramFloats);
      this.hyper = this.buffer("hyper", this.K * 8);
    }
  }

  /** A storage buffer of `floats` 4-byte values that destroy() frees. */
  buffer(label: string, floats: number, extraUsage = 0): GPUBuffer {
    const b = this.device.createBuffer({
      label,
      size: Math.max(16, Math.ceil(floats / 4) * 16),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC |
        extraUsage,
    });
    this.owned.push(b);
    return b;
  }

  /** One of the fleet's buffers (the memory plan allocates some only for training). */
  act(name: FleetActivation): GPUBufferBinding {
    return { buffer: this.named(name) };
  }

  /** Layer l's activation. */
  layer(name: LayerActivation, l: number): GPUBufferBinding {
    return { buffer: this.named(layerActivation(name, l)) };
  }

  private named(name: string): GPUBuffer {
    const b = this.acts.get(name);
    if (!b) throw new Error(`no activation buffer ${name}`);
    return b;
  }

  tensor(role: TensorRole, layer = -1): GpuTensor {
    const t = this.tensors.find((x) => x.spec.role === role && x.spec.layer === layer);
    if (!t) throw new Error(`no tensor ${role}/${layer}`);
    return t;
  }

  /** One tensor's block (all K models) of the parameters. */
  p(role: TensorRole, layer = -1): GPUBufferBinding {
    return this.block(this.params, role, layer);
  }

  /** One tensor's block of the gradients. */
  g(role: TensorRole, layer = -1): GPUBufferBinding {
    return this.block(this.grads!, role, layer);
  }

  private block(buf: GPUBuffer, role: TensorRole, layer: number): GPUBufferBinding {
    const t = this.tensor(role, layer);
    return { buffer: buf, offset: t.blockOffset * 4, size: this.K * t.stride * 4 };
  }

  // ---- host reads and writes ---------------------------------------------

  write(name: FleetActivation, data: Uint32Array | Float32Array) {
    this.device.queue.writeBuffer(this.named(name), 0, data as Uint32Array<ArrayBuffer>);
  }

  /** Writes model z's slices of a parameter-sized buffer from the logical layout. */
  scatter(buf: GPUBuffer, z: number, flat: Float32Array, what: string) {
    this.checkModel(z);
    const last = this.tensors[this.tensors.length - 1].spec;
    if (flat.length !== last.offset + last.size) {
      throw new RangeError(
        `${what}: expected ${last.offset + last.size} floats, got ${flat.length}`,
      );
    }
    for (const t of this.tensors) {
      this.device.queue.writeBuffer(
        buf,
        (t.blockOffset + z * t.stride) * 4,
        flat as Float32Array<ArrayBuffer>,
        t.spec.offset,
        t.spec.size,
      );
    }
  }

  /** Model z's slices of a parameter-sized buffer, in the logical layout (lib/model/layout.ts). */
  async gather(buf: GPUBuffer, z: number): Promise<Float32Array> {
    this.checkModel(z);
    return await this.readRanges(this.tensors.map((t) => ({
      buf,
      offset: (t.blockOffset + z * t.stride) * 4,
      dst: t.spec.offset * 4,
      size: t.spec.size * 4,
    })));
  }

  /** Zeroes model z's slices of parameter-sized buffers. */
  zeroModel(z: number, bufs: GPUBuffer[]) {
    const enc = this.device.createCommandEncoder();
    for (const b of bufs) {
      for (const t of this.tensors) {
        enc.clearBuffer(b, (t.blockOffset + z * t.stride) * 4, t.stride * 4);
      }
    }
    this.device.queue.submit([enc.finish()]);
  }

  async read(name: FleetActivation, floats: number): Promise<Float32Array> {
    return await this.readRanges([{ buf: this.named(name), offset: 0, dst: 0, size: floats * 4 }]);
  }

  /** Byte ranges of one of the fleet's buffers (see readRanges). */
  async readRows(
    name: FleetActivation,
    ranges: readonly { offset: number; dst: number; size: number }[],
  ): Promise<Float32Array> {
    const buf = this.named(name);
    return await this.readRanges(ranges.map((r) => ({ buf, ...r })));
  }

  /**
   * Copies byte ranges of GPU buffers to their `dst` offsets in one staging buffer and reads
   * it back with a single host sync (expensive on llvmpipe, so callers batch what they
   * need; docs/performance.md, "Notes from source comments", host syncs).
   * Offsets and sizes are whole floats: copyBufferToBuffer needs 4-byte multiples.
   */
  private async readRanges(
    ranges: readonly { buf: GPUBuffer; offset: number; dst: number; size: number }[],
  ): Promise<Float32Array> {
    const total = Math.max(0, ...ranges.map((r) => r.dst + r.size));
    const staging = this.device.createBuffer({
      size: Math.max(16, Math.ceil(total / 16) * 16),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = this.device.createCommandEncoder();
    for (const r of ranges) enc.copyBufferToBuffer(r.buf, r.offset, staging, r.dst, r.size);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(staging.getMappedRange().slice(0, total));
    staging.unmap();
    staging.destroy();
    return out;
  }

  checkModel(z: number) {
    if (!Number.isInteger(z) || z < 0 || z >= this.K) {
      throw new RangeError(`model index ${z} is outside the fleet of ${this.K}`);
    }
  }

  destroy() {
    for (const b of this.owned) b.destroy();
    this.owned = [];
    this.acts.clear();
  }
}
