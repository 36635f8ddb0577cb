import type { Id } from '../ids';
import type { FetchVectors, StoredItem, VectorStore } from './types';

/** Adapts the `fetchVectors` option to a read-only {@link VectorStore}. */
export function callbackStore(fetchVectors: FetchVectors): VectorStore {
  return {
    async fetch(ids: readonly Id[]): Promise<Iterable<StoredItem>> {
      const result = await fetchVectors(ids);
      const items: StoredItem[] = [];
      if (result instanceof Map) {
        for (const [id, vector] of result) items.push({ id, vector: Float32Array.from(vector) });
      } else {
        for (const row of result) items.push({ id: row.id, vector: Float32Array.from(row.vector), text: row.text });
      }
      return items;
    },
  };
}
