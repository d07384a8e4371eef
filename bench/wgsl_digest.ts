// Prints a digest of every WGSL program the GPT fleet compiles, over shapes
// that reach each kernel family and path (fused or not, joint attention or
// not, vec4 or scalar rows, split reductions, bf16 master weights, SGD,
// forward only). A change to the fleet's host code must leave it unchanged:
//   deno run -A bench/wgsl_digest.ts            # one line per shape, then all
//   deno run -A bench/wgsl_digest.ts --dump DIR  # also writes each program
import { getGpu } from "../gpu/device.ts";
import { type FleetOptions, GptFleet } from "../gpu/fleet/gpt_fleet.ts";
import { Kernels } from "../gpu/kernels.ts";

type Shape = Omit<FleetOptions, "fleetSize"> & { name: string; fleetSize?: number };

const small = { vocabSize: 64, seqLen: 16, layers: 1, dModel: 16, heads: 2 };
const SHAPES: Shape[] = [
  {
    name: "software fused fp32",
    config: small,
    batchSize: 8,
    precision: "fp32",
    optimizer: "adamw",
    training: true,
  },
  {
    name: "software unfused fp32",
    config: small,
    batchSize: 8,
    precision: "fp32",
    optimizer: "adamw",
    training: true,
    fuse: false,
  },
  {
    name: "software fused bf16",
    config: small,
    batchSize: 8,
    precision: "bf16",
    optimizer: "adamw",
    training: true,
  },
  {
    name: "software bf16-pure sgd",
    config: small,
    batchSize: 8,
    precision: "bf16-pure",
    optimizer: "sgd",
    training: true,
  },
  {
    name: "software eval",
    config: small,
    batchSize: 8,
    precision: "fp32",
    optimizer: "adamw",
    training: false,
  },
  {
    name: "software scalar rows",
    config: { vocabSize: 30, seqLen: 9, layers: 2, dModel: 6, heads: 2 },
    batchSize: 5,
    precision: "fp32",
    optimizer: "adamw",
    training: true,
  },
  {
    name: "software long sequences",
    config: { vocabSize: 128, seqLen: 64, layers: 2, dModel: 32, heads: 2 },
    batchSize: 16,
    precision: "fp32",
    optimizer: "adamw",
    training: true,
  },
  {
    name: "hardware fp32",
    config: { vocabSize: 128, seqLen: 64, layers: 2, dModel: 32, heads: 2 },
    batchSize: 64,
    precision: "fp32",
    optimizer: "adamw",
    training: true,
    kernels: "hardware",
  },
  {
    name: "hardware split sums",
    config: { vocabSize: 2048, seqLen: 64, layers: 1, dModel: 128, heads: 4 },
    batchSize: 128,
    precision: "bf16",
    optimizer: "adamw",
    training: true,
    kernels: "hardware",
  },
  {
    name: "hardware scalar eval",
    config: { vocabSize: 30, seqLen: 9, layers: 1, dModel: 6, heads: 2 },
    batchSize: 5,
    precision: "fp32",
    optimizer: "adamw",
    training: false,
    kernels: "hardware",
  },
];

async function sha256(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("").slice(0, 16);
}

const dumpAt = Deno.args.indexOf("--dump");
const dumpDir = dumpAt >= 0 ? Deno.args[dumpAt + 1] : undefined;
const gpu = await getGpu();
// Emptied per shape, the device's kernel cache holds that shape's programs.
const kernels = Kernels.forDevice(gpu.device);
const all = new Set<string>();
for (const s of SHAPES) {
  kernels.clear();
  const fleet = await GptFleet.create(gpu, { fleetSize: 2, ...s });
  fleet.destroy();
  const programs = [...kernels.compiled()].map(([code]) => code).sort();
  programs.forEach((p) => all.add(p));
  console.log(
    `${s.name.padEnd(26)} ${programs.length} programs  ${await sha256(programs.join("\0"))}`,
  );
  if (dumpDir) {
    const dir = `${dumpDir}/${s.name.replaceAll(" ", "_")}`;
    await Deno.mkdir(dir, { recursive: true });
    for (const [i, p] of programs.entries()) await Deno.writeTextFile(`${dir}/${i}.wgsl`, p);
  }
}
console.log(
  `${"all".padEnd(26)} ${all.size} programs  ${await sha256([...all].sort().join("\0"))}`,
);
