// A uniform dataset written straight to its file by a Worker (uniform_worker.ts): the tokens
// are generated and written a chunk at a time off this thread, so creating the largest allowed
// dataset (2^28 tokens, 1 GiB at 4 bytes a token) neither holds it in memory nor stalls the
// event loop that serves HTTP. (Deno writes files synchronously on the calling thread, so even
// the writes must happen elsewhere: a 256 KiB write held the loop up to 200 ms on a busy disk.)
import { encodedSize } from "./codec.ts";
import type { UniformSpec } from "./uniform.ts";
import type { UniformFileJob, UniformFileReply } from "./uniform_worker.ts";

/** Bytes of tokens generated and written at a time (default 4 MiB). */
const DEFAULT_CHUNK_BYTES = 4 * 2 ** 20;

/**
 * Creates the file at `path` (which must not exist) holding generateUniformEncoded(spec)'s
 * bytes, flushed to disk; resolves with its size.
 */
export function writeUniformFile(
  spec: UniformSpec,
  path: string,
  opts: { chunkBytes?: number } = {},
): Promise<number> {
  const tb = spec.vocabSize <= 65536 ? 2 : 4;
  const job: UniformFileJob = {
    ...spec,
    path,
    chunkTokens: Math.max(1, Math.floor((opts.chunkBytes ?? DEFAULT_CHUNK_BYTES) / tb)),
  };
  const worker = new Worker(new URL("./uniform_worker.ts", import.meta.url).href, {
    type: "module",
  });
  return new Promise<number>((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<UniformFileReply>) => {
      const r = e.data;
      if (!r.ok) reject(new Error(`writing the dataset failed: ${r.error}`));
      else if (r.bytes !== encodedSize(spec)) {
        reject(new Error(`the dataset file has ${r.bytes} bytes, not ${encodedSize(spec)}`));
      } else resolve(r.bytes);
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      reject(new Error(`writing the dataset failed: ${e.message}`));
    };
    worker.postMessage(job);
  }).finally(() => worker.terminate());
}
