import { LshrsError } from '../errors';
import type { Id } from '../ids';
import type { StoredItem } from '../stores/types';

/** One search result, best first. */
export interface Hit {
  id: Id;
  /** Exact cosine similarity when reranked; otherwise the cosine its sketch's distance to the query's estimates. */
  score: number;
  /** How many of the query's band buckets the id shares. */
  collisions: number;
  /** The row's text, when the store has one. */
  text?: string | null;
}

export interface Candidates {
  ids: readonly Id[];
  collisions: readonly number[];
}

/**
 * Exact cosine of each fetched candidate against the query; candidates the store no longer has are
 * skipped. Ties go to more collisions, then to the sketch ranking's order.
 */
export function rerankByCosine(query: Float32Array, candidates: Candidates, rows: Iterable<StoredItem>, topK: number): Hit[] {
  const rankOf = new Map<string, number>();
  candidates.ids.forEach((id, rank) => rankOf.set(String(id), rank));
  let qNorm = 0;
  for (let i = 0; i < query.length; i++) qNorm += query[i] * query[i];
  qNorm = Math.sqrt(qNorm);

  const scored: { hit: Hit; rank: number }[] = [];
  for (const row of rows) {
    const rank = rankOf.get(String(row.id));
    if (rank === undefined) continue;
    const v = row.vector;
    if (v.length !== query.length) {
      throw new LshrsError('BAD_STORE', `stored vector of id ${String(row.id)} has ${v.length} dimensions, the index has ${query.length}`);
    }
    let dot = 0;
    let norm = 0;
    for (let i = 0; i < v.length; i++) {
      dot += query[i] * v[i];
      norm += v[i] * v[i];
    }
    if (norm === 0 || !Number.isFinite(dot)) continue;
    const hit: Hit = { id: candidates.ids[rank], score: dot / (qNorm * Math.sqrt(norm)), collisions: candidates.collisions[rank] };
    if (row.text !== undefined) hit.text = row.text;
    scored.push({ hit, rank });
  }
  scored.sort((a, b) => b.hit.score - a.hit.score || b.hit.collisions - a.hit.collisions || a.rank - b.rank);
  return scored.slice(0, topK).map((s) => s.hit);
}
