// Shapes shared by every collection's HTTP listing (zod v4).
import { z } from "zod";

/** `GET /v1/{collection}?limit=&cursor=` (query strings, hence coerce). */
export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20).describe(
    "Page size, 1..100 (default 20).",
  ),
  cursor: z.string().min(1).max(200).optional().describe(
    "Opaque `nextCursor` from the previous page.",
  ),
});
export type ListQuery = z.infer<typeof ListQuery>;

/** A page of `item`, newest first; register the result under `id`. */
export function pageSchema<T extends z.ZodType>(item: T, id: string) {
  // A page's example is one page holding the item's own example.
  const example = item.meta()?.example;
  return z.object({
    items: z.array(item),
    nextCursor: z.string().nullable().describe(
      "Pass as `cursor` for the next page; null at the end.",
    ),
  }).meta({
    id,
    ...(example === undefined ? {} : { example: { items: [example], nextCursor: null } }),
  });
}
