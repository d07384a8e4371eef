// Text datasets: fixed-length token sequences cut from a corpus (Brown) or from uploaded
// text, as in the paper's text experiment (GPT-2 tokenizer, exact deduplication after
// truncation).
//
// The pipeline, for (source, tokenizer, seqLen S, seed):
//   1. tokenize each document (cached in-process for the Brown corpus);
//   2. cut each document's token stream into consecutive windows of S tokens; windows never
//      cross documents and a document's short tail is dropped;
//   3. exact deduplication: a window equal to an earlier one (document order) is dropped,
//      the first kept, the number dropped reported;
//   4. vocabulary compaction over the whole deduplicated pool: the tokenizer ids that occur
//      are mapped, in ascending order, to 0..V'-1 (so a small model is not all embedding);
//   5. a seeded shuffle of the pool (Fisher-Yates, lib/prng.ts).
// This pool of P sequences depends on nothing else, so every dataset cut from it shares its
// compact vocabulary. The last `heldOut` sequences of the pool are the held-out split; the
// train split is the rest. A request takes the first `count` of its split, so train datasets
// of growing size are nested prefixes of each other and never meet the held-out ones.

import { Rng } from "../prng.ts";
import { allocateEncoded } from "./codec.ts";
import { brownDocuments } from "./brown.ts";
import type { DatasetBody, TextDatasetRequest } from "./schemas.ts";
import {
  type TextTokenizer,
  type TokenArray,
  tokenizer,
  type TokenizerName,
} from "./text_tokenizer.ts";
import { TokenValidationError } from "./tokens.ts";

/** Name of the artifact holding a text dataset's compact vocabulary (see encodeVocabulary). */
export const VOCAB_ARTIFACT = "vocab.bin";

/** Held-out sequences when a request gives no `heldOut`: 10% of the pool, at most 1024. */
export function defaultHeldOut(poolSize: number): number {
  return Math.min(1024, Math.floor(poolSize / 10));
}

/** Compact ids: 16 bits wide whenever the compact vocabulary allows (always, for now). */
export type CompactTokens = Uint16Array | Uint32Array;

export interface TextPool {
  tokenizer: TokenizerName;
  seqLen: number;
  /** P sequences of S compact ids, row-major, in shuffled order. */
  tokens: CompactTokens;
  /** P: unique sequences. */
  poolSize: number;
  /** Windows dropped as exact duplicates of an earlier one. */
  duplicatesDropped: number;
  /** Compact id i stands for tokenizer id vocab[i] (ascending). V' = vocab.length. */
  vocab: Uint32Array;
  /** Documents in the source. */
  documents: number;
  /** Tokens in the source, before cutting. */
  sourceTokens: number;
}

/**
 * Every window of `seqLen` tokens of every document, in document order; short tails are
 * dropped. Returns N·S ids, row-major.
 */
export function cutSequences(
  documents: readonly TokenArray[],
  seqLen: number,
): { tokens: Uint32Array; count: number } {
  let count = 0;
  for (const d of documents) count += Math.floor(d.length / seqLen);
  const tokens = new Uint32Array(count * seqLen);
  let at = 0;
  for (const d of documents) {
    const usable = d.length - (d.length % seqLen);
    tokens.set(d.subarray(0, usable), at);
    at += usable;
  }
  return { tokens, count };
}

/** A string that is equal for two rows exactly when their ids are (ids < 2^16 take 1 unit). */
function rowKey(tokens: Uint32Array, start: number, seqLen: number, wide: boolean): string {
  if (!wide) {
    return String.fromCharCode.apply(
      null,
      tokens.subarray(start, start + seqLen) as unknown as number[],
    );
  }
  let s = "";
  for (let j = 0; j < seqLen; j++) {
    const t = tokens[start + j];
    s += String.fromCharCode(t >>> 16, t & 0xffff);
  }
  return s;
}

/**
 * Exact deduplication of N rows of S ids: keeps the first occurrence of each distinct row,
 * in order, and counts the rest.
 */
export function dedupSequences(
  tokens: Uint32Array,
  seqLen: number,
): { tokens: Uint32Array; count: number; dropped: number } {
  const n = tokens.length / seqLen;
  let wide = false;
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] > 0xffff) {
      wide = true;
      break;
    }
  }
  const seen = new Set<string>();
  const keep: number[] = [];
  for (let i = 0; i < n; i++) {
    const key = rowKey(tokens, i * seqLen, seqLen, wide);
    if (seen.has(key)) continue;
    seen.add(key);
    keep.push(i);
  }
  if (keep.length === n) return { tokens, count: n, dropped: 0 };
  const out = new Uint32Array(keep.length * seqLen);
  keep.forEach((row, k) => out.set(tokens.subarray(row * seqLen, (row + 1) * seqLen), k * seqLen));
  return { tokens: out, count: keep.length, dropped: n - keep.length };
}

/**
 * The ids that occur in `tokens`, ascending (compact id i ↔ vocab[i]), and `tokens`
 * rewritten in compact ids.
 */
export function compactVocabulary(tokens: ArrayLike<number>): {
  vocab: Uint32Array;
  compact: CompactTokens;
} {
  let max = -1;
  for (let i = 0; i < tokens.length; i++) if (tokens[i] > max) max = tokens[i];
  const present = new Uint8Array(max + 1);
  for (let i = 0; i < tokens.length; i++) present[tokens[i]] = 1;
  let size = 0;
  for (let t = 0; t <= max; t++) size += present[t];
  const vocab = new Uint32Array(size);
  const toCompact = new Uint32Array(max + 1);
  for (let t = 0, k = 0; t <= max; t++) {
    if (present[t]) {
      vocab[k] = t;
      toCompact[t] = k++;
    }
  }
  const compact = size <= 65536 ? new Uint16Array(tokens.length) : new Uint32Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) compact[i] = toCompact[tokens[i]];
  return { vocab, compact };
}

/** Compact ids back to tokenizer ids. Throws on an id outside the vocabulary. */
export function expandTokens(compact: ArrayLike<number>, vocab: Uint32Array): Uint32Array {
  const out = new Uint32Array(compact.length);
  for (let i = 0; i < compact.length; i++) {
    const c = compact[i];
    if (!(c >= 0 && c < vocab.length)) {
      throw new RangeError(`compact id ${c} is outside the vocabulary of ${vocab.length}`);
    }
    out[i] = vocab[c];
  }
  return out;
}

/** Rows of `tokens` in a seeded random order (Fisher-Yates over row indices). */
export function shuffleRows<T extends CompactTokens>(tokens: T, seqLen: number, seed: number): T {
  const n = tokens.length / seqLen;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  new Rng(seed).shuffle(order);
  const out = new (tokens.constructor as { new (n: number): T })(tokens.length);
  for (let k = 0; k < n; k++) {
    const row = order[k];
    out.set(tokens.subarray(row * seqLen, (row + 1) * seqLen), k * seqLen);
  }
  return out;
}

/** Steps 2-5 of the pipeline over tokenized documents. */
export function buildPool(
  documents: readonly TokenArray[],
  tok: TokenizerName,
  seqLen: number,
  seed: number,
): TextPool {
  let sourceTokens = 0;
  for (const d of documents) sourceTokens += d.length;
  const cut = cutSequences(documents, seqLen);
  const unique = dedupSequences(cut.tokens, seqLen);
  const { vocab, compact } = compactVocabulary(unique.tokens);
  return {
    tokenizer: tok,
    seqLen,
    tokens: shuffleRows(compact, seqLen, seed),
    poolSize: unique.count,
    duplicatesDropped: unique.dropped,
    vocab,
    documents: documents.length,
    sourceTokens,
  };
}

export interface SplitRequest {
  split: "train" | "heldout";
  count?: number;
  heldOut?: number;
}

/**
 * Rows [start, start+count) of the pool for a request, checking `heldOut` and `count`
 * against the pool (TokenValidationError naming the field).
 */
export function selectSplit(
  pool: Pick<TextPool, "poolSize">,
  req: SplitRequest,
): { start: number; count: number; heldOut: number } {
  const p = pool.poolSize;
  const heldOut = req.heldOut ?? defaultHeldOut(p);
  if (heldOut > p) {
    throw new TokenValidationError(
      ["heldOut"],
      `${heldOut} exceeds the pool of ${p} unique sequences`,
    );
  }
  const [start, available] = req.split === "train" ? [0, p - heldOut] : [p - heldOut, heldOut];
  if (available === 0) {
    throw new TokenValidationError(
      req.split === "train" ? ["heldOut"] : ["split"],
      `the ${req.split} split is empty (pool of ${p} unique sequences, heldOut ${heldOut})`,
    );
  }
  const count = req.count ?? available;
  if (count > available) {
    throw new TokenValidationError(
      ["count"],
      `${count} exceeds the ${available} sequences of the ${req.split} split ` +
        `(pool of ${p} unique sequences, heldOut ${heldOut})`,
    );
  }
  return { start, count, heldOut };
}

// ---- caches: the tokenized corpus per tokenizer, and the last few pools ----

export interface CorpusTiming {
  /** Reading and stripping the corpus (once per process). */
  loadMs: number;
  /** Tokenizing it with this tokenizer (once per process and tokenizer). */
  tokenizeMs: number;
}

interface TokenizedCorpus {
  documents: TokenArray[];
  timing: CorpusTiming;
}

const corpusCache = new Map<TokenizerName, TokenizedCorpus>();
let corpusLoadMs: number | null = null;

/** The Brown corpus tokenized with `tok`; computed once per process, then shared. */
export function tokenizedBrown(tok: TokenizerName): TokenizedCorpus {
  const hit = corpusCache.get(tok);
  if (hit) return hit;
  const t0 = performance.now();
  const docs = brownDocuments();
  const t1 = performance.now();
  corpusLoadMs ??= t1 - t0;
  const t = tokenizer(tok);
  const documents = docs.map((d) => t.encode(d.text));
  const entry = {
    documents,
    timing: { loadMs: corpusLoadMs, tokenizeMs: performance.now() - t1 },
  };
  corpusCache.set(tok, entry);
  return entry;
}

const POOL_CACHE_SIZE = 4;
const poolCache = new Map<string, TextPool>();

/** The shuffled, deduplicated, compacted Brown pool (the last few are kept in-process). */
export function brownPool(tok: TokenizerName, seqLen: number, seed: number): TextPool {
  const key = `brown|${tok}|${seqLen}|${seed}`;
  const hit = poolCache.get(key);
  if (hit) {
    poolCache.delete(key);
    poolCache.set(key, hit);
    return hit;
  }
  const pool = buildPool(tokenizedBrown(tok).documents, tok, seqLen, seed);
  poolCache.set(key, pool);
  while (poolCache.size > POOL_CACHE_SIZE) poolCache.delete(poolCache.keys().next().value!);
  return pool;
}

/** Uploaded text as documents: whole, or split at blank lines (empty pieces dropped). */
export function uploadDocuments(text: string, separator: "none" | "blankLine"): string[] {
  if (separator === "none") return [text];
  return text.split(/\r?\n(?:[ \t]*\r?\n)+/).filter((d) => d.trim() !== "");
}

/** The pool of an uploaded text (not cached: the text comes with the request). */
export function uploadPool(
  text: string,
  tok: TokenizerName,
  seqLen: number,
  seed: number,
  separator: "none" | "blankLine" = "none",
): TextPool {
  const t = tokenizer(tok);
  const documents = uploadDocuments(text, separator).map((d) => t.encode(d));
  return buildPool(documents, tok, seqLen, seed);
}

// ---- the compact vocabulary artifact ----
//
// `vocab.bin`, little-endian:
//   offset 0  4 bytes  magic "MCVB"
//          4  u8       format version (1)
//          5  u8       tokenizer: 1 = byte, 2 = gpt2
//          6  u16      reserved (0)
//          8  u32      V' (compact vocabulary size)
//         12  u32      the tokenizer's vocabulary size
//         16  V' u32   tokenizer id of compact id 0, 1, ..., ascending

const VOCAB_MAGIC = [0x4d, 0x43, 0x56, 0x42]; // "MCVB"
const VOCAB_HEADER = 16;
const TOKENIZER_CODE: Record<TokenizerName, number> = { byte: 1, gpt2: 2 };

export interface CompactVocabulary {
  tokenizer: TokenizerName;
  /** Compact id i ↔ tokenizer id ids[i]. */
  ids: Uint32Array;
}

export function encodeVocabulary(v: CompactVocabulary): Uint8Array {
  const bytes = new Uint8Array(VOCAB_HEADER + 4 * v.ids.length);
  const dv = new DataView(bytes.buffer);
  bytes.set(VOCAB_MAGIC, 0);
  dv.setUint8(4, 1);
  dv.setUint8(5, TOKENIZER_CODE[v.tokenizer]);
  dv.setUint32(8, v.ids.length, true);
  dv.setUint32(12, tokenizer(v.tokenizer).vocabSize, true);
  for (let i = 0; i < v.ids.length; i++) dv.setUint32(VOCAB_HEADER + 4 * i, v.ids[i], true);
  return bytes;
}

export function decodeVocabulary(bytes: Uint8Array): CompactVocabulary {
  const bad = (why: string) => new Error(`bad vocabulary artifact: ${why}`);
  if (bytes.length < VOCAB_HEADER) throw bad("shorter than its header");
  for (let i = 0; i < 4; i++) if (bytes[i] !== VOCAB_MAGIC[i]) throw bad("bad magic");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint8(4) !== 1) throw bad(`version ${dv.getUint8(4)}`);
  const code = dv.getUint8(5);
  const tok = (Object.keys(TOKENIZER_CODE) as TokenizerName[]).find((k) =>
    TOKENIZER_CODE[k] === code
  );
  if (!tok) throw bad(`unknown tokenizer code ${code}`);
  const size = dv.getUint32(8, true);
  if (bytes.length !== VOCAB_HEADER + 4 * size) throw bad("length does not match its header");
  const ids = new Uint32Array(size);
  for (let i = 0; i < size; i++) ids[i] = dv.getUint32(VOCAB_HEADER + 4 * i, true);
  return { tokenizer: tok, ids };
}

/** A short fingerprint of a compact vocabulary: equal for datasets that share one. */
export function vocabularyHash(v: CompactVocabulary): string {
  // cyrb53 (two 32-bit lanes) over the tokenizer code and the ids.
  let h1 = 0xdeadbeef ^ TOKENIZER_CODE[v.tokenizer];
  let h2 = 0x41c6ce57 ^ v.ids.length;
  for (let i = 0; i < v.ids.length; i++) {
    const x = v.ids[i];
    h1 = Math.imul(h1 ^ x, 2654435761);
    h2 = Math.imul(h2 ^ x, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  const hi = (h2 >>> 0) & 0x1fffff;
  return hi.toString(16).padStart(6, "0") + (h1 >>> 0).toString(16).padStart(8, "0");
}

/** Text of each row of compact ids. */
export function decodeRows(rows: readonly ArrayLike<number>[], v: CompactVocabulary): string[] {
  const t: TextTokenizer = tokenizer(v.tokenizer);
  return rows.map((r) => t.decode(expandTokens(r, v.ids)));
}

// ---- the dataset ----

/**
 * The record body, the encoded tokens and the vocabulary artifact for a text request.
 * Throws TokenValidationError (naming `count`, `heldOut`, `split` or `text`) when the pool
 * cannot satisfy the request.
 */
export function buildTextDataset(req: TextDatasetRequest): {
  body: DatasetBody;
  bytes: Uint8Array;
  artifacts: Record<string, Uint8Array>;
} {
  const upload = req.text !== undefined;
  const pool = upload
    ? uploadPool(req.text!, req.tokenizer, req.seqLen, req.seed, req.documentSeparator)
    : brownPool(req.tokenizer, req.seqLen, req.seed);
  if (pool.poolSize === 0) {
    throw new TokenValidationError(
      [upload ? "text" : "seqLen"],
      `no document has ${req.seqLen} tokens (${pool.sourceTokens} ${req.tokenizer} tokens in ` +
        `${pool.documents} document${pool.documents === 1 ? "" : "s"}): no sequence to cut`,
    );
  }
  const sel = selectSplit(pool, { split: req.split, count: req.count, heldOut: req.heldOut });
  const vocabSize = pool.vocab.length;
  const S = req.seqLen;
  const { bytes, tokens } = allocateEncoded({ vocabSize, seqLen: S, count: sel.count });
  tokens.set(pool.tokens.subarray(sel.start * S, (sel.start + sel.count) * S));
  const vocabulary = { tokenizer: req.tokenizer, ids: pool.vocab };
  return {
    body: {
      kind: "text",
      count: sel.count,
      seqLen: S,
      vocabSize,
      seed: req.seed,
      corpus: upload ? "upload" : req.corpus!,
      split: req.split,
      poolSize: pool.poolSize,
      heldOut: sel.heldOut,
      duplicatesDropped: pool.duplicatesDropped,
      documents: pool.documents,
      sourceTokens: pool.sourceTokens,
      vocabulary: {
        tokenizer: req.tokenizer,
        size: vocabSize,
        compacted: true,
        tokenizerVocabSize: tokenizer(req.tokenizer).vocabSize,
        hash: vocabularyHash(vocabulary),
      },
    },
    bytes,
    artifacts: { [VOCAB_ARTIFACT]: encodeVocabulary(vocabulary) },
  };
}
