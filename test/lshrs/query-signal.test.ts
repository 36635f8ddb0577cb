import type { Redis } from 'ioredis';
import { LSHRS, type Id } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import { newRedis, uniqueName } from '../support/servers';

const DIM = 16;
let redis: Redis;
let lsh: LSHRS;
let data: number[][];
/** The ids each store fetch asked for, in order. */
const fetches: Id[][] = [];

beforeAll(async () => {
  redis = newRedis();
  const next = gaussianStream('signal');
  data = Array.from({ length: 200 }, () => Array.from({ length: DIM }, next));
  lsh = new LSHRS({
    redis,
    dim: DIM,
    prefix: uniqueName('signal'),
    fetchVectors: async (ids) => {
      fetches.push([...ids]);
      return ids.map((id) => ({ id, vector: data[Number(id)] }));
    },
  });
  await lsh.index(data.map((vector, id) => ({ id, vector })));
});

afterAll(async () => {
  await lsh.clear();
  await redis.quit();
});

beforeEach(() => {
  fetches.length = 0;
});

test('a query whose signal is aborted before it starts rejects with the reason and reads nothing', async () => {
  const controller = new AbortController();
  const reason = new Error('the caller gave up');
  controller.abort(reason);
  await expect(lsh.query(data[3], { signal: controller.signal })).rejects.toBe(reason);
  await expect(lsh.similar(3, { signal: controller.signal })).rejects.toBe(reason);
  await expect(lsh.similar(3, { signal: controller.signal, rerank: false })).rejects.toBe(reason);
  expect(fetches).toEqual([]);
});

test('a signal aborted while Redis answers stops the query before the store fetch', async () => {
  const controller = new AbortController();
  const pending = lsh.query(data[3], { signal: controller.signal });
  controller.abort(); // the query is waiting for its script call now
  const err = await pending.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(DOMException);
  expect((err as DOMException).name).toBe('AbortError');
  expect(fetches).toEqual([]);

  // similar: aborted while its own row is fetched, so the buckets are never asked.
  const again = new AbortController();
  const similar = lsh.similar(3, { signal: again.signal });
  again.abort('stop');
  await expect(similar).rejects.toBe('stop');
  expect(fetches).toEqual([[3]]);
});

test('a signal that is never aborted changes nothing', async () => {
  const controller = new AbortController();
  const plain = await lsh.query(data[3], { topK: 5 });
  expect(plain[0]).toMatchObject({ id: 3 });
  expect(await lsh.query(data[3], { topK: 5, signal: controller.signal })).toEqual(plain);
  expect(await lsh.similar(3, { topK: 4, signal: controller.signal })).toEqual(await lsh.similar(3, { topK: 4 }));
});
