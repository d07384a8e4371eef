// Building, saving and loading datasets. A dataset is a record in the
// `datasets` collection (shape and entropy) plus its tokens as the
// `tokens.bin` artifact (codec.ts); a text dataset also has its compact
// vocabulary as the `vocab.bin` artifact (text.ts).
import type { Rec, Store } from "../store/store.ts";
import {
  CodecError,
  type Dataset as TokenData,
  decodeDataset,
  encodeDataset,
  encodedSize,
  readHeader,
  rowsFromBytes,
  sequenceByteRange,
  tokenBytesFor,
  tokenView,
} from "./codec.ts";
import type { Dataset, DatasetBody, DatasetCreateRequest } from "./schemas.ts";
import {
  buildTextDataset,
  type CompactVocabulary,
  decodeRows,
  decodeVocabulary,
  VOCAB_ARTIFACT,
} from "./text.ts";
import { validateSequences } from "./tokens.ts";
import {
  generateUniformEncoded,
  uniformEntropyBits,
  uniformPredictableBits,
  type UniformSpec,
} from "./uniform.ts";
import { writeUniformFile } from "./uniform_file.ts";
import { setImmediate } from "node:timers";

export const TOKENS_ARTIFACT = "tokens.bin";

/**
 * The record body, the encoded tokens and any other artifacts (by name) for a
 * parsed create request. Throws TokenValidationError for bad uploaded tokens
 * (the zod schema already reports those; this is the second line of defence)
 * and for text requests the pool cannot satisfy (`count` too large, ...).
 * Text requests over the Brown corpus tokenize it on first use (~1 s) and
 * keep it in memory (text.ts).
 */
export function buildDataset(
  req: DatasetCreateRequest,
): { body: DatasetBody; bytes: Uint8Array; artifacts?: Record<string, Uint8Array> } {
  switch (req.kind) {
    case "uniform": {
      const { body, spec } = uniformDataset(req);
      return { body, bytes: generateUniformEncoded(spec) };
    }
    case "tokens": {
      const v = validateSequences(req.sequences, req.vocabSize);
      const data = { vocabSize: req.vocabSize, seqLen: v.seqLen, count: v.count, tokens: v.tokens };
      return {
        body: { kind: "tokens", vocabSize: req.vocabSize, seqLen: v.seqLen, count: v.count },
        bytes: encodeDataset(data),
      };
    }
    case "text":
      return buildTextDataset(req);
    default: {
      const unknownKind: never = req;
      throw new TypeError(`unknown dataset kind ${JSON.stringify(unknownKind)}`);
    }
  }
}

/** Uniform datasets up to this many tokens are made on this thread (~10 ms): a worker costs more. */
const INLINE_UNIFORM_TOKENS = 1 << 18;

/** A uniform request's record body and generator spec. */
function uniformDataset(
  req: Extract<DatasetCreateRequest, { kind: "uniform" }>,
): { body: DatasetBody; spec: UniformSpec } {
  const shape = { vocabSize: req.vocabSize, seqLen: req.seqLen, count: req.count };
  return {
    body: {
      kind: "uniform",
      ...shape,
      entropyBits: uniformEntropyBits(shape),
      entropyBitsPredicted: uniformPredictableBits(shape),
      seed: req.seed,
    },
    spec: { ...shape, seed: req.seed },
  };
}

/**
 * Builds the dataset, writes its tokens artifact, then creates the record
 * (in that order, so a visible record always has its tokens; a crash in
 * between leaves an orphan artifact the store sweeps on open). Uniform
 * datasets larger than INLINE_UNIFORM_TOKENS are generated and written to
 * their file by a Worker (uniform_file.ts): up to 1 GiB, never whole in
 * memory, with the event loop free to serve meanwhile.
 */
export async function createDataset(store: Store, req: DatasetCreateRequest): Promise<Dataset> {
  if (req.kind === "uniform") {
    const { body, spec } = uniformDataset(req);
    const id = store.newId("datasets");
    if (spec.count * spec.seqLen <= INLINE_UNIFORM_TOKENS) {
      await store.putArtifact("datasets", id, TOKENS_ARTIFACT, generateUniformEncoded(spec));
    } else {
      await store.putArtifactFile(
        "datasets",
        id,
        TOKENS_ARTIFACT,
        async (path) => void await writeUniformFile(spec, path),
        encodedSize(spec),
      );
    }
    return datasetResponse(await store.create<DatasetBody>("datasets", body, { id }));
  }
  const { body, bytes, artifacts } = buildDataset(req);
  const id = store.newId("datasets");
  for (const [name, data] of Object.entries(artifacts ?? {})) {
    await store.putArtifact("datasets", id, name, data);
  }
  await store.putArtifact("datasets", id, TOKENS_ARTIFACT, bytes);
  const rec = await store.create<DatasetBody>("datasets", body, { id });
  return datasetResponse(rec);
}

/** The HTTP shape of a dataset record. */
export function datasetResponse(rec: Rec<DatasetBody>): Dataset {
  return { id: rec.id, ...rec.body, createdAt: rec.createdAt };
}

export async function getDataset(store: Store, id: string): Promise<Dataset | null> {
  const rec = await store.get<DatasetBody>("datasets", id);
  return rec ? datasetResponse(rec) : null;
}

/** Tokens decoded (and checked) between two turns of the event loop by loadDatasetTokens. */
const DECODE_CHUNK_TOKENS = 1 << 22;

/**
 * The decoded tokens (N*S, row-major), or null if the dataset does not exist. Decoded in
 * chunks with a turn of the event loop between them, so that loading a large dataset (a run
 * starting, a likelihood request) does not stall the requests served meanwhile.
 */
export async function loadDatasetTokens(store: Store, id: string): Promise<TokenData | null> {
  const bytes = await store.getArtifact("datasets", id, TOKENS_ARTIFACT);
  if (!bytes) return null;
  const h = readHeader(bytes);
  const n = h.count * h.seqLen;
  if (n <= DECODE_CHUNK_TOKENS) return decodeDataset(bytes);
  const view = tokenView(bytes);
  const tokens = new Uint32Array(n);
  for (let start = 0; start < n; start += DECODE_CHUNK_TOKENS) {
    const end = Math.min(n, start + DECODE_CHUNK_TOKENS);
    tokens.set(view.subarray(start, end), start);
    for (let i = start; i < end; i++) {
      if (tokens[i] >= h.vocabSize) {
        throw new CodecError(
          `token ${tokens[i]} at index ${i} is not below vocabSize ${h.vocabSize}`,
        );
      }
    }
    await new Promise((r) => setImmediate(r));
  }
  return { vocabSize: h.vocabSize, seqLen: h.seqLen, count: h.count, tokens };
}

/** A text dataset's compact vocabulary, or null if there is none (or no such dataset). */
export async function loadVocabulary(store: Store, id: string): Promise<CompactVocabulary | null> {
  const bytes = await store.getArtifact("datasets", id, VOCAB_ARTIFACT);
  return bytes ? decodeVocabulary(bytes) : null;
}

/** Asked to decode the sequences of a dataset that has no tokenizer (not a text dataset). */
export class NotTextDatasetError extends Error {
  constructor(readonly id: string, readonly kind: string) {
    super(`dataset ${id} is a ${kind} dataset; only text datasets have a tokenizer to decode`);
    this.name = "NotTextDatasetError";
  }
}

/**
 * One page of sequences, or null if the dataset does not exist. With
 * `decode`, also the text of each sequence (text datasets only, else
 * NotTextDatasetError).
 */
export async function readSequences(
  store: Store,
  id: string,
  offset: number,
  limit: number,
  opts: { decode?: boolean } = {},
): Promise<
  {
    id: string;
    offset: number;
    limit: number;
    total: number;
    sequences: number[][];
    texts?: string[];
  } | null
> {
  const rec = await store.get<DatasetBody>("datasets", id);
  if (!rec) return null;
  // Read only the page's rows, not the whole (possibly huge) token file.
  const shape = { vocabSize: rec.body.vocabSize, seqLen: rec.body.seqLen, count: rec.body.count };
  const range = sequenceByteRange(shape, offset, limit);
  const bytes = range.n === 0
    ? new Uint8Array(0)
    : await store.getArtifactRange("datasets", id, TOKENS_ARTIFACT, range.start, range.length);
  if (!bytes) return null;
  const sequences = rowsFromBytes(bytes, tokenBytesFor(shape.vocabSize), shape.seqLen, range.n);
  const page = { id, offset, limit, total: rec.body.count, sequences };
  if (!opts.decode) return page;
  const vocab = rec.body.kind === "text" ? await loadVocabulary(store, id) : null;
  if (!vocab) throw new NotTextDatasetError(id, rec.body.kind);
  return { ...page, texts: decodeRows(sequences, vocab) };
}
