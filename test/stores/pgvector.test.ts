import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { LSHRS, PostgresVectorStore } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import { newRedis, uniqueName } from '../support/servers';

const DIM = 16;
const vectors = (() => {
  const next = gaussianStream('pgvector');
  return Array.from({ length: 40 }, () => Float32Array.from({ length: DIM }, next));
})();

let server: ChildProcess;
let pool: pg.Pool;
let redis: Redis;

beforeAll(async () => {
  server = spawn(process.execPath, [join(__dirname, '..', 'support', 'pgvector-server.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /ready (\S+)/.exec(out);
      if (match) resolve(match[1]);
    });
    server.once('exit', (code) => reject(new Error(`pgvector server exited with ${code}`)));
  });
  // PGlite serves one connection at a time.
  pool = new pg.Pool({ connectionString: `postgresql://postgres@${address}/postgres`, max: 1 });
  await pool.query('CREATE EXTENSION IF NOT EXISTS vector');
  redis = newRedis();
}, 120_000);

afterAll(async () => {
  await pool?.end();
  await redis?.quit();
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
});

test("a pgvector `vector` column is detected from the catalog, written and read in pgvector's binary form", async () => {
  const table = uniqueName('pgvector');
  await PostgresVectorStore.createTable(pool, { table, vectorType: 'vector', dim: DIM });
  const type = await pool.query(
    `SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'embedding'`,
    [`"${table}"`],
  );
  expect(type.rows[0].t).toBe(`vector(${DIM})`);
  const store = new PostgresVectorStore({ pool, table });
  const lsh = new LSHRS({ redis, dim: DIM, prefix: table, store });
  await lsh.index(vectors.map((vector, id) => ({ id, vector, text: `v${id}` })));
  const [hit] = await lsh.query(vectors[21], { topK: 1 });
  expect(hit).toMatchObject({ id: 21, text: 'v21' });
  expect(hit.score).toBeCloseTo(1, 6);
  const [stored] = await store.fetch([5]);
  expect(stored.vector).toEqual(vectors[5]);
  // pgvector's own cosine distance agrees with lshrs' rerank for every hit.
  const hits = await lsh.query(vectors[21], { topK: 40 });
  const { rows } = await pool.query(`SELECT id::int AS id, 1 - (embedding <=> $1::vector) AS cos FROM "${table}" WHERE id = ANY($2)`, [
    `[${Array.from(vectors[21]).join(',')}]`,
    hits.map((h) => h.id),
  ]);
  expect(rows).toHaveLength(hits.length);
  const pgCos = new Map(rows.map((r: { id: number; cos: number }) => [r.id, Number(r.cos)]));
  for (const h of hits) expect(h.score).toBeCloseTo(pgCos.get(h.id as number) as number, 5);
  await lsh.delete(21);
  expect((await pool.query(`SELECT count(*)::int AS n FROM "${table}"`)).rows[0].n).toBe(39);
});
