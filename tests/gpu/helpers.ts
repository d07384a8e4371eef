// Shared test inputs for the GPU tests.
import type { ModelConfig } from "../../lib/model/schemas.ts";
import { initialParameters } from "../../lib/model/init.ts";
import { Rng } from "../../lib/prng.ts";

export function randomTokens(rng: Rng, n: number, V: number): Uint32Array {
  const t = new Uint32Array(n);
  for (let i = 0; i < n; i++) t[i] = rng.int(V);
  return t;
}

/** Initial parameters with extra noise so that no gradient is trivially small. */
export function noisyParams(c: ModelConfig, seed: number): Float32Array {
  const p = initialParameters(c, seed);
  const rng = new Rng(seed + 1000);
  for (let i = 0; i < p.length; i++) p[i] += rng.normal() * 0.1;
  return p;
}
