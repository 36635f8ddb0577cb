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

const normOf = (v: Float32Array): number => {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  return Math.sqrt(sum);
};

/** The hit of a stored row scored by exact cosine (null for a zero or non-finite vector); BAD_STORE for another dimension. */
function scoredHit(query: Float32Array, qNorm: number, row: StoredItem, id: Id, collisions: number): Hit | null {
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
  if (norm === 0 || !Number.isFinite(dot)) return null;
  const hit: Hit = { id, score: dot / (qNorm * Math.sqrt(norm)), collisions };
  if (row.text !== undefined) hit.text = row.text;
  if (row.row !== undefined) hit.row = row.row;
  return hit;
}

/**
 * Exact cosine of each fetched candidate against the query; candidates the store no longer has are
 * skipped. Ties go to more collisions, then to the sketch ranking's order.
 */
export function rerankByCosine(query: Float32Array, candidates: Candidates, rows: Iterable<StoredItem>, topK: number): Hit[] {
  const rankOf = new Map<string, number>();
  candidates.ids.forEach((id, rank) => rankOf.set(String(id), rank));
  const qNorm = normOf(query);
  const scored: { hit: Hit; rank: number }[] = [];
  for (const row of rows) {
    const rank = rankOf.get(String(row.id));
    if (rank === undefined) continue;
    const hit = scoredHit(query, qNorm, row, candidates.ids[rank], candidates.collisions[rank]);
    if (hit) scored.push({ hit, rank });
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
    this.qNorm = normOf(query);
  }

  add(rows: Iterable<StoredItem>): void {
    for (const row of rows) {
      const hit = scoredHit(this.query, this.qNorm, row, this.idOf(row.id), 0);
      if (hit) this.hits.push(hit);
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
