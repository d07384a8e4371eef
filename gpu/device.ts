// The one place that acquires the WebGPU adapter and device. It asks for the
// adapter's own limits (the defaults cap storage bindings at 128 MiB and 8
// storage buffers per stage) and says plainly what runs underneath.

export interface GpuInfo {
  backend: string;
  description: string;
  vendor: string;
  architecture: string;
  /** True for CPU rasterizers (Mesa llvmpipe / lavapipe, or a fallback adapter). */
  software: boolean;
  limits: Record<string, number>;
  features: string[];
}

export interface Gpu {
  device: GPUDevice;
  info: GpuInfo;
}

export class NoGpuError extends Error {
  constructor(detail: string) {
    super(
      `No WebGPU adapter is available (${detail}). On a machine without a GPU install Mesa's ` +
        "software drivers: `apt-get install libgl1-mesa-dri libegl1 mesa-vulkan-drivers`. " +
        "On an NVIDIA server install `libvulkan1` and the driver's Vulkan ICD. Run Deno with " +
        "`--unstable-webgpu` (deno.json sets it).",
    );
    this.name = "NoGpuError";
  }
}

const LIMIT_NAMES = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxStorageBuffersPerShaderStage",
  "maxUniformBufferBindingSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxBindGroups",
  "minStorageBufferOffsetAlignment",
  "minUniformBufferOffsetAlignment",
] as const;

/**
 * WebGPU does not name the backend. Deno's wgpu takes DENO_WEBGPU_BACKEND
 * when set; otherwise it prefers Vulkan (on Mesa without a GPU: lavapipe,
 * whose description is also "llvmpipe (...)") and falls back to OpenGL ES.
 * Of Mesa's two software adapters only the GL one offers ETC2 textures (a
 * GLES requirement), which tells them apart.
 */
function guessBackend(software: boolean, features: ReadonlySet<string>): string {
  const env = Deno.env.get("DENO_WEBGPU_BACKEND");
  if (env) return env;
  return software && features.has("texture-compression-etc2") ? "gl" : "vulkan";
}

/**
 * Mesa's llvmpipe (and lavapipe on it) runs a dispatch's workgroups on a
 * pool of LP_NUM_THREADS threads, one per core by default, and every
 * dispatch wakes them. On a 2-core machine the pool's two threads seem to
 * land on one core now and then, the dispatch running on half the machine
 * until the scheduler moves one. Twice as many threads as cores dilute that,
 * which sped up the small models' short dispatches; longer dispatches lose
 * a little (docs/performance.md, "Fewer rows, and a pool of twice the cores"
 * (2), and "Mesa's thread pool").
 * Where the user set LP_NUM_THREADS, theirs stands. It has to be in the
 * environment before the first adapter is made, hence here.
 */
export function sizeSoftwareThreadPool(cores = navigator.hardwareConcurrency ?? 1): void {
  try {
    if (Deno.env.get("LP_NUM_THREADS") === undefined) {
      Deno.env.set("LP_NUM_THREADS", String(2 * Math.max(1, cores)));
    }
  } catch {
    // No --allow-env: Mesa's default stands.
  }
}

/**
 * Mesa's window-system probe prints "XDG_RUNTIME_DIR is invalid or not set" twice on every
 * start of a headless machine, where no compositor exists to find. A private, empty runtime
 * folder (one per user, reused) quiets it; a folder the user set stands.
 */
export function quietWindowSystemProbe(): void {
  try {
    if (Deno.env.get("XDG_RUNTIME_DIR") !== undefined) return;
    const dir = `${Deno.env.get("TMPDIR") ?? "/tmp"}/memcap-runtime-${Deno.uid() ?? "user"}`;
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if ((Deno.statSync(dir).mode ?? 0) & 0o077) return; // not ours alone: leave the warning
    Deno.env.set("XDG_RUNTIME_DIR", dir);
  } catch {
    // No permission for env, sys or the temp folder: the warning stays, nothing else changes.
  }
}

/** The adapter in one line, with the software pool's size where it applies (benchmarks print it). */
export function describeAdapter(info: GpuInfo): string {
  const pool = info.software
    ? `, LP_NUM_THREADS=${Deno.env.get("LP_NUM_THREADS") ?? "default"}`
    : "";
  return `${info.description} (${info.backend}${pool})`;
}

let shared: Promise<Gpu> | null = null;

/** The process-wide device (created once; later calls share it). */
export function getGpu(): Promise<Gpu> {
  if (!shared) {
    shared = openGpu();
    shared.catch(() => (shared = null));
  }
  return shared;
}

export async function openGpu(): Promise<Gpu> {
  if (typeof navigator === "undefined" || !("gpu" in navigator) || !navigator.gpu) {
    throw new NoGpuError("navigator.gpu is missing");
  }
  sizeSoftwareThreadPool();
  quietWindowSystemProbe();
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new NoGpuError("requestAdapter() returned null");
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === "number") requiredLimits[name] = v;
  }
  // Timestamp queries where offered: bench profile times each kernel with them.
  const requiredFeatures: GPUFeatureName[] = adapter.features.has("timestamp-query")
    ? ["timestamp-query"]
    : [];
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const ai = adapter.info;
  const description = ai.description || ai.device || "unknown adapter";
  const software = /llvmpipe|lavapipe|softpipe|swiftshader/i.test(description) ||
    Boolean((ai as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter);
  const limits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) {
    limits[name] = (device.limits as unknown as Record<string, number>)[name];
  }
  return {
    device,
    info: {
      backend: guessBackend(software, adapter.features as unknown as ReadonlySet<string>),
      description,
      vendor: ai.vendor,
      architecture: ai.architecture,
      software,
      limits,
      features: [...adapter.features],
    },
  };
}
