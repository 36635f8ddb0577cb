/*
 * pgvector's HNSW in PGlite (the pgvector that runs here: Debian 12 ships none) answering the
 * filtered bench's queries with the same WHERE: `ORDER BY embedding <=> q LIMIT 10` under a filter,
 * at ef_search 40 (its default) and, from pgvector 0.8, with its iterative index scans.
 */
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import type { Dataset } from '../dataset';
import { now, percentiles, type Percentiles } from '../timing';

export interface FilteredPeerPoint {
  setting: string;
  filter: string;
  recall: number;
  latency: Percentiles;
}

export interface FilteredPeerResult {
  version: string;
  buildSeconds: number;
  points: FilteredPeerPoint[];
}

const literal = (v: Float32Array) => `[${Array.prototype.join.call(v, ',')}]`;

/**
 * `filters`: a label, a SQL condition on `category` and the exact top 10 of each query among the
 * matching rows (ids, 10 per query).
 */
export async function pgvectorFiltered(
  data: Dataset,
  categoryOf: (id: number) => number,
  filters: { label: string; where: string; truth: Int32Array }[],
  queries: number,
): Promise<FilteredPeerResult> {
  const db = await PGlite.create({ extensions: { vector } });
  try {
    await db.exec(
      `CREATE EXTENSION IF NOT EXISTS vector; CREATE TABLE items (id integer PRIMARY KEY, embedding vector(${data.dim}) NOT NULL, category int NOT NULL);`,
    );
    const version = (await db.query<{ v: string }>(`SELECT extversion AS v FROM pg_extension WHERE extname = 'vector'`)).rows[0].v;
    for (const chunk of data.chunks(1000)) {
      const ids = Array.from({ length: chunk.count }, (_, r) => chunk.start + r);
      const vectors = ids.map((_, r) => literal(chunk.data.subarray(r * data.dim, (r + 1) * data.dim)));
      await db.query('INSERT INTO items SELECT * FROM unnest($1::integer[], $2::text[]::vector[], $3::integer[])', [
        ids,
        vectors,
        ids.map(categoryOf),
      ]);
    }
    await db.exec(`SET maintenance_work_mem = '1GB'; CREATE INDEX ON items (category); ANALYZE items;`);
    const started = now();
    await db.exec('CREATE INDEX items_hnsw ON items USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)');
    const buildSeconds = (now() - started) / 1000;
    const [major, minor] = version.split('.').map(Number);
    const settings = [{ label: 'ef_search 40', sql: 'SET hnsw.ef_search = 40' }];
    if (major > 0 || minor >= 8)
      settings.push({ label: 'ef_search 40, iterative_scan relaxed_order', sql: 'SET hnsw.ef_search = 40; SET hnsw.iterative_scan = relaxed_order' });
    const points: FilteredPeerPoint[] = [];
    for (const setting of settings) {
      await db.exec(`RESET ALL; ${setting.sql}`);
      for (const f of filters) {
        const latencies = new Float64Array(queries);
        let found = 0;
        for (let q = 0; q < queries; q++) {
          const t = now();
          const { rows } = await db.query<{ id: number }>(`SELECT id FROM items WHERE ${f.where} ORDER BY embedding <=> $1::vector LIMIT 10`, [
            literal(data.queries.subarray(q * data.dim, (q + 1) * data.dim)),
          ]);
          latencies[q] = now() - t;
          const want = new Set(f.truth.subarray(q * 10, q * 10 + 10));
          found += rows.filter((r) => want.has(r.id)).length;
        }
        points.push({ setting: setting.label, filter: f.label, recall: found / (queries * 10), latency: percentiles(latencies) });
      }
    }
    return { version, buildSeconds, points };
  } finally {
    await db.close();
  }
}
