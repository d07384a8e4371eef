// Keys a request body sends that its schema does not know. zod objects drop
// unknown keys silently, so a typo such as "trainig" used to start a sweep on
// every default; the route layer refuses them instead (422), naming the key
// and, when one is close, the key meant. Walking the schema beside the value
// keeps the request schemas as they are (they are response schemas too).
import type { z } from "zod";

export interface UnknownKey {
  /** Where the key was sent, e.g. ["training", "trainig"]. */
  path: (string | number)[];
  /** The known key closest to it, when one is close enough to be a typo. */
  suggestion?: string;
}

// zod v4's definition of a schema, as far as the walk needs it.
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  innerType?: z.ZodType;
  element?: z.ZodType;
  items?: z.ZodType[];
  options?: z.ZodType[];
  in?: z.ZodType;
  out?: z.ZodType;
  left?: z.ZodType;
  right?: z.ZodType;
  getter?: () => z.ZodType;
}

const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Every key of `value` that `schema` has no place for (value already passed the schema). */
export function unknownKeys(
  schema: z.ZodType,
  value: unknown,
  path: (string | number)[] = [],
): UnknownKey[] {
  // Token arrays hold millions of numbers: no need to visit what cannot hold a key.
  if (value === null || typeof value !== "object" || !holdsObjects(schema)) return [];
  const def = defOf(schema);
  switch (def.type) {
    case "object": {
      if (value === null || typeof value !== "object" || Array.isArray(value)) return [];
      const shape = def.shape ?? {};
      const known = Object.keys(shape);
      const out: UnknownKey[] = [];
      for (const [key, v] of Object.entries(value)) {
        if (Object.hasOwn(shape, key)) out.push(...unknownKeys(shape[key], v, [...path, key]));
        else if (!def.catchall || defOf(def.catchall).type === "never") {
          out.push({ path: [...path, key], suggestion: closest(key, known) });
        }
      }
      return out;
    }
    case "optional":
    case "nullable":
    case "default":
    case "prefault":
    case "readonly":
    case "catch":
    case "nonoptional":
      return value === undefined || value === null ? [] : unknownKeys(def.innerType!, value, path);
    case "array":
      return Array.isArray(value)
        ? value.flatMap((v, i) => unknownKeys(def.element!, v, [...path, i]))
        : [];
    case "tuple":
      return Array.isArray(value)
        ? (def.items ?? []).flatMap((s, i) => unknownKeys(s, value[i], [...path, i]))
        : [];
    case "union": {
      // The options the value fits; of those, the one it fits best.
      let best: UnknownKey[] | null = null;
      for (const option of def.options ?? []) {
        if (!option.safeParse(value).success) continue;
        const found = unknownKeys(option, value, path);
        if (best === null || found.length < best.length) best = found;
      }
      return best ?? [];
    }
    case "pipe":
      return unknownKeys(def.in!, value, path);
    case "intersection": {
      // A key is unknown only when neither side knows it.
      const left = unknownKeys(def.left!, value, path);
      const right = new Set(unknownKeys(def.right!, value, path).map((u) => u.path.join(".")));
      return left.filter((u) => right.has(u.path.join(".")));
    }
    case "lazy":
      return unknownKeys(def.getter!(), value, path);
    default:
      return [];
  }
}

const holding = new WeakMap<z.ZodType, boolean>();

/** Whether a value of `schema` can contain an object with keys (memoized per schema). */
function holdsObjects(schema: z.ZodType): boolean {
  let known = holding.get(schema);
  if (known !== undefined) return known;
  holding.set(schema, true); // a cycle (lazy) counts as holding objects
  const def = defOf(schema);
  const inner = [
    def.innerType,
    def.element,
    def.in,
    def.left,
    def.right,
    ...(def.items ?? []),
    ...(def.options ?? []),
    ...(def.type === "lazy" ? [def.getter!()] : []),
  ].filter((s): s is z.ZodType => s !== undefined);
  known = def.type === "object" || inner.some(holdsObjects);
  holding.set(schema, known);
  return known;
}

/** The known key within a typo's reach of `key` (edit distance ≤ 2, ≤ a third of its length). */
export function closest(key: string, known: string[]): string | undefined {
  let best: string | undefined, bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return bestDistance <= Math.min(2, Math.ceil(key.length / 3)) ? best : undefined;
}

/** Levenshtein distance with adjacent transpositions counted as one edit. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}
