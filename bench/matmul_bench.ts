// Times the generated matmul kernels (gpu/matmul/) on the shapes a
// training step uses, after checking each result against a plain TypeScript
// matmul (float64 accumulation; max |gpu - cpu| / max |cpu| < 1e-4).
//
//   deno run -A bench/matmul_bench.ts [--filter=SUBSTR] [--reps=N] [--iters=N]
//        [--hardware] [--tuning=JSON] [--paper] [--odd] [--random=N] [--no-time]
//        [--no-check] [--code] [--cfg=JSON]
//
// --hardware plans with HARDWARE_TUNING instead of SOFTWARE_TUNING (a
// correctness check of that path; its timings mean nothing on llvmpipe);
// --tuning='{"maxRm":8}' overrides fields of the tuning in use: block edges
// and workgroup sizes on a GPU, or what the software chooser weighs (e.g.
// '{"compileAmortization":20000,"maxBlock":2048}': larger blocks, which
// compile for up to ~25 s each on a cold shader cache and did not speed up
// the whole sweep, README). --paper adds the paper-scale grid's first
// model at batch 2048 (BT 131072, d 32, V 2048): shapes for GPUs, where
// --no-check skips the CPU reference (minutes at that size; the same
// kernels are checked at small shapes by the tests).
// --odd adds shapes with dims not divisible by 4 and padded fleet strides;
// --random=N adds N random small shapes (with --no-time: a correctness sweep);
// --cfg=JSON overrides the software kernel's layout (see below); --code
// prints each kernel. Fleets (x8) run 8 models per dispatch (workgroup z).
// Each timing submits 20 or more dispatches (enough for ~220 ms; --iters
// fixes the count) in one compute pass and waits once (a host sync costs
// ~11 ms on llvmpipe); the best of `reps` is printed as
//   matmul <name> M N K: <GFLOP/s> GFLOP/s (<ms> ms)
import { getGpu } from "../gpu/device.ts";
import {
  HARDWARE_TUNING,
  type MatmulPlan,
  type MatmulShape,
  type MatmulTuning,
  SOFTWARE_TUNING,
  type Strides,
  stridesOf,
} from "../gpu/matmul/shape.ts";
import { chooseShared, planShared, type SharedConfig } from "../gpu/matmul/shared.ts";
import { planMatmul } from "../gpu/matmul/plan.ts";
import { gelu, geluGrad } from "../lib/model/gpt_reference.ts";

export interface BenchCase {
  name: string;
  shape: MatmulShape;
  /** Models in the fleet (workgroup z). */
  fleet: number;
}

function mm(
  name: string,
  M: number,
  N: number,
  K: number,
  opts: Partial<MatmulShape> & { fleet?: number } = {},
): BenchCase {
  const { fleet = 1, ...rest } = opts;
  return {
    name,
    fleet,
    shape: { M, N, K, transA: false, transB: false, bias: false, addend: false, ...rest, fleet },
  };
}

/** Every matmul of the reference config's training step (BT 4096, C 64, V 2048). */
export const REFERENCE_CASES: BenchCase[] = [
  mm("logits", 4096, 2048, 64, { transB: true }),
  mm("dlnf", 4096, 64, 2048),
  mm("dwte", 2048, 64, 4096, { transA: true }),
  mm("qkv", 4096, 192, 64, { bias: true }),
  mm("attproj", 4096, 64, 64, { bias: true, addend: true }),
  mm("fc", 4096, 256, 64, { bias: true }),
  mm("fcproj", 4096, 64, 256, { bias: true, addend: true, geluA: true }),
  mm("qkv.dx", 4096, 64, 192, { transB: true }),
  mm("attproj.dx", 4096, 64, 64, { transB: true }),
  mm("fcproj.dx", 4096, 256, 64, { transB: true, geluGrad: true }),
  mm("fc.dx", 4096, 64, 256, { transB: true }),
  mm("qkv.dw", 64, 192, 4096, { transA: true, colSums: true }),
  mm("attproj.dw", 64, 64, 4096, { transA: true, colSums: true }),
  mm("fc.dw", 64, 256, 4096, { transA: true, colSums: true }),
  mm("fcproj.dw", 256, 64, 4096, { transA: true, geluA: true, colSums: true }),
];

/** Some of a small fleet's matmuls (BT 512, d 32, K 8). */
const FLEET8_CASES: BenchCase[] = [
  mm("fleet8.logits", 512, 64, 32, { transB: true, fleet: 8 }),
  mm("fleet8.attproj", 512, 32, 32, { bias: true, addend: true, fleet: 8 }),
  mm("fleet8.fcproj", 512, 32, 128, { bias: true, addend: true, fleet: 8 }),
  mm("fleet8.dlnf", 512, 32, 64, { fleet: 8 }),
  mm("fleet8.dwte", 64, 32, 512, { transA: true, fleet: 8 }),
  mm("fleet8.fc.dx", 512, 128, 32, { transB: true, fleet: 8 }),
  mm("fleet8.fc.dw", 32, 128, 512, { transA: true, colSums: true, fleet: 8 }),
];

/**
 * Every matmul of the capacity-sweep model's training step (d 16, V 64, S 16,
 * batch 128) in a fleet of 5 as the unfused kernels run it; on CPU adapters
 * the engine now runs most of them inside fused row kernels (gpu/row_codegen.ts),
 * and the sweep bench's bound times the step's own ops (bench/ceiling.ts).
 */
export const SWEEP_CASES: BenchCase[] = [
  mm("sweep5.qkv", 2048, 48, 16, { bias: true, fleet: 5 }),
  mm("sweep5.attproj", 2048, 16, 16, { bias: true, addend: true, fleet: 5 }),
  mm("sweep5.fc", 2048, 64, 16, { bias: true, fleet: 5 }),
  mm("sweep5.fcproj", 2048, 16, 64, { bias: true, addend: true, geluA: true, fleet: 5 }),
  mm("sweep5.logits", 2048, 64, 16, { transB: true, fleet: 5 }),
  mm("sweep5.dlnf", 2048, 16, 64, { fleet: 5 }),
  mm("sweep5.dwte.head", 64, 16, 2048, { transA: true, fleet: 5 }),
  mm("sweep5.fcproj.dx", 2048, 64, 16, { transB: true, geluGrad: true, fleet: 5 }),
  // Weight gradients also write the bias gradient (colSums), as in the fleet.
  mm("sweep5.fcproj.dw", 64, 16, 2048, { transA: true, geluA: true, colSums: true, fleet: 5 }),
  mm("sweep5.fc.dx", 2048, 16, 64, { transB: true, fleet: 5 }),
  mm("sweep5.fc.dw", 16, 64, 2048, { transA: true, colSums: true, fleet: 5 }),
  mm("sweep5.attproj.dx", 2048, 16, 16, { transB: true, fleet: 5 }),
  mm("sweep5.attproj.dw", 16, 16, 2048, { transA: true, colSums: true, fleet: 5 }),
  mm("sweep5.qkv.dx", 2048, 16, 48, { transB: true, fleet: 5 }),
  mm("sweep5.qkv.dw", 16, 48, 2048, { transA: true, colSums: true, fleet: 5 }),
];

export const CASES: BenchCase[] = [...REFERENCE_CASES, ...FLEET8_CASES, ...SWEEP_CASES];

/** The paper-scale grid's first model (1 layer, d 32, V 2048, S 64) at batch 2048. */
export const PAPER_CASES: BenchCase[] = [
  mm("paper.logits", 131072, 2048, 32, { transB: true }),
  mm("paper.dlnf", 131072, 32, 2048),
  mm("paper.qkv", 131072, 96, 32, { bias: true }),
  mm("paper.fc", 131072, 128, 32, { bias: true }),
  mm("paper.fcproj", 131072, 32, 128, { bias: true, addend: true }),
  mm("paper.fc.dx", 131072, 128, 32, { transB: true, geluGrad: true }),
];

/** Shapes that exercise the scalar paths, remainders and padded strides. */
export const ODD_CASES: BenchCase[] = [
  mm("odd.nn", 37, 29, 23, { bias: true, addend: true, fleet: 3 }),
  mm("odd.tb", 45, 30, 7, { transB: true, fleet: 2 }),
  mm("odd.ta", 30, 18, 45, { transA: true, fleet: 2 }),
  mm("odd.m", 4100, 66, 64, { bias: true }),
  mm("odd.n", 100, 2050, 64, { transB: true }),
  mm("odd.k", 128, 64, 2050),
  mm("odd.tak", 96, 36, 4102, { transA: true }),
  mm("odd.stride", 64, 48, 32, {
    bias: true,
    fleet: 3,
    strideA: 64 * 32 + 4,
    strideB: 32 * 48 + 64,
    strideBias: 64,
    strideC: 64 * 48 + 16,
  }),
  mm("odd.stride.tb", 48, 40, 16, {
    transB: true,
    fleet: 2,
    strideB: 40 * 16 + 12,
    strideC: 48 * 40 + 4,
  }),
  mm("odd.stride.ta", 40, 24, 96, {
    transA: true,
    fleet: 2,
    strideA: 96 * 40 + 8,
    strideC: 40 * 24 + 8,
  }),
  mm("odd.small", 3, 5, 2, { transA: true, transB: true, fleet: 2 }),
  mm("odd.tatb", 20, 36, 12, { transA: true, transB: true, bias: true }),
];

/** `count` random small shapes (correctness checks of the planner's edge cases). */
export function randomCases(count: number, seed: number): BenchCase[] {
  const r = randomArray(count * 12, seed).map((x) => (x + 1) / 2); // [0, 1)
  const pick = (i: number, lo: number, hi: number) => lo + Math.floor(r[i] * (hi - lo + 1));
  const out: BenchCase[] = [];
  for (let c = 0; c < count; c++) {
    const o = c * 12;
    const M = pick(o, 1, 90), N = pick(o + 1, 1, 90), K = pick(o + 2, 1, 90);
    const transA = r[o + 3] < 0.5, transB = r[o + 4] < 0.5;
    const fleet = pick(o + 5, 1, 3);
    const pad = (i: number) => (r[o + i] < 0.5 ? 0 : pick(o + i, 0, 9));
    out.push(mm(`random${c}`, M, N, K, {
      transA,
      transB,
      bias: r[o + 6] < 0.5,
      addend: r[o + 7] < 0.5,
      fleet,
      strideA: M * K + pad(8),
      strideB: K * N + pad(9),
      strideBias: N + pad(10),
      strideC: M * N + pad(11),
    }));
  }
  return out;
}

function randomArray(n: number, seed: number): Float32Array<ArrayBuffer> {
  // xorshift32, uniform in [-1, 1)
  let x = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x / 2147483648 - 1;
  }
  return out;
}

/** Plain CPU matmul of model z, in float64; returns C[M*N]. aux: the geluGrad operand. */
function cpuMatmul(
  s: MatmulShape,
  st: Strides,
  z: number,
  A: Float32Array,
  B: Float32Array,
  bias: Float32Array | null,
  addend: Float32Array | null,
  aux: Float32Array | null = null,
): Float64Array {
  const { M, N, K } = s;
  const out = new Float64Array(M * N);
  const aOff = z * st.a, bOff = z * st.b, cOff = z * st.c;
  const row = new Float64Array(N);
  const bRow = new Float64Array(N);
  for (let m = 0; m < M; m++) {
    row.fill(0);
    for (let k = 0; k < K; k++) {
      const a0 = s.transA ? A[aOff + k * M + m] : A[aOff + m * K + k];
      const a = s.geluA ? gelu(a0) : a0;
      if (s.transB) {
        for (let n = 0; n < N; n++) bRow[n] = B[bOff + n * K + k];
      } else {
        for (let n = 0; n < N; n++) bRow[n] = B[bOff + k * N + n];
      }
      for (let n = 0; n < N; n++) row[n] += a * bRow[n];
    }
    for (let n = 0; n < N; n++) {
      let v = row[n];
      if (bias) v += bias[z * st.bias + n];
      if (addend) v += addend[cOff + m * N + n];
      if (aux) v *= geluGrad(aux[cOff + m * N + n]);
      out[m * N + n] = v;
    }
  }
  return out;
}

/** CPU matmul with B transposed once up front (much faster for transB). */
function cpuReference(
  s: MatmulShape,
  st: Strides,
  z: number,
  A: Float32Array,
  B: Float32Array,
  bias: Float32Array | null,
  addend: Float32Array | null,
  aux: Float32Array | null,
): Float64Array {
  if (!s.transB) return cpuMatmul(s, st, z, A, B, bias, addend, aux);
  const { N, K } = s;
  const Bt = new Float32Array((z + 1) * K * N);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) Bt[z * K * N + k * N + n] = B[z * st.b + n * K + k];
  }
  return cpuMatmul(
    { ...s, transB: false },
    { ...st, b: K * N },
    z,
    A,
    Bt,
    bias,
    addend,
    aux,
  );
}

interface Prepared {
  plan: MatmulPlan;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  buffers: GPUBuffer[];
  c: GPUBuffer;
  cFloats: number;
  /** The colSums output (shapes with colSums), fleet-strided like the bias. */
  colSums: GPUBuffer | null;
  colSumsFloats: number;
  data: {
    A: Float32Array;
    B: Float32Array;
    bias: Float32Array | null;
    addend: Float32Array | null;
    aux: Float32Array | null;
  };
}

type Planner = (s: MatmulShape) => MatmulPlan;

function prepare(device: GPUDevice, bc: BenchCase, planner: Planner): Prepared {
  const s = bc.shape;
  const st = stridesOf(s);
  const plan = planner(s);
  const module = device.createShaderModule({ code: plan.code, label: bc.name });
  const pipeline = device.createComputePipeline({
    label: bc.name,
    layout: "auto",
    compute: { module, entryPoint: "main" },
  });
  const F = bc.fleet;
  // Each tensor spans the fleet's strides plus the last model's dense extent.
  const A = randomArray(st.a * (F - 1) + s.M * s.K, 1);
  const B = randomArray(st.b * (F - 1) + s.K * s.N, 2);
  const bias = s.bias ? randomArray(st.bias * (F - 1) + s.N, 3) : null;
  const cFloats = st.c * (F - 1) + s.M * s.N;
  const addend = s.addend ? randomArray(cFloats, 4) : null;
  const aux = s.geluGrad ? randomArray(cFloats, 5).map((x) => 4 * x) : null;
  const buffers: GPUBuffer[] = [];
  const upload = (data: Float32Array<ArrayBuffer>) => {
    const buf = device.createBuffer({
      size: Math.max(16, Math.ceil(data.byteLength / 16) * 16),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
    });
    device.queue.writeBuffer(buf, 0, data);
    buffers.push(buf);
    return buf;
  };
  const a = upload(A), b = upload(B);
  const c = upload(new Float32Array(cFloats));
  const entries: GPUBindGroupEntry[] = [a, b, c].map((buffer, i) => ({
    binding: i,
    resource: { buffer },
  }));
  const colSumsFloats = s.colSums ? st.colSums * (F - 1) + s.N : 0;
  const colSums = s.colSums ? upload(new Float32Array(colSumsFloats)) : null;
  const operand = {
    bias: () => upload(bias!),
    addend: () => upload(addend!),
    aux: () => upload(aux!),
    colSums: () => colSums!,
  };
  for (const name of plan.operands) {
    entries.push({ binding: entries.length, resource: { buffer: operand[name]() } });
  }
  const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  return {
    plan,
    pipeline,
    bindGroup,
    buffers,
    c,
    cFloats,
    colSums,
    colSumsFloats,
    data: { A, B, bias, addend, aux },
  };
}

function dispatch(device: GPUDevice, p: Prepared, fleet: number, times: number) {
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(p.pipeline);
  pass.setBindGroup(0, p.bindGroup);
  for (let i = 0; i < times; i++) {
    pass.dispatchWorkgroups(p.plan.grid[0], p.plan.grid[1], fleet);
  }
  pass.end();
  device.queue.submit([enc.finish()]);
}

async function readBack(device: GPUDevice, src: GPUBuffer, floats: number) {
  const size = Math.ceil((floats * 4) / 16) * 16;
  const staging = device.createBuffer({
    size,
    usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ,
  });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(src, 0, staging, 0, size);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0, floats * 4));
  staging.unmap();
  staging.destroy();
  return out;
}

/** Max |gpu - cpu| / max |cpu| over all models; also checks that padding stays 0. */
async function check(device: GPUDevice, bc: BenchCase, p: Prepared): Promise<number> {
  dispatch(device, p, bc.fleet, 1);
  const got = await readBack(device, p.c, p.cFloats);
  const s = bc.shape, st = stridesOf(s);
  let maxDiff = 0, maxRef = 0;
  const written = new Uint8Array(p.cFloats);
  for (let z = 0; z < bc.fleet; z++) {
    const ref = cpuReference(s, st, z, p.data.A, p.data.B, p.data.bias, p.data.addend, p.data.aux);
    for (let i = 0; i < s.M * s.N; i++) {
      const idx = z * st.c + i;
      written[idx] = 1;
      const d = Math.abs(got[idx] - ref[i]);
      if (!(d <= maxDiff)) maxDiff = d; // NaN-safe: NaN makes it NaN
      maxRef = Math.max(maxRef, Math.abs(ref[i]));
    }
  }
  // Elements between models (padding) must be left alone (the addend is C's
  // initial content only where bound; without it C starts at 0).
  for (let i = 0; i < p.cFloats; i++) {
    if (!written[i] && got[i] !== 0) return Infinity;
  }
  if (p.colSums) {
    // colSums[n] = Σ_k op(B)[k, n], per model.
    const sums = await readBack(device, p.colSums, p.colSumsFloats);
    for (let z = 0; z < bc.fleet; z++) {
      for (let n = 0; n < s.N; n++) {
        let ref = 0;
        for (let k = 0; k < s.K; k++) {
          ref += s.transB ? p.data.B[z * st.b + n * s.K + k] : p.data.B[z * st.b + k * s.N + n];
        }
        const d = Math.abs(sums[z * st.colSums + n] - ref);
        if (!(d <= maxDiff)) maxDiff = d;
        maxRef = Math.max(maxRef, Math.abs(ref));
      }
    }
  }
  return maxDiff / Math.max(maxRef, 1e-30);
}

/**
 * Best time of one dispatch, in ms. `iters` dispatches share one pass and
 * one sync; by default at least 20, and more for fast kernels so that the
 * ~11 ms sync stays under ~5% of the measured time.
 */
async function time(
  device: GPUDevice,
  bc: BenchCase,
  p: Prepared,
  itersArg: number | undefined,
  reps: number,
): Promise<number> {
  let iters = itersArg ?? 20;
  if (itersArg === undefined) {
    const t0 = performance.now();
    dispatch(device, p, bc.fleet, 4);
    await device.queue.onSubmittedWorkDone();
    const one = Math.max(0.01, (performance.now() - t0 - 11) / 4);
    iters = Math.min(500, Math.max(20, Math.ceil(220 / one)));
  }
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    dispatch(device, p, bc.fleet, iters);
    await device.queue.onSubmittedWorkDone();
    best = Math.min(best, (performance.now() - t0) / iters);
  }
  return best;
}

export interface BenchResult {
  name: string;
  relErr: number;
  ms: number;
  gflops: number;
  plan: MatmulPlan;
  /** Pipeline creation and first dispatch, in ms. */
  compileMs: number;
}

export async function benchCase(
  device: GPUDevice,
  bc: BenchCase,
  opts: {
    tuning?: MatmulTuning;
    /** Overrides the plan (to compare variants); default planMatmul(shape, tuning). */
    planner?: Planner;
    iters?: number;
    reps?: number;
    check?: boolean;
    time?: boolean;
  },
): Promise<BenchResult> {
  const tuning = opts.tuning ?? SOFTWARE_TUNING;
  const t0 = performance.now();
  // A shape beyond the adapter's limits (a binding over
  // maxStorageBufferBindingSize) would otherwise run nothing, silently.
  device.pushErrorScope("validation");
  let p: Prepared;
  try {
    p = prepare(device, bc, opts.planner ?? ((s) => planMatmul(s, tuning)));
  } catch (e) {
    await device.popErrorScope();
    throw e;
  }
  try {
    // Pipeline creation plus a first run (llvmpipe may compile lazily).
    dispatch(device, p, bc.fleet, 1);
    await device.queue.onSubmittedWorkDone();
    const invalid = await device.popErrorScope();
    if (invalid) throw new Error(`matmul ${bc.name}: ${invalid.message}`);
    const compileMs = performance.now() - t0;
    const relErr = opts.check === false ? 0 : await check(device, bc, p);
    if (!(relErr < 1e-4)) {
      throw new Error(`matmul ${bc.name}: relative error ${relErr} >= 1e-4`);
    }
    const { M, N, K } = bc.shape;
    const flops = 2 * M * N * K * bc.fleet;
    const ms = opts.time === false ? NaN : await time(device, bc, p, opts.iters, opts.reps ?? 3);
    return { name: bc.name, relErr, ms, gflops: flops / (ms * 1e6), plan: p.plan, compileMs };
  } finally {
    for (const b of p.buffers) b.destroy();
  }
}

function argValue(args: string[], name: string): string | undefined {
  const hit = args.find((a) => a.startsWith(`--${name}=`));
  return hit?.slice(name.length + 3);
}

if (import.meta.main) {
  const args = Deno.args;
  const filter = argValue(args, "filter");
  const reps = Number(argValue(args, "reps") ?? 3);
  const itersArg = argValue(args, "iters");
  const tuningArg = argValue(args, "tuning");
  const hardware = args.includes("--hardware");
  const tuning: MatmulTuning = {
    ...(hardware ? HARDWARE_TUNING : SOFTWARE_TUNING),
    ...(tuningArg ? JSON.parse(tuningArg) : {}),
  };
  const doTime = !args.includes("--no-time");
  const doCheck = !args.includes("--no-check");
  // --cfg='{"rm":16,"rn":32,"lanesN":2}' overrides fields of the software
  // variant's choice (SharedConfig) for every shape, to compare variants.
  const cfgArg = argValue(args, "cfg");
  const planner: Planner | undefined = cfgArg
    ? (s) => {
      const cfg: SharedConfig = { ...chooseShared(s, tuning), ...JSON.parse(cfgArg) };
      return planShared(s, cfg);
    }
    : undefined;
  const { device, info } = await getGpu();
  console.log(
    `# adapter: ${info.description} (${info.backend}), ` +
      `tuning: ${hardware ? "hardware" : "software"} ${tuningArg ?? ""}`,
  );
  const randomCount = Number(argValue(args, "random") ?? 0);
  const cases = [
    ...CASES,
    ...(args.includes("--paper") ? PAPER_CASES : []),
    ...(args.includes("--odd") ? ODD_CASES : []),
    ...randomCases(randomCount, 12345),
  ].filter((c) => !filter || filter.split(",").some((f) => c.name.includes(f)));
  let failed = 0;
  for (const bc of cases) {
    const { M, N, K } = bc.shape;
    try {
      const r = await benchCase(device, bc, {
        tuning,
        planner,
        reps,
        iters: itersArg ? Number(itersArg) : undefined,
        time: doTime,
        check: doCheck,
      });
      const p = r.plan;
      const info = `[${p.variant ?? ""} block ${p.rm}x${p.rn} vec${p.vec} wg${p.workgroupSize} ` +
        `grid ${p.grid.join("x")}x${bc.fleet}] err ${r.relErr.toExponential(1)} ` +
        `compile ${r.compileMs.toFixed(0)} ms`;
      if (doTime) {
        const rate = `${r.gflops.toFixed(1)} GFLOP/s (${r.ms.toFixed(3)} ms)`;
        console.log(`matmul ${bc.name} ${M} ${N} ${K}: ${rate}  ${info}`);
      } else {
        console.log(`matmul ${bc.name} ${M} ${N} ${K}: ok ${info}`);
      }
      if (args.includes("--code")) console.log(r.plan.code);
    } catch (e) {
      failed++;
      console.log(`matmul ${bc.name} ${M} ${N} ${K}: FAILED ${(e as Error).message}`);
    }
  }
  if (failed) {
    console.error(`${failed} case(s) failed`);
    Deno.exit(1);
  }
}
