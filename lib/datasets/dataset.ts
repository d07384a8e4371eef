// Building, saving and loading datasets. A dataset is a record in the
// `datasets` collection (shape and entropy) plus its tokens as the
// `tokens.bin` artifact (codec.ts).
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
import { validateSequences } from "./tokens.ts";
import { generateUniformEncoded, uniformEntropyBits, uniformPredictableBits } from "./uniform.ts";

export const TOKENS_ARTIFACT = "tokens.bin";

/**
 * The record body and the encoded tokens for a parsed create request.
 * Throws TokenValidationError for bad uploaded tokens (the zod schema
 * already reports those; this is the second line of defence).
 */
export function buildDataset(req: DatasetCreateRequest): { body: DatasetBody; bytes: Uint8Array } {
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
    // case "text": added with TextDatasetRequest (see schemas.ts).
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
  const { body, bytes } = buildDataset(req);
  const id = store.newId("datasets");
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

/** One page of sequences, or null if the dataset does not exist. */
export async function readSequences(
  store: Store,
  id: string,
  offset: number,
  limit: number,
): Promise<
  { id: string; offset: number; limit: number; total: number; sequences: number[][] } | null
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
  return {
    id,
    offset,
    limit,
    total: rec.body.count,
    sequences: rowsFromBytes(bytes, tokenBytesFor(shape.vocabSize), shape.seqLen, range.n),
  };
}
