/*
 * Where should the vectors live? The same rows in a PostgreSQL `bytea` column, a `real[]` column
 * and a RedisVectorStore; for 100, 1,000 and 5,000 candidate ids (random rows, as a query's
 * candidates are), the time to fetch them through the store's public `fetch` and to rerank them
 * by exact cosine in the client.
 */
import { PostgresVectorStore, RedisVectorStore, type VectorStore } from '../../src';
import type { Dataset } from './dataset';
import type { Servers } from './lshrs-runner';
import { dropPrefix } from './redis-memory';
import { Rng } from './rng';
import { median, now, progress, quantile } from './timing';

export interface PlacementRow {
  store: string;
  candidates: number;
  trials: number;
  /** Medians over the trials (ms). */
  fetch: number;
  rerank: number;
  total: number;
  totalP95: number;
}

export interface PlacementFigures {
  rows: number;
  dim: number;
  results: PlacementRow[];
}

/** Exact cosine of each row against the query, best 10 kept: the client's share of a query. */
function rerank(query: Float32Array, rows: Iterable<{ id: unknown; vector: Float32Array }>): number {
  let qNorm = 0;
  for (let i = 0; i < query.length; i++) qNorm += query[i] * query[i];
  const scored: { id: unknown; score: number }[] = [];
  for (const row of rows) {
    const v = row.vector;
    let dot = 0;
    let norm = 0;
    for (let i = 0; i < v.length; i++) {
      dot += query[i] * v[i];
      norm += v[i] * v[i];
    }
    scored.push({ id: row.id, score: dot / Math.sqrt(qNorm * norm) });
  }
  scored.sort((a, b) => b.score - a.score);
  return scored.slice(0, 10).length;
}

async function fill(store: VectorStore, data: Dataset, rows: number): Promise<void> {
  for (const chunk of data.chunks(1000)) {
    if (chunk.start >= rows) break;
    const count = Math.min(chunk.count, rows - chunk.start);
    await store.upsert?.(
      Array.from({ length: count }, (_, r) => ({
        id: chunk.start + r,
        vector: chunk.data.subarray(r * data.dim, (r + 1) * data.dim),
        text: data.text(chunk.start + r),
      })),
    );
  }
}

export async function measurePlacement(
  data: Dataset,
  servers: Servers,
  options: { rows: number; sizes: number[]; trials: number; tablePrefix: string },
): Promise<PlacementFigures> {
  const { pool, redis } = servers;
  const rows = Math.min(options.rows, data.n);
  const byteaTable = `${options.tablePrefix}_bytea`;
  const realTable = `${options.tablePrefix}_real`;
  const redisPrefix = `${options.tablePrefix}-vectors`;
  await pool.query(`DROP TABLE IF EXISTS "${byteaTable}", "${realTable}"`);
  await PostgresVectorStore.createTable(pool, { table: byteaTable, vectorType: 'bytea' });
  await PostgresVectorStore.createTable(pool, { table: realTable, vectorType: 'real[]' });
  await dropPrefix(redis, redisPrefix);
  const stores: { name: string; store: VectorStore }[] = [
    { name: 'PostgreSQL bytea', store: new PostgresVectorStore({ pool, table: byteaTable }) },
    { name: 'PostgreSQL real[]', store: new PostgresVectorStore({ pool, table: realTable }) },
    { name: 'RedisVectorStore', store: new RedisVectorStore({ redis, prefix: redisPrefix }) },
  ];
  for (const { name, store } of stores) {
    await fill(store, data, rows);
    progress(`  placement: ${rows} rows into ${name}`);
  }
  await pool.query(`VACUUM ANALYZE "${byteaTable}"`);
  await pool.query(`VACUUM ANALYZE "${realTable}"`);

  const results: PlacementRow[] = [];
  try {
    for (const size of options.sizes.filter((s) => s <= rows)) {
      // The same candidate sets and queries for every store.
      const rng = new Rng(`placement:${size}`);
      const sets = Array.from({ length: options.trials + 1 }, () => {
        const ids = new Set<number>();
        while (ids.size < size) ids.add(rng.int(rows));
        return [...ids];
      });
      for (const { name, store } of stores) {
        const fetches: number[] = [];
        const reranks: number[] = [];
        const totals: number[] = [];
        for (let t = 0; t < sets.length; t++) {
          const query = data.queries.subarray((t % data.queryCount) * data.dim, ((t % data.queryCount) + 1) * data.dim);
          const started = now();
          const fetched = await store.fetch(sets[t]);
          const fetchedAt = now();
          rerank(query, fetched);
          const done = now();
          if (t === 0) continue; // warm-up
          fetches.push(fetchedAt - started);
          reranks.push(done - fetchedAt);
          totals.push(done - started);
        }
        results.push({
          store: name,
          candidates: size,
          trials: options.trials,
          fetch: median(fetches),
          rerank: median(reranks),
          total: median(totals),
          totalP95: quantile(totals, 0.95),
        });
      }
    }
  } finally {
    await pool.query(`DROP TABLE IF EXISTS "${byteaTable}", "${realTable}"`);
    await dropPrefix(redis, redisPrefix);
  }
  return { rows, dim: data.dim, results };
}
