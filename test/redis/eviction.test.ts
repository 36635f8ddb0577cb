/*
 * A Redis that evicts keys without a TTL (maxmemory-policy allkeys-*) would drop buckets and
 * reverse records silently: a handle's first write refuses it, unless the user opts in.
 */
import { Redis } from 'ioredis';
import { LSHRS } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import { startRedis, type Throwaway } from '../../dev/servers';
import { uniqueName } from '../support/servers';

const DIM = 8;
const items = () => {
  const next = gaussianStream('eviction');
  return Array.from({ length: 20 }, (_, id) => ({ id, vector: Array.from({ length: DIM }, next) }));
};

let server: Throwaway;
let redis: Redis;

beforeAll(async () => {
  server = await startRedis(['--maxmemory-policy', 'allkeys-lru']);
  redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
}, 60_000);

afterAll(async () => {
  await redis?.quit();
  await server?.stop();
});

test('allkeys-lru: the first write is refused with EVICTION_POLICY and nothing is written', async () => {
  const lsh = new LSHRS({ redis, dim: DIM, prefix: uniqueName('evict') });
  await expect(lsh.index(items())).rejects.toMatchObject({ code: 'EVICTION_POLICY', message: expect.stringContaining('allkeys-lru') });
  await expect(lsh.delete([1])).rejects.toMatchObject({ code: 'EVICTION_POLICY' });
  expect(await redis.dbsize()).toBe(0);
});

test('allowEviction: true writes anyway, as the user asked', async () => {
  const lsh = new LSHRS({ redis, dim: DIM, prefix: uniqueName('evict'), allowEviction: true });
  expect(await lsh.index(items())).toEqual({ added: 20, moved: 0, unchanged: 0 });
  await lsh.clear();
});

test('volatile-lru never evicts keys without a TTL: writes go ahead', async () => {
  await redis.config('SET', 'maxmemory-policy', 'volatile-lru');
  try {
    const lsh = new LSHRS({ redis, dim: DIM, prefix: uniqueName('evict') });
    expect(await lsh.index(items())).toEqual({ added: 20, moved: 0, unchanged: 0 });
    await lsh.clear();
  } finally {
    await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
  }
});

test('a user whose rights do not allow CONFIG is not refused (the policy cannot be read)', async () => {
  const prefix = uniqueName('evict');
  await redis.call('ACL', 'SETUSER', 'nocfg', 'on', '>pw', `~{${prefix}}*`, '+@all', '-@dangerous');
  const limited = new Redis(server.url, { username: 'nocfg', password: 'pw', maxRetriesPerRequest: 1, enableReadyCheck: false });
  try {
    await expect(limited.config('GET', 'maxmemory-policy')).rejects.toThrow(/NOPERM/);
    const lsh = new LSHRS({ redis: limited, dim: DIM, prefix });
    expect(await lsh.index(items())).toEqual({ added: 20, moved: 0, unchanged: 0 });
  } finally {
    await limited.quit();
  }
});
