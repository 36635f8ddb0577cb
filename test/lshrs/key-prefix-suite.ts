/*
 * An index on a host client with ioredis `keyPrefix` lives entirely under that prefix: run against
 * one Redis (key-prefix.test.ts) and a Redis Cluster (test/cluster/key-prefix.test.ts).
 */
import type pg from 'pg';
import { LSHRS, PostgresVectorStore } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import type { RedisClient } from '../../src/redis/connection';
import { mastersOf } from '../support/inspect-redis';
import { newPool, uniqueName } from '../support/servers';

export interface KeyPrefixTarget {
  /** A host-style client, with `keyPrefix` when one is given. */
  connect(keyPrefix?: string): RedisClient;
}

const DIM = 16;
const KEY_PREFIX = 'app:';

/** Every key on every master whose name holds the index's tags, as Redis names it (no prefix stripped). */
async function rawKeys(raw: RedisClient, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for (const node of await mastersOf(raw)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `*\\{${prefix}*`, 'COUNT', 1000);
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
  }
  return found.sort();
}

export function keyPrefixSuite(target: KeyPrefixTarget, shards: number): void {
  let prefixed: RedisClient;
  let raw: RedisClient;
  let pool: pg.Pool;

  beforeAll(() => {
    prefixed = target.connect(KEY_PREFIX);
    raw = target.connect();
    pool = newPool();
  });

  afterAll(async () => {
    await Promise.allSettled([prefixed.quit(), raw.quit(), pool.end()]);
  });

  test('every key an index writes, queries and clears carries the client key prefix', async () => {
    const prefix = uniqueName('kp');
    await PostgresVectorStore.createTable(pool, { table: prefix });
    const store = new PostgresVectorStore({ pool, table: prefix });
    const lsh = new LSHRS({ redis: prefixed, dim: DIM, prefix, store, numBands: 8, rowsPerBand: 4, shards });
    const next = gaussianStream(`kp-${shards}`);
    const items = Array.from({ length: 300 }, (_, id) => ({ id, vector: Array.from({ length: DIM }, next) }));
    expect(await lsh.index(items)).toEqual({ added: 300, moved: 0, unchanged: 0 });

    const keys = await rawKeys(raw, prefix);
    expect(keys.length).toBeGreaterThan(300 / 64);
    expect(keys.filter((key) => !key.startsWith(KEY_PREFIX))).toEqual([]);

    for (const item of items.slice(0, 20)) {
      const [best] = await lsh.query(item.vector, { topK: 1 });
      expect(best.id).toBe(item.id);
    }
    expect((await lsh.similar(3, { rerank: false })).length).toBeGreaterThan(0);
    const inspected = await lsh.inspect(5);
    expect(inspected?.buckets.every((b) => b.size >= 1)).toBe(true);
    expect((await lsh.describe()).ids).toBe(300);
    const stats = await lsh.stats();
    expect(stats.buckets).toBeGreaterThan(0);
    expect(stats.redisBytes).toBeGreaterThan(0);
    expect(await lsh.delete([1, 2, 3])).toEqual({ removed: 3, unknown: 0 });
    const report = await lsh.verify();
    expect(report).toMatchObject({ consistent: true, ids: 297, metaCount: 297 });

    // The same prefix on a client without keyPrefix is another, empty index.
    const plain = new LSHRS({ redis: raw, dim: DIM, prefix, numBands: 8, rowsPerBand: 4, shards });
    expect((await plain.describe()).ids).toBe(0);

    const before = await rawKeys(raw, prefix);
    expect(await lsh.clear()).toBe(before.length);
    expect(await rawKeys(raw, prefix)).toEqual([]);
  });
}
