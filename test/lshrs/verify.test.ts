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

  // Plant: id 3's record dropped from one of its buckets, a record of an id that is not indexed in
  // a bucket (ordinal 999999: an integer id below 2^31 is its own ordinal), id 4's record in a bucket its reverse record does not name, a wrong id count, and a
  // store row deleted behind lshrs.
  const recordSize = 4 + lsh.shape.sketchBits / 8;
  const valueBytes = lsh.shape.bands * Math.ceil(lsh.shape.rows / 8);
  const recordOf = (inspected: { ordinal: number; signature: string }) => {
    const ordinal = Buffer.alloc(4);
    ordinal.writeUInt32BE(inspected.ordinal);
    return Buffer.concat([ordinal, Buffer.from(inspected.signature, 'hex').subarray(valueBytes)]);
  };
  const three = (await lsh.inspect(3))!;
  const held = (await redis.getBuffer(three.buckets[1].key)) as Buffer;
  const at = held.indexOf(recordOf(three));
  expect(at % recordSize).toBe(0);
  await redis.set(three.buckets[1].key, Buffer.concat([held.subarray(0, at), held.subarray(at + recordSize)]));
  const nobody = Buffer.alloc(recordSize);
  nobody.writeUInt32BE(999_999);
  await redis.append(three.buckets[0].key, nobody);
  const four = (await lsh.inspect(4))!;
  const otherValue = (four.buckets[2].value + 1) % 256;
  await redis.append(`{${prefix}}:b:2:${otherValue}`, recordOf(four));
  await redis.hset(`{${prefix}}:meta`, 'ids', '47');
  await pool.query(`DELETE FROM "${prefix}" WHERE id = 10`);

  const found = await lsh.verify();
  expect(found).toMatchObject({ ids: 50, missingFromBuckets: 1, strayInBuckets: 2, metaCount: 47, missingFromStore: [10], consistent: false });
  expect(found.examples.missingFromBuckets).toEqual([{ id: 3, bucket: three.buckets[1].key }]);
  expect(found.examples.strayInBuckets).toEqual(
    expect.arrayContaining([
      { id: 999_999, bucket: three.buckets[0].key },
      { id: 4, bucket: `{${prefix}}:b:2:${otherValue}` },
    ]),
  );
  const { bands, rows } = lsh.shape;
  expect(await consistencyProblems(redis, prefix, bands, rows)).not.toEqual([]);

  const repaired = await lsh.verify({ repair: true });
  expect(repaired.repaired).toEqual({ recordsAdded: 1, recordsRemoved: 2, removedMissingFromStore: 1, idsCounted: 49 });
  expect(await consistencyProblems(redis, prefix, bands, rows)).toEqual([]);
  expect(await lsh.verify()).toMatchObject({ ids: 49, metaCount: 49, missingFromStore: [], consistent: true });
  expect(await lsh.inspect(10)).toBeNull();
  const inspected = (await lsh.inspect(3))!;
  expect(inspected.buckets).toHaveLength(bands);
  expect(inspected.buckets.every((b) => b.size >= 1)).toBe(true);
});
