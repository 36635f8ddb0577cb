import type { Redis } from 'ioredis';
import type pg from 'pg';
import { LSHRS, PostgresVectorStore, type StoreInfo } from '../../src';
import { float32ToLE } from '../../src/float32';
import { gaussianStream } from '../../src/hashing/gaussian';
import { newPool, newRedis, uniqueName } from '../support/servers';

const DIM = 8;
let redis: Redis;
let pool: pg.Pool;
let table: string;

beforeAll(async () => {
  redis = newRedis();
  pool = newPool();
  table = uniqueName('store_info');
  await PostgresVectorStore.createTable(pool, { table });
  const next = gaussianStream('store-info');
  const ids = Array.from({ length: 600 }, (_, i) => i + 1);
  await pool.query(`INSERT INTO "${table}" (id, embedding) SELECT * FROM unnest($1::bigint[], $2::bytea[])`, [
    ids,
    ids.map(() => float32ToLE(Float32Array.from({ length: DIM }, next))),
  ]);
});

afterAll(async () => {
  await redis.quit();
  await pool.end();
});

const info: StoreInfo = { kind: 'postgres', table: 'public.items', idColumn: 'id', vectorColumn: 'embedding', textColumn: null };

test.each([1, 4])('recordStore writes describe().store into the root meta of an index that exists (%i shards)', async (shards) => {
  const prefix = uniqueName('recorded');
  const lsh = new LSHRS({ redis, dim: DIM, prefix, shards });
  // Nothing written yet: nothing recorded, and no meta without parameters left behind.
  expect(await lsh.recordStore(info)).toBe(false);
  expect(await redis.exists(`{${prefix}}:meta`)).toBe(0);
  expect((await lsh.describe()).store).toBeNull();

  await lsh.ingest(1, [1, 0, 0, 0, 0, 0, 0, 0]);
  expect(await lsh.recordStore(info)).toBe(true);
  expect(JSON.parse((await redis.hget(`{${prefix}}:meta`, 'store')) as string)).toEqual(info);
  expect((await lsh.describe()).store).toEqual(info);
  const opened = await LSHRS.open({ redis, prefix });
  expect((await opened.describe()).store).toEqual(info);
  expect((await opened.stats()).store).toEqual(info);
  // It is descriptive: queries are unchanged, and a handle of other parameters may not write it.
  expect((await lsh.query([1, 0, 0, 0, 0, 0, 0, 0], { rerank: false }))[0]).toMatchObject({ id: 1 });
  await expect(new LSHRS({ redis, dim: DIM, prefix, shards, seed: 7 }).recordStore(info)).rejects.toMatchObject({ code: 'PARAMS_MISMATCH' });
  // clear() takes it with the index.
  await lsh.clear();
  expect((await lsh.describe()).store).toBeNull();
});

test('recordStore refuses what is not a store description', async () => {
  const lsh = new LSHRS({ redis, dim: DIM, prefix: uniqueName('refused') });
  for (const bad of [null, {}, { kind: '' }, { kind: 3 }]) {
    await expect(lsh.recordStore(bad as unknown as StoreInfo)).rejects.toMatchObject({ code: 'BAD_OPTION' });
  }
});

test('an aborted build leaves buildState "interrupted" with its position; resume makes it "done"', async () => {
  const prefix = uniqueName('interrupted');
  const handle = () => new LSHRS({ redis, dim: DIM, prefix, batchSize: 100, store: new PostgresVectorStore({ pool, table }) });
  const controller = new AbortController();
  const first = handle();
  await expect(
    first.index(undefined, {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.done === 200) controller.abort();
      },
    }),
  ).rejects.toMatchObject({ name: 'AbortError' });
  const build = (await first.describe()).build;
  expect(build?.state).toBe('interrupted');
  expect(Number(build?.cursor)).toBeGreaterThanOrEqual(200);
  expect((await first.describe()).ids).toBe(Number(build?.cursor));
  await first.close();

  const resumed = handle();
  expect(await resumed.index(undefined, { resume: true })).toMatchObject({ added: 600 - Number(build?.cursor) });
  expect((await resumed.describe()).build).toEqual({ state: 'done', cursor: '600', skipped: 0 });
  await resumed.close();
  await new LSHRS({ redis, dim: DIM, prefix }).clear();

  // Aborted before any batch landed on a new index: nothing is left in Redis.
  const early = new AbortController();
  early.abort();
  const none = uniqueName('never');
  await expect(
    new LSHRS({ redis, dim: DIM, prefix: none, store: new PostgresVectorStore({ pool, table }) }).index(undefined, { signal: early.signal }),
  ).rejects.toMatchObject({ name: 'AbortError' });
  expect(await redis.exists(`{${none}}:meta`)).toBe(0);
});
