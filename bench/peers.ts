// The PyTorch peer (bench/pytorch_gpt.py on Debian's python3-torch), run in
// the same bench invocation so ratios compare like with like.
//   MEMCAP_PYTHON        the interpreter (default /usr/bin/python3)
//   MEMCAP_TORCH_DEVICE  the torch device of the train and sweep peers
//                        (default cpu; cuda on a GPU server)

import type { ModelConfig } from "../lib/model/schemas.ts";

const PYTHON = Deno.env.get("MEMCAP_PYTHON") || "/usr/bin/python3";
const DEVICE = Deno.env.get("MEMCAP_TORCH_DEVICE") || "cpu";

/** "cpu" or the device the peer runs on (for the printed lines). */
export function torchDevice(): string {
  return DEVICE;
}

export async function torchAvailable(): Promise<boolean> {
  try {
    const r = await new Deno.Command(PYTHON, {
      args: ["-c", "import torch"],
      stdout: "null",
      stderr: "null",
    }).output();
    return r.success;
  } catch {
    return false;
  }
}

/** pytorch_gpt.py's flags for a model shape (one source for every peer run). */
export function torchShapeArgs(c: ModelConfig): string[] {
  return [
    `--vocab=${c.vocabSize}`,
    `--seq=${c.seqLen}`,
    `--layers=${c.layers}`,
    `--d=${c.dModel}`,
    `--heads=${c.heads}`,
  ];
}

/**
 * Runs bench/pytorch_gpt.py with the given flags and returns its JSON line.
 * OPENBLAS_NUM_THREADS=1 with torch's own 2 threads is its best setting on
 * our 2-core machines (DESIGN.md).
 */
export async function runTorch(args: string[]): Promise<Record<string, unknown>> {
  const script = new URL("./pytorch_gpt.py", import.meta.url).pathname;
  const r = await new Deno.Command(PYTHON, {
    args: [script, ...args, ...(DEVICE === "cpu" ? [] : [`--device=${DEVICE}`])],
    env: { OPENBLAS_NUM_THREADS: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(r.stdout).trim().split("\n").at(-1) ?? "";
  if (!r.success) {
    throw new Error(`pytorch_gpt.py failed: ${new TextDecoder().decode(r.stderr).slice(-2000)}`);
  }
  return JSON.parse(out);
}
