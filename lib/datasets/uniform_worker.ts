// The worker behind uniform_file.ts: writes a uniform dataset's encoded file (codec.ts) at a
// path, generating its tokens a chunk at a time with the same Rng draws as fillUniform
// (uniform.ts), so the file is byte for byte generateUniformEncoded's. Its writes and fsync
// block this worker's thread only, never the one that serves HTTP.
import { Rng } from "../prng.ts";
import { tokenBytesFor, writeHeader } from "./codec.ts";

export interface UniformFileJob {
  vocabSize: number;
  seqLen: number;
  count: number;
  seed: number;
  /** A file to create (it must not exist). */
  path: string;
  chunkTokens: number;
}

export type UniformFileReply = { ok: true; bytes: number } | { ok: false; error: string };

/** This worker's global scope (typed here: the file is also checked with the main-thread types). */
const scope = self as unknown as {
  onmessage: ((e: MessageEvent<UniformFileJob>) => void) | null;
  postMessage(message: UniformFileReply): void;
};

function writeAll(f: Deno.FsFile, bytes: Uint8Array) {
  for (let off = 0; off < bytes.length;) off += f.writeSync(bytes.subarray(off));
}

scope.onmessage = (e) => {
  const job = e.data;
  try {
    const f = Deno.openSync(job.path, { write: true, createNew: true });
    let bytes = 0;
    try {
      const header = writeHeader(job);
      writeAll(f, header);
      bytes += header.length;
      const tb = tokenBytesFor(job.vocabSize);
      const total = job.count * job.seqLen;
      const buf = tb === 2 ? new Uint16Array(job.chunkTokens) : new Uint32Array(job.chunkTokens);
      const rng = new Rng(job.seed);
      for (let done = 0; done < total;) {
        const n = Math.min(job.chunkTokens, total - done);
        for (let i = 0; i < n; i++) buf[i] = rng.int(job.vocabSize);
        writeAll(f, new Uint8Array(buf.buffer, 0, n * tb));
        bytes += n * tb;
        done += n;
      }
      f.syncSync();
    } finally {
      f.close();
    }
    scope.postMessage({ ok: true, bytes });
  } catch (err) {
    scope.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) });
  }
};
