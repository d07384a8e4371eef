// Building, saving and loading datasets. A dataset is a record in the
// `datasets` collection (shape and entropy) plus its tokens as the
// `tokens.bin` artifact (codec.ts); a text dataset also has its compact
// vocabulary as the `vocab.bin` artifact (text.ts).
import type { Rec, Store } from "../store/store.ts";
import {
  type Dataset as TokenData,
  decodeDataset,
  encodeDataset,
  rowsFromBytes,
  sequenceByteRange,
  tokenBytesFor,
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
import { generateUniformEncoded, uniformEntropyBits, uniformPredictableBits } from "./uniform.ts";

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
      const shape = { vocabSize: req.vocabSize, seqLen: req.seqLen, count: req.count };
      return {
        body: {
          kind: "uniform",
          ...shape,
          entropyBits: uniformEntropyBits(shape),
          entropyBitsPredicted: uniformPredictableBits(shape),
          seed: req.seed,
        },
        bytes: generateUniformEncoded({ ...shape, seed: req.seed }),
      };
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

/**
 * Builds the dataset, writes its tokens artifact, then creates the record
 * (in that order, so a visible record always has its tokens; a crash in
 * between leaves an orphan artifact the store sweeps on open).
 */
export async function createDataset(store: Store, req: DatasetCreateRequest): Promise<Dataset> {
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

/** The decoded tokens (N*S, row-major), or null if the dataset does not exist. */
export async function loadDatasetTokens(store: Store, id: string): Promise<TokenData | null> {
  const bytes = await store.getArtifact("datasets", id, TOKENS_ARTIFACT);
  return bytes ? decodeDataset(bytes) : null;
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
