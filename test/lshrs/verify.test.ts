import type { Redis } from 'ioredis';
import type pg from 'pg';
import { LSHRS, PostgresVectorStore } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import { consistencyProblems } from '../support/inspect-redis';
import { uniqueName, useConnections } from '../support/servers';

const DIM = 16;

let redis: Redis;
let pool: pg.Pool;

useConnections((c) => ({ redis, pool } = c));

test('verify finds inconsistencies planted by hand, and --repair fixes them', async () => {
  const prefix = uniqueName('verify');
  await PostgresVectorStore.createTable(pool, { table: prefix });
  const lsh = new LSHRS({ redis, dim: DIM, prefix, store: new PostgresVectorStore({ pool, table: prefix }) });
  const next = gaussianStream('verify');
  const vectors = Array.from({ length: 50 }, () => Array.from({ length: DIM }, next));
  await lsh.index(vectors.map((vector, id) => ({ id, vector })));

  const clean = await lsh.verify();
  expect(clean).toMatchObject({ ids: 50, missingFromBuckets: 0, strayInBuckets: 0, metaCount: 50, missingFromStore: [], consistent: true });
  expect(clean.repaired).toBeUndefined();

  // Plant: id 3 dropped from one of its buckets, a stray id 999 in a bucket, id 4 sitting in a
  // bucket its record does not name, a wrong id count, and a store row deleted behind lshrs.
  const three = (await lsh.inspect(3))!;
  await redis.srem(three.buckets[5].key, '3');
  await redis.sadd(three.buckets[0].key, '999');
  const four = (await lsh.inspect(4))!;
  const otherValue = (four.buckets[2].value + 1) % 256;
  await redis.sadd(`{${prefix}}:b:2:${otherValue}`, '4');
  await redis.hset(`{${prefix}}:meta`, 'ids', '47');
  await pool.query(`DELETE FROM "${prefix}" WHERE id = 10`);

  const found = await lsh.verify();
  expect(found).toMatchObject({ ids: 50, missingFromBuckets: 1, strayInBuckets: 2, metaCount: 47, missingFromStore: [10], consistent: false });
  expect(found.examples.missingFromBuckets).toEqual([{ id: 3, bucket: three.buckets[5].key }]);
  expect(found.examples.strayInBuckets).toEqual(
    expect.arrayContaining([
      { id: 999, bucket: three.buckets[0].key },
      { id: 4, bucket: `{${prefix}}:b:2:${otherValue}` },
    ]),
  );
  expect(await consistencyProblems(redis, prefix, 16, 8)).not.toEqual([]);

  const repaired = await lsh.verify({ repair: true });
  expect(repaired.repaired).toEqual({ membershipsAdded: 1, membersRemoved: 2, removedMissingFromStore: 1, idsCounted: 49 });
  expect(await consistencyProblems(redis, prefix, 16, 8)).toEqual([]);
  expect(await lsh.verify()).toMatchObject({ ids: 49, metaCount: 49, missingFromStore: [], consistent: true });
  expect(await lsh.inspect(10)).toBeNull();
  const inspected = (await lsh.inspect(3))!;
  expect(inspected.buckets).toHaveLength(16);
  expect(inspected.buckets.every((b) => b.size >= 1)).toBe(true);
});
