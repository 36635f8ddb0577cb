/*
 * The filtered bench's data: a `category` column derived from the id, the four filters, the table
 * that holds them, and the exact answer among the matching rows.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type pg from 'pg';
import type { Filter } from '../../src';
import { float32ToLE } from '../../src/float32';
import type { Dataset, VectorChunk } from './dataset';
import { exactTopK } from './exact';
import { progress } from './timing';

export const DIM = 384;
export const CACHE = resolve(__dirname, '..', '..', '.bench-cache');
export const CATEGORIES = 1000;
/** A row's category: its id mixed (so that it is unrelated to where the generator put the row), mod 1,000. */
export const categoryOf = (id: number) => (Math.imul(id ^ (id >>> 15), 0x2c1b3c6d) >>> 0) % CATEGORIES;

/** Each filter as lshrs states it, as SQL (for pgvector), and as a predicate (for the exact answer). */
export const FILTERS: { label: string; filter: Filter; where: string; matches: (c: number) => boolean }[] = [
  { label: '50%', filter: { category: { $lt: 500 } }, where: 'category < 500', matches: (c) => c < 500 },
  { label: '10%', filter: { category: { $lt: 100 } }, where: 'category < 100', matches: (c) => c < 100 },
  {
    label: '1%',
    filter: { category: { $in: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] } },
    where: 'category = ANY(ARRAY[0,1,2,3,4,5,6,7,8,9])',
    matches: (c) => c < 10,
  },
  { label: '0.1%', filter: { category: 0 }, where: 'category = 0', matches: (c) => c === 0 },
];

/** The base rows that match, compacted, with the real id of each compacted row. */
function matchingChunks(data: Dataset, matches: (c: number) => boolean, realIds: number[]): Iterable<VectorChunk> {
  return (function* () {
    for (const chunk of data.chunks()) {
      const keep: number[] = [];
      for (let r = 0; r < chunk.count; r++) if (matches(categoryOf(chunk.start + r))) keep.push(r);
      const dim = data.dim;
      const out = new Float32Array(keep.length * dim);
      keep.forEach((r, i) => out.set(chunk.data.subarray(r * dim, (r + 1) * dim), i * dim));
      const start = realIds.length;
      for (const r of keep) realIds.push(chunk.start + r);
      yield { start, count: keep.length, data: out };
    }
  })();
}

/** Exact top-10 among the matching rows of each query, cached. */
export function filteredTruth(data: Dataset, index: number, queries: number): Int32Array {
  const dir = join(CACHE, 'truth');
  const path = join(dir, `${data.key}-filtered${index}-cat${CATEGORIES}-q${queries}-top10.i32`);
  if (existsSync(path)) return new Int32Array(new Uint8Array(readFileSync(path)).buffer);
  const realIds: number[] = [];
  const found = exactTopK(data.queries, queries, data.dim, matchingChunks(data, FILTERS[index].matches, realIds), 10);
  const ids = Int32Array.from(found.ids, (i) => (i < 0 ? -1 : realIds[i]));
  mkdirSync(dir, { recursive: true });
  writeFileSync(path, new Uint8Array(ids.buffer));
  return ids;
}

export async function loadTable(data: Dataset, pool: pg.Pool, table: string): Promise<void> {
  const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM pg_tables WHERE tablename = $1', [table]);
  if (Number(rows[0].n) > 0 && Number((await pool.query(`SELECT count(*) AS n FROM "${table}"`)).rows[0].n) === data.n) return;
  progress(`loading ${table} (${data.n} rows with a category column; not timed)`);
  await pool.query(`DROP TABLE IF EXISTS "${table}"`);
  await pool.query(`CREATE TABLE "${table}" (id bigint PRIMARY KEY, embedding bytea NOT NULL, text text, category int NOT NULL)`);
  for (const chunk of data.chunks()) {
    for (let r = 0; r < chunk.count; r += 5000) {
      const count = Math.min(5000, chunk.count - r);
      const ids = Array.from({ length: count }, (_, i) => chunk.start + r + i);
      await pool.query(`INSERT INTO "${table}" SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::text[], $4::int[])`, [
        ids,
        ids.map((_, i) => float32ToLE(chunk.data.subarray((r + i) * data.dim, (r + i + 1) * data.dim))),
        ids.map((id) => data.text(id)),
        ids.map(categoryOf),
      ]);
    }
  }
  await pool.query(`CREATE INDEX ON "${table}" (category)`);
  await pool.query(`VACUUM ANALYZE "${table}"`);
}
