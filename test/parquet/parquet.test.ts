import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { LSHRS, PostgresVectorStore, readParquet } from '../../src';
import { uniqueName, useConnections } from '../support/servers';
import { loadSharedSet, row } from '../support/shared-data';

const DEMO = resolve(__dirname, '..', '..', 'data', 'demo.parquet');
const DEMO_QUERIES = resolve(__dirname, '..', '..', 'data', 'demo-queries.parquet');

let redis: Redis;
let pool: pg.Pool;

useConnections((c) => ({ redis, pool } = c));

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

test('the demo parquet loads through the parquet reader into Postgres and the index, and answers queries', async () => {
  const table = uniqueName('demo');
  await PostgresVectorStore.createTable(pool, { table });
  const lsh = new LSHRS({ redis, dim: 512, prefix: table, store: new PostgresVectorStore({ pool, table }) });
  const progress: { done: number; total: number | null }[] = [];
  expect(await lsh.ingestParquet(DEMO, {}, { onProgress: ({ done, total }) => progress.push({ done, total }) })).toEqual({
    added: 2007,
    moved: 0,
    unchanged: 0,
  });
  expect(progress[progress.length - 1]).toEqual({ done: 2007, total: 2007 });
  expect((await pool.query(`SELECT count(*)::int AS n FROM "${table}"`)).rows[0].n).toBe(2007);

  // The parquet rows are the shared set's rows, bit for bit.
  const shared = loadSharedSet();
  const [stored] = await new PostgresVectorStore({ pool, table }).fetch([1500]);
  expect(stored.vector).toEqual(row(shared.vectors, 1500));
  expect(stored.text).toBe(shared.texts[1500]);

  // Each demo query's exact top-10 lies in the demo set; the index must find most of it.
  const queries = await collect(readParquet(DEMO_QUERIES));
  expect(queries).toHaveLength(8);
  let found = 0;
  for (const q of queries) {
    const truth = new Set(shared.groundTruth.subarray((q.id as number) * 100, (q.id as number) * 100 + 10));
    const hits = await lsh.query(q.vector, { topK: 10 });
    expect(hits[0].text).toEqual(expect.any(String));
    found += hits.filter((h) => truth.has(h.id as number)).length;
  }
  expect(found / 80).toBeGreaterThanOrEqual(0.7);
});

/** Writes a parquet file with DuckDB from a SELECT. */
async function writeParquetFrom(select: string, file: string, copyOptions = ''): Promise<void> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  await connection.run(`COPY (${select}) TO '${file}' (FORMAT parquet${copyOptions ? `, ${copyOptions}` : ''})`);
  connection.closeSync();
  instance.closeSync();
}

test('embeddings as lists or fixed arrays of floats, string ids, and missing columns named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lshrs-parquet-'));
  try {
    const list = join(dir, 'list.parquet');
    const array = join(dir, 'array.parquet');
    const rows = `SELECT * FROM (VALUES ('a', [1, 0, 0, 0]), ('b', [0, 1, 0, 0]), ('c', [0.5, 0.25, 0, 0])) AS t(key, vec)`;
    await writeParquetFrom(`SELECT key, vec::FLOAT[] AS vec FROM (${rows}) ORDER BY key`, list);
    await writeParquetFrom(`SELECT key, vec::DOUBLE[4] AS vec FROM (${rows}) ORDER BY key`, array);
    for (const file of [list, array]) {
      const items = await collect(readParquet(file, { idColumn: 'key', vectorColumn: 'vec', textColumn: null }));
      expect(items.map((i) => i.id)).toEqual(['a', 'b', 'c']);
      expect(items.map((i) => Array.from(i.vector))).toEqual([
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0.5, 0.25, 0, 0],
      ]);
    }
    const lsh = new LSHRS({ redis, dim: 4, prefix: uniqueName('list') });
    await lsh.index(readParquet(list, { idColumn: 'key', vectorColumn: 'vec', textColumn: null }));
    expect((await lsh.query([1, 0, 0, 0], { rerank: false }))[0]).toMatchObject({ id: 'a', collisions: lsh.toJSON().bands });
    await expect(collect(readParquet(list))).rejects.toThrow('has no column "id"');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a file in DuckDB's default row groups of 122,880 rows streams whole and in order", async () => {
  // Several row groups of the width DuckDB writes by default; two of them at 384 dimensions read by
  // two threads at once overran the reader's memory limit (the memory is measured by npm run
  // scale:memory, not here). Narrow vectors keep this test quick; every row is checked.
  const dir = mkdtempSync(join(tmpdir(), 'lshrs-parquet-'));
  try {
    const file = join(dir, 'row-groups.parquet');
    const rows = 250_000;
    const dim = 8;
    await writeParquetFrom(
      `SELECT i AS id, list_transform(range(${dim}), x -> ((i * ${dim} + x) % 1000)::FLOAT) AS embedding, 'row ' || i AS text
       FROM range(1, ${rows + 1}) t(i)`,
      file,
      'ROW_GROUP_SIZE 122880',
    );
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    const groups = await connection.runAndReadAll(`SELECT DISTINCT row_group_id, row_group_num_rows FROM parquet_metadata('${file}') ORDER BY 1`);
    connection.closeSync();
    instance.closeSync();
    expect(groups.getRowObjects().map((g) => Number(g.row_group_num_rows))).toEqual([122_880, 122_880, 4_240]);

    let next = 1;
    const wrong: string[] = [];
    for await (const item of readParquet(file)) {
      const expected = Array.from({ length: dim }, (_, x) => (next * dim + x) % 1000);
      if (item.id !== next || item.text !== `row ${next}` || Array.from(item.vector).join() !== expected.join()) {
        wrong.push(`row ${next}: ${JSON.stringify({ id: item.id, text: item.text })}`);
        if (wrong.length >= 5) break;
      }
      next++;
    }
    expect(wrong).toEqual([]);
    expect(next - 1).toBe(rows);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
