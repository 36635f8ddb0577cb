import type { Redis } from 'ioredis';
import type pg from 'pg';
import { LSHRS, PostgresVectorStore, RedisVectorStore, type Id } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import { databaseUrl, uniqueName, useConnections } from '../support/servers';

const DIM = 16;
const vectors = (() => {
  const next = gaussianStream('stores');
  return Array.from({ length: 30 }, () => Float32Array.from({ length: DIM }, next));
})();

let redis: Redis;
let pool: pg.Pool;

useConnections((c) => ({ redis, pool } = c));

describe('PostgresVectorStore', () => {
  test.each([
    ['real[]', 'real[]'],
    ['double precision[]', 'double precision[]'],
    ['bytea', 'bytea'],
  ])('reads and writes a %s embedding column of an existing table', async (_label, type) => {
    const table = uniqueName('pgtype');
    await pool.query(`CREATE TABLE "${table}" (doc_id bigint PRIMARY KEY, emb ${type}, body text)`);
    const store = new PostgresVectorStore({ pool, table, idColumn: 'doc_id', vectorColumn: 'emb', textColumn: 'body' });
    const lsh = new LSHRS({ redis, dim: DIM, prefix: table, store });
    await lsh.index(vectors.map((vector, id) => ({ id, vector, text: `body ${id}` })));
    const [hit] = await lsh.query(vectors[9], { topK: 1 });
    expect(hit).toMatchObject({ id: 9, text: 'body 9' });
    expect(hit.score).toBeCloseTo(1, 6);
    // Stored values are the float32 values given, bit for bit.
    const fetched = [...(await store.fetch([3]))];
    expect(Array.from(fetched[0].vector)).toEqual(Array.from(vectors[3]));
    expect(await store.idType()).toBe('int');
  });

  test('a table the host fills itself, read-only: lshrs never writes or deletes rows', async () => {
    const table = uniqueName('readonly');
    await pool.query(`CREATE TABLE "${table}" (id text PRIMARY KEY, embedding real[] NOT NULL)`);
    for (let i = 0; i < 10; i++) {
      await pool.query(`INSERT INTO "${table}" VALUES ($1, $2)`, [`k${i}`, Array.from(vectors[i])]);
    }
    const store = new PostgresVectorStore({ pool, table, textColumn: null, readOnly: true });
    expect(await store.idType()).toBe('str');
    const lsh = new LSHRS({ redis, dim: DIM, prefix: table, store });
    await lsh.index(vectors.slice(0, 10).map((vector, i) => ({ id: `k${i}`, vector, text: 'ignored' })));
    expect(await lsh.query(vectors[4], { topK: 1 })).toEqual([expect.objectContaining({ id: 'k4' })]);
    await lsh.delete('k4');
    expect((await pool.query(`SELECT count(*)::int AS n FROM "${table}"`)).rows[0].n).toBe(10);
    expect((await lsh.query(vectors[4], { topK: 1 }))[0]?.id).not.toBe('k4');
  });

  test('a schema-qualified table with quoted names', async () => {
    const schema = uniqueName('Schema');
    await pool.query(`CREATE SCHEMA "${schema}"`);
    const table = `${schema}.My Items`;
    await PostgresVectorStore.createTable(pool, { table, idType: 'text' });
    const lsh = new LSHRS({ redis, dim: DIM, prefix: uniqueName('qualified'), store: new PostgresVectorStore({ pool, table }) });
    await lsh.ingest("o'brien", vectors[0], 'quoted');
    expect(await lsh.query(vectors[0], { topK: 1 })).toEqual([expect.objectContaining({ id: "o'brien", text: 'quoted' })]);
  });

  test('unusable tables are named in the error', async () => {
    const missing = new PostgresVectorStore({ pool, table: uniqueName('missing') });
    await expect(missing.fetch([1])).rejects.toMatchObject({ code: 'BAD_STORE', message: expect.stringMatching(/does not exist/) });
    const table = uniqueName('textcol');
    await pool.query(`CREATE TABLE "${table}" (id bigint PRIMARY KEY, embedding text)`);
    await expect(new PostgresVectorStore({ pool, table }).fetch([1])).rejects.toThrow(
      /has type text; lshrs reads real\[\], double precision\[\], bytea or vector/,
    );
    const lsh = new LSHRS({ redis, dim: DIM, prefix: table, store: new PostgresVectorStore({ pool, table }) });
    await expect(lsh.ingest(1, vectors[0])).rejects.toMatchObject({ code: 'BAD_STORE' });
    expect(await redis.exists(`{${table}}:meta`)).toBe(0);
  });

  test('a stored vector of another dimension is an error naming the id', async () => {
    const table = uniqueName('wrongdim');
    await PostgresVectorStore.createTable(pool, { table, vectorType: 'real[]' });
    const lsh = new LSHRS({ redis, dim: DIM, prefix: table, store: new PostgresVectorStore({ pool, table }) });
    await lsh.ingest(1, vectors[0]);
    await pool.query(`UPDATE "${table}" SET embedding = '{1,2,3}' WHERE id = 1`);
    await expect(lsh.query(vectors[0])).rejects.toThrow('stored vector of id 1 has 3 dimensions, the index has 16');
  });

  test('a pool opened from a connection string is closed by close()', async () => {
    const table = uniqueName('owned');
    await PostgresVectorStore.createTable(pool, { table });
    const store = new PostgresVectorStore({ connectionString: databaseUrl(), table });
    const lsh = new LSHRS({ redis, dim: DIM, prefix: table, store });
    await lsh.ingest(1, vectors[1]);
    await lsh.close();
    await expect(store.fetch([1])).rejects.toThrow(/pool/i);
    expect((await pool.query('SELECT 1 AS one')).rows[0].one).toBe(1);
  });
});

describe('RedisVectorStore', () => {
  test('keeps float32 vectors and texts in Redis, beside the index, and clear() leaves them', async () => {
    const prefix = uniqueName('redisstore');
    const store = new RedisVectorStore({ redis, prefix });
    const lsh = new LSHRS({ redis, dim: DIM, prefix, store });
    await lsh.index(vectors.map((vector, id) => ({ id, vector, text: id % 2 ? `odd ${id}` : null })));
    expect(await lsh.query(vectors[7], { topK: 1 })).toEqual([expect.objectContaining({ id: 7, text: 'odd 7' })]);
    await lsh.delete(7);
    expect(await store.fetch([7])).toEqual([]);
    await lsh.clear();
    expect([...(await store.fetch([8]))][0].vector).toEqual(vectors[8]);
  });
});

describe('fetchVectors', () => {
  test('any database, through a function from ids to vectors', async () => {
    const prefix = uniqueName('callback');
    const asked: Id[][] = [];
    const lsh = new LSHRS({
      redis,
      dim: DIM,
      prefix,
      fetchVectors: async (ids) => {
        asked.push([...ids]);
        return new Map(ids.map((id) => [id, vectors[id as number]]));
      },
    });
    await lsh.index(vectors.map((vector, id) => ({ id, vector })));
    const [hit] = await lsh.query(vectors[12], { topK: 1 });
    expect(hit.id).toBe(12);
    expect(asked).toHaveLength(1);
  });
});
