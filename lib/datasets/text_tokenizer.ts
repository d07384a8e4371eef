// Tokenizers for text datasets: GPT-2's byte-level BPE (r50k_base, 50,257 ids, from the npm
// package `gpt-tokenizer`, which ships its merge ranks: nothing is downloaded) or raw UTF-8
// bytes (256 ids).
import { encode as gpt2Encode } from "gpt-tokenizer/encoding/gpt2";
import gpt2Ranks from "gpt-tokenizer/bpeRanks/r50k_base";

export const TOKENIZER_NAMES = ["gpt2", "byte"] as const;
export type TokenizerName = typeof TOKENIZER_NAMES[number];

/** Token ids of a text: bytes fit a Uint8Array, GPT-2 ids (< 65,536) a Uint16Array. */
export type TokenArray = Uint8Array | Uint16Array | Uint32Array;

export interface TextTokenizer {
  name: TokenizerName;
  /** Number of ids the tokenizer can produce (before compaction). */
  vocabSize: number;
  encode(text: string): TokenArray;
  /** Text of tokenizer ids; bytes that do not form whole UTF-8 characters become U+FFFD. */
  decode(ids: ArrayLike<number>): string;
}

// Special tokens such as "<|endoftext|>" in the text are encoded as the plain text they are,
// never as the special id (an uploaded text cannot inject control tokens, nor fail).
const NO_SPECIAL = { allowedSpecial: new Set<string>(), disallowedSpecial: new Set<string>() };

const utf8 = new TextEncoder();

/** Bytes of each GPT-2 id: the package's rank table holds a string (valid UTF-8) or bytes. */
let gpt2Bytes: Uint8Array[] | null = null;
const END_OF_TEXT = 50256;

function gpt2TokenBytes(): Uint8Array[] {
  gpt2Bytes ??= gpt2Ranks.map((t) => typeof t === "string" ? utf8.encode(t) : Uint8Array.from(t));
  return gpt2Bytes;
}

/**
 * GPT-2 ids to text. Not gpt-tokenizer's own `decode`: that one runs every call through one
 * shared streaming TextDecoder, so a sequence that ends inside a multi-byte character loses
 * those bytes and the next call's text starts with them.
 */
function gpt2DecodeIds(ids: ArrayLike<number>): string {
  const table = gpt2TokenBytes();
  const parts: Uint8Array[] = [];
  let n = 0;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    const b = id === END_OF_TEXT ? utf8.encode("<|endoftext|>") : table[id];
    if (b === undefined) throw new RangeError(`${id} is not a GPT-2 token id`);
    parts.push(b);
    n += b.length;
  }
  const bytes = new Uint8Array(n);
  for (let i = 0, at = 0; i < parts.length; at += parts[i].length, i++) bytes.set(parts[i], at);
  return new TextDecoder("utf-8", { fatal: false }).decode(bytes);
}

const gpt2: TextTokenizer = {
  name: "gpt2",
  vocabSize: 50257,
  encode: (text) => Uint16Array.from(gpt2Encode(text, NO_SPECIAL)),
  decode: gpt2DecodeIds,
};

const bytes: TextTokenizer = {
  name: "byte",
  vocabSize: 256,
  encode: (text) => utf8.encode(text),
  decode: (ids) => new TextDecoder("utf-8", { fatal: false }).decode(Uint8Array.from(ids)),
};

export function tokenizer(name: TokenizerName): TextTokenizer {
  switch (name) {
    case "gpt2":
      return gpt2;
    case "byte":
      return bytes;
    default: {
      const unknown: never = name;
      throw new RangeError(`unknown tokenizer ${JSON.stringify(unknown)}`);
    }
  }
}

/** Bytes of `text` in UTF-8, without encoding it (lone surrogates count 3, as U+FFFD). */
export function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}
