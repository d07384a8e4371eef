// One page of a collection as the API returns it: the items, and the cursor of the next page.
import { ApiError, VALIDATION_STATUS } from "./errors.ts";
import type { ListQuery } from "../store/schemas.ts";
import { type Collection, InvalidCursorError, type Rec, type Store } from "../store/store.ts";

/** A store page as the API returns it; a bad cursor is a 422 naming `query.cursor`. */
export async function listPage<B, T>(
  store: Store,
  collection: Collection,
  query: ListQuery,
  toItem: (rec: Rec<B>) => T,
): Promise<{ items: T[]; nextCursor: string | null }> {
  try {
    const page = await store.list<B>(collection, { limit: query.limit, cursor: query.cursor });
    return { items: page.items.map(toItem), nextCursor: page.nextCursor };
  } catch (e) {
    if (e instanceof InvalidCursorError) {
      throw new ApiError(VALIDATION_STATUS, "validation_error", `query.cursor: ${e.message}`);
    }
    throw e;
  }
}
