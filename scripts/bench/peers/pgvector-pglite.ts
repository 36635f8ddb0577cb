/*
 * pgvector's HNSW inside PGlite: PostgreSQL and the real pgvector extension compiled to WASM,
 * in process. Debian 12 ships no pgvector package, so this is the pgvector that runs here. It is a
 * WASM build on one thread: slower than a native pgvector, and labelled so in the report.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import type { Dataset, Neighbours } from '../dataset';
import { recallAt } from '../ground-truth';
import { medianPercentiles, now, percentiles, progress, type Percentiles } from '../timing';
import type { PeerResult } from './types';

export interface PgvectorOptions {
  m: number;
  efConstruction: number;
  efs: number[];
  repeats: number;
}

export const PGVECTOR_DEFAULTS = { m: 16, efConstruction: 64, efs: [10, 20, 40, 80, 160] };

const literal = (v: Float32Array) => `[${Array.prototype.join.call(v, ',')}]`;

export function pgliteVersion(): string {
  // The package's exports hide its package.json: walk up from its entry point.
  try {
    for (let dir = dirname(require.resolve('@electric-sql/pglite')); dir !== dirname(dir); dir = dirname(dir)) {
      const path = join(dir, 'package.json');
      if (!existsSync(path)) continue;
      const pkg = JSON.parse(readFileSync(path, 'utf8')) as { name?: string; version: string };
      if (pkg.name === '@electric-sql/pglite') return pkg.version;
    }
  } catch {
    // unknown below
  }
  return 'unknown';
}

export async function pgvectorPeer(data: Dataset, truth: Neighbours, options: PgvectorOptions): Promise<PeerResult> {
  const peer = 'pgvector HNSW in PGlite (WASM build)';
  let db: PGlite;
  try {
    db = await PGlite.create({ extensions: { vector } });
  } catch (err) {
    return { peer, points: [], skipped: `PGlite with pgvector did not start: ${(err as Error).message}` };
  }
  try {
    const version = (await db.query<{ v: string }>('SELECT version() AS v')).rows[0].v.split(' ').slice(0, 2).join(' ');
    await db.exec(`CREATE EXTENSION IF NOT EXISTS vector; CREATE TABLE items (id integer PRIMARY KEY, embedding vector(${data.dim}) NOT NULL);`);
    const vectorVersion = (await db.query<{ v: string }>(`SELECT extversion AS v FROM pg_extension WHERE extname = 'vector'`)).rows[0].v;
    let started = now();
    for (const chunk of data.chunks(1000)) {
      const ids = Array.from({ length: chunk.count }, (_, r) => chunk.start + r);
      const vectors = ids.map((_, r) => literal(chunk.data.subarray(r * data.dim, (r + 1) * data.dim)));
      await db.query('INSERT INTO items SELECT * FROM unnest($1::integer[], $2::text[]::vector[])', [ids, vectors]);
    }
    const loadSeconds = (now() - started) / 1000;
    await db.exec(`SET maintenance_work_mem = '1GB'`);
    started = now();
    await db.exec(
      `CREATE INDEX items_hnsw ON items USING hnsw (embedding vector_cosine_ops) WITH (m = ${options.m}, ef_construction = ${options.efConstruction})`,
    );
    const buildSeconds = (now() - started) / 1000;
    progress(
      `  pgvector (PGlite) loaded at ${(data.n / loadSeconds).toFixed(0)} rows/s, HNSW built at ${(data.n / buildSeconds).toFixed(0)} vectors/s`,
    );
    const size = (await db.query<{ bytes: number }>(`SELECT pg_relation_size('items_hnsw')::float8 AS bytes`)).rows[0].bytes;

    const queries = Array.from({ length: data.queryCount }, (_, q) => literal(data.queries.subarray(q * data.dim, (q + 1) * data.dim)));
    const points = [];
    for (const ef of options.efs) {
      await db.exec(`SET hnsw.ef_search = ${ef}`);
      const repeats: Percentiles[] = [];
      const recall = { at1: 0, at10: 0 };
      for (let r = 0; r < options.repeats; r++) {
        const latencies = new Float64Array(queries.length);
        for (let q = 0; q < queries.length; q++) {
          const t = now();
          const { rows } = await db.query<{ id: number }>('SELECT id FROM items ORDER BY embedding <=> $1::vector LIMIT 10', [queries[q]]);
          latencies[q] = now() - t;
          if (r === 0) {
            const ids = rows.map((row) => row.id);
            recall.at1 += recallAt(truth, q, ids, 1);
            recall.at10 += recallAt(truth, q, ids, 10);
          }
        }
        repeats.push(percentiles(latencies));
      }
      points.push({
        setting: `ef_search ${ef}`,
        queries: queries.length,
        latency: medianPercentiles(repeats),
        recall: { at1: recall.at1 / queries.length, at10: recall.at10 / queries.length },
      });
    }
    return {
      peer,
      build: {
        seconds: buildSeconds,
        vectorsPerSecond: data.n / buildSeconds,
        what: `CREATE INDEX on rows already in its table (loading them took ${loadSeconds.toFixed(1)} s more); m ${options.m}, ef_construction ${options.efConstruction}; ${version}, pgvector ${vectorVersion}, PGlite ${pgliteVersion()}`,
      },
      bytesPerVector: size / data.n,
      bytesWhat: 'the HNSW index relation (vectors are in the table besides)',
      points,
    };
  } finally {
    await db.close();
  }
}
