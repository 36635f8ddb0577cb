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
  /** The columns the query asked for (`columns`), by name. */
  row?: Record<string, unknown>;
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
    if (row.row !== undefined) hit.row = row.row;
    scored.push({ hit, rank });
  }
  scored.sort((a, b) => b.hit.score - a.hit.score || b.hit.collisions - a.hit.collisions || a.rank - b.rank);
  return scored.slice(0, topK).map((s) => s.hit);
}

/**
 * The `topK` rows nearest to the query by exact cosine, of rows handed over a page at a time (an
 * exact scan): memory stays a few times topK whatever the rows.
 */
export class ExactTopK {
  private hits: Hit[] = [];
  private readonly qNorm: number;

  constructor(
    private readonly query: Float32Array,
    private readonly topK: number,
    private readonly idOf: (id: Id) => Id,
  ) {
    let norm = 0;
    for (let i = 0; i < query.length; i++) norm += query[i] * query[i];
    this.qNorm = Math.sqrt(norm);
  }

  add(rows: Iterable<StoredItem>): void {
    const { query } = this;
    for (const row of rows) {
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
      const hit: Hit = { id: this.idOf(row.id), score: dot / (this.qNorm * Math.sqrt(norm)), collisions: 0 };
      if (row.text !== undefined) hit.text = row.text;
      if (row.row !== undefined) hit.row = row.row;
      this.hits.push(hit);
    }
    if (this.hits.length > 4 * this.topK) this.trim();
  }

  private trim(): void {
    this.hits.sort((a, b) => b.score - a.score);
    this.hits.length = Math.min(this.hits.length, this.topK);
  }

  result(): Hit[] {
    this.trim();
    return this.hits;
  }
}
