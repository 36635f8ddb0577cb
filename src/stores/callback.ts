import type { Id } from '../ids';
import type { FetchVectors, MatchRequest, StoredItem, VectorStore } from './types';

/**
 * Adapts the `fetchVectors` option to a read-only {@link VectorStore}. A filtered query hands the
 * callback its filter and columns as the second argument: it returns only matching rows (with the
 * columns as `row`) or throws.
 */
export function callbackStore(fetchVectors: FetchVectors): VectorStore {
  const fetch = async (ids: readonly Id[], request?: MatchRequest): Promise<Iterable<StoredItem>> => {
    const result = await (request ? fetchVectors(ids, request) : fetchVectors(ids));
    const items: StoredItem[] = [];
    if (result instanceof Map) {
      for (const [id, vector] of result) items.push({ id, vector: Float32Array.from(vector) });
    } else {
      for (const row of result) {
        const item: StoredItem = { id: row.id, vector: Float32Array.from(row.vector), text: row.text };
        if (row.row !== undefined) item.row = row.row;
        items.push(item);
      }
    }
    return items;
  };
  return { fetch: (ids) => fetch(ids), fetchMatching: fetch };
}
