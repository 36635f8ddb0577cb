import type { ScannedRow, VectorStore } from '../stores/types';

export interface StorePage {
  rows: ScannedRow[];
  /** The last id of the page, as text: the position a build records once the page has landed. */
  last: string;
}

/**
 * Pages of a store in id order, the next one read while the current one is processed. The store
 * ends where a page comes back empty, never at a short page: a store that leaves rows out of a
 * page (NULL vectors, say) must not end a build early.
 */
export async function* storePages(store: Required<Pick<VectorStore, 'scan'>>, after: string | null, limit: number): AsyncGenerator<StorePage> {
  let next = store.scan(after, limit);
  for (;;) {
    const rows = await next;
    if (rows.length === 0) return;
    const last = String(rows[rows.length - 1].id);
    next = store.scan(last, limit);
    next.catch(() => undefined); // awaited on the next turn; see runPipeline
    yield { rows, last };
  }
}
