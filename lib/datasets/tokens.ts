// Validation of uploaded token sequences (`{kind:"tokens", vocabSize, sequences}`).
// Errors name the offending element: `sequences[3][7]: token 5000 ≥ vocabSize 2048`.

/** Longest sequence accepted (matches ModelConfig's seqLen bound). */
export const MAX_SEQ_LEN = 4096;
/** Largest vocabulary accepted (matches ModelConfig's vocabSize bound). */
export const MAX_VOCAB_SIZE = 1 << 20;
/** Most tokens (N·S) in one dataset: the paper's largest, 4M sequences of 64. */
export const MAX_DATASET_TOKENS = 2 ** 28;

export class TokenValidationError extends RangeError {
  /** e.g. ["sequences", 3, 7] */
  readonly path: (string | number)[];
  /** The path written the way the message starts: `sequences[3][7]`. */
  readonly field: string;
  /** The message without the field prefix. */
  readonly detail: string;

  constructor(path: (string | number)[], detail: string) {
    const field = formatPath(path);
    super(`${field}: ${detail}`);
    this.name = "TokenValidationError";
    this.path = path;
    this.field = field;
    this.detail = detail;
  }
}

/** ["sequences", 3, 7] -> "sequences[3][7]"; ["config", "heads"] -> "config.heads". */
export function formatPath(path: readonly PropertyKey[]): string {
  let s = "";
  for (const p of path) {
    if (typeof p === "number") s += `[${p}]`;
    else s += s === "" ? String(p) : `.${String(p)}`;
  }
  return s;
}

export interface ValidSequences {
  count: number;
  seqLen: number;
  /** N*S token ids, row-major. */
  tokens: Uint32Array;
}

/**
 * Checks that `sequences` is a non-empty array of equally long arrays
 * (length S ≥ 2) of integer token ids in [0, vocabSize), and packs them.
 * Throws TokenValidationError naming the first offending element.
 * `field` is the name used in messages (default "sequences").
 */
export function validateSequences(
  sequences: unknown,
  vocabSize: number,
  field = "sequences",
): ValidSequences {
  if (!Number.isInteger(vocabSize) || vocabSize < 2 || vocabSize > MAX_VOCAB_SIZE) {
    throw new TokenValidationError(
      ["vocabSize"],
      `${vocabSize} is not an integer in [2, ${MAX_VOCAB_SIZE}]`,
    );
  }
  if (!Array.isArray(sequences)) {
    throw new TokenValidationError([field], "must be an array of token arrays");
  }
  const count = sequences.length;
  if (count < 1) throw new TokenValidationError([field], "must hold at least 1 sequence");
  const first = sequences[0];
  if (!Array.isArray(first)) {
    throw new TokenValidationError([field, 0], "must be an array of token ids");
  }
  const seqLen = first.length;
  if (seqLen < 2) {
    throw new TokenValidationError(
      [field, 0],
      `length ${seqLen} < 2 (a sequence needs a first token and at least one to predict)`,
    );
  }
  if (seqLen > MAX_SEQ_LEN) {
    throw new TokenValidationError([field, 0], `length ${seqLen} > ${MAX_SEQ_LEN}`);
  }
  if (count * seqLen > MAX_DATASET_TOKENS) {
    throw new TokenValidationError(
      [field],
      `${count} sequences of ${seqLen} tokens exceed ${MAX_DATASET_TOKENS} tokens`,
    );
  }
  const tokens = new Uint32Array(count * seqLen);
  for (let i = 0; i < count; i++) {
    const seq = sequences[i];
    if (!Array.isArray(seq)) {
      throw new TokenValidationError([field, i], "must be an array of token ids");
    }
    if (seq.length !== seqLen) {
      throw new TokenValidationError(
        [field, i],
        `length ${seq.length} ≠ ${seqLen} (the length of ${field}[0]; all sequences must be equally long)`,
      );
    }
    const base = i * seqLen;
    for (let j = 0; j < seqLen; j++) {
      const t = seq[j];
      if (typeof t !== "number" || !Number.isInteger(t)) {
        throw new TokenValidationError(
          [field, i, j],
          `token ${JSON.stringify(t) ?? String(t)} is not an integer`,
        );
      }
      if (t < 0) throw new TokenValidationError([field, i, j], `token ${t} < 0`);
      if (t >= vocabSize) {
        throw new TokenValidationError([field, i, j], `token ${t} ≥ vocabSize ${vocabSize}`);
      }
      tokens[base + j] = t;
    }
  }
  return { count, seqLen, tokens };
}
