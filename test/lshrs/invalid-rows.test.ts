/*
 * A build from the table ends at the end of the table, never early: a row it cannot index (a NULL
 * or wrong-length vector) stops it with an error naming the row, or with skipInvalid is skipped and
 * counted; a page that comes back shorter than asked is not the end.
 */
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { LSHRS, PostgresVectorStore, type VectorStore } from '../../src';
import { float32ToLE } from '../../src/float32';
import { gaussianStream } from '../../src/hashing/gaussian';
import { newPool, newRedis, uniqueName } from '../support/servers';

const DIM = 16;
const ROWS = 3000;

let redis: Redis;
let pool: pg.Pool;
let table: string;

beforeAll(async () => {
  redis = newRedis();
  pool = newPool();
  table = uniqueName('invalid');
  // The host's own table, whose embedding column allows NULL.
  await pool.query(`CREATE TABLE "${table}" (id bigint PRIMARY KEY, embedding bytea, text text)`);
  const next = gaussianStream('invalid');
  const vectors = Array.from({ length: ROWS }, () => Float32Array.from({ length: DIM }, next));
  await pool.query(`INSERT INTO "${table}" SELECT * FROM unnest($1::bigint[], $2::bytea[])`, [
    vectors.map((_, i) => i),
    vectors.map((v) => float32ToLE(v)),
  ]);
  await pool.query(`UPDATE "${table}" SET embedding = NULL WHERE id = 1100`);
  await pool.query(`UPDATE "${table}" SET embedding = $1 WHERE id = 2000`, [float32ToLE(new Float32Array(DIM - 1).fill(1))]);
});

afterAll(async () => {
  await redis.quit();
  await pool.end();
});

const handle = (prefix: string, store: VectorStore = new PostgresVectorStore({ pool, table })) =>
  new LSHRS({ redis, dim: DIM, prefix, batchSize: 500, store });

test('a NULL vector stops the build with an error naming its row; the batches before it stand', async () => {
  const lsh = handle(uniqueName('null'));
  await expect(lsh.index()).rejects.toMatchObject({
    code: 'BAD_STORE',
    message: expect.stringContaining('row 1100 of the store has no vector (NULL)'),
  });
  const described = await lsh.describe();
  expect(described.build?.state).toBe('running');
  expect(Number(described.build?.cursor)).toBe(999);
});

test('with skipInvalid, the NULL and the wrong-length rows are skipped and counted, every other row indexed', async () => {
  const lsh = handle(uniqueName('skip'));
  expect(await lsh.index(undefined, { skipInvalid: true })).toEqual({ added: ROWS - 2, moved: 0, unchanged: 0, skipped: 2 });
  const described = await lsh.describe();
  expect(described.ids).toBe(ROWS - 2);
  expect(described.build).toEqual({ state: 'done', cursor: String(ROWS - 1), skipped: 2 });
  expect((await lsh.stats()).build?.skipped).toBe(2);
  expect(await lsh.inspect(1100)).toBeNull();
  expect(await lsh.inspect(2000)).toBeNull();
  expect(await lsh.inspect(2001)).not.toBeNull();
});

test('a store whose pages come back shorter than asked is read to its end', async () => {
  const inner = new PostgresVectorStore({ pool, table });
  // A custom store that leaves the NULL and short rows out of its pages (as a filtering SELECT would).
  const filtering: VectorStore = Object.assign(Object.create(inner) as PostgresVectorStore, {
    async scan(after: string | null, limit: number) {
      return (await inner.scan(after, limit)).filter((row) => row.vector !== null && row.vector.length === DIM);
    },
  });
  const lsh = handle(uniqueName('short'), filtering);
  expect(await lsh.index()).toEqual({ added: ROWS - 2, moved: 0, unchanged: 0 });
  expect((await lsh.describe()).ids).toBe(ROWS - 2);
});

test('verify finds the rows the index lacks, page by page, and verify --repair indexes them', async () => {
  const prefix = uniqueName('missing');
  const lsh = handle(prefix);
  await lsh.index(undefined, { skipInvalid: true });
  // Ids leave the index but keep their rows (as a wipe, a rollback or a lost write would leave them).
  await new LSHRS({ redis, dim: DIM, prefix, batchSize: 500 }).delete([10, 20, 2999]);
  const found = await lsh.verify();
  expect(found).toMatchObject({ consistent: false, missingFromIndex: 3, invalidRows: 2, missingFromStore: [] });
  expect(found.examples.missingFromIndex).toEqual([10, 20, 2999]);
  const repaired = await lsh.verify({ repair: true });
  expect(repaired.reindexed).toBe(3);
  expect(await lsh.verify()).toMatchObject({ consistent: true, missingFromIndex: 0, ids: ROWS - 2, metaCount: ROWS - 2 });
});
