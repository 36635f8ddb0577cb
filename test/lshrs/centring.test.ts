/*
 * Centring: the mean is subtracted before hashing. It is estimated from the first batch written to
 * a new index (or given), stored in the meta, part of the fingerprint and of the saved state.
 */
import type { Redis } from 'ioredis';
import { LSHRS } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import { newRedis, uniqueName } from '../support/servers';

const DIM = 16;
let redis: Redis;

beforeAll(() => {
  redis = newRedis();
});
afterAll(async () => {
  await redis.quit();
});

/** Vectors in a narrow cone: one shared direction and a little noise, as embeddings often are. */
function cone(count: number, seed: string): number[][] {
  const next = gaussianStream(seed);
  const axis = Array.from({ length: DIM }, () => 1);
  return Array.from({ length: count }, () => axis.map((a) => a + 0.1 * next()));
}

function meanOf(vectors: number[][]): number[] {
  return Array.from({ length: DIM }, (_, i) => vectors.reduce((sum, v) => sum + v[i], 0) / vectors.length);
}

test('a new index centres on the mean of its first batch, keeps it in the meta and the saved state', async () => {
  const prefix = uniqueName('centre');
  const vectors = cone(300, 'first');
  const lsh = new LSHRS({ redis, dim: DIM, prefix, batchSize: 100 });
  expect(lsh.toJSON().mean).toBeUndefined(); // not known before the index is written or read
  await lsh.index(vectors.map((vector, id) => ({ id, vector })));
  const mean = lsh.toJSON().mean as number[];
  const expected = meanOf(vectors.slice(0, 100));
  mean.forEach((x, i) => expect(x).toBeCloseTo(expected[i], 5));

  const opened = await LSHRS.open({ redis, prefix });
  expect(opened.toJSON()).toEqual(lsh.toJSON());
  const fresh = new LSHRS({ redis, dim: DIM, prefix });
  expect(await fresh.query(vectors[7], { rerank: false, topK: 3 })).toEqual(await lsh.query(vectors[7], { rerank: false, topK: 3 }));
  expect(fresh.toJSON().mean).toEqual(mean);
  const restored = LSHRS.fromJSON(JSON.stringify(lsh), { redis });
  expect(await restored.query(vectors[9], { rerank: false, topK: 3 })).toEqual(await lsh.query(vectors[9], { rerank: false, topK: 3 }));
});

test('a handle with another centre is refused with PARAMS_MISMATCH, and nothing is written', async () => {
  const prefix = uniqueName('centre-mismatch');
  const vectors = cone(100, 'mismatch');
  await new LSHRS({ redis, dim: DIM, prefix }).index(vectors.map((vector, id) => ({ id, vector })));
  const before = await redis.hgetall(`{${prefix}}:meta`);
  for (const centre of [false, Array.from({ length: DIM }, () => 0.5)]) {
    const other = new LSHRS({ redis, dim: DIM, prefix, centre });
    await expect(other.ingest(1000, vectors[0])).rejects.toMatchObject({ code: 'PARAMS_MISMATCH', message: expect.stringContaining('centre') });
    await expect(other.query(vectors[0], { rerank: false })).rejects.toMatchObject({ code: 'PARAMS_MISMATCH' });
  }
  expect(await redis.hgetall(`{${prefix}}:meta`)).toEqual(before);
});

test('a given centre is used as given; centre: false and a first batch under 64 vectors hash raw vectors', async () => {
  const given = Array.from({ length: DIM }, (_, i) => i / 10);
  const vectors = cone(100, 'given');
  const withGiven = new LSHRS({ redis, dim: DIM, prefix: uniqueName('given'), centre: given });
  await withGiven.index(vectors.map((vector, id) => ({ id, vector })));
  expect(withGiven.toJSON().mean).toEqual(Array.from(Float32Array.from(given)));

  const raw = new LSHRS({ redis, dim: DIM, prefix: uniqueName('raw'), centre: false });
  await raw.index(vectors.map((vector, id) => ({ id, vector })));
  expect(raw.toJSON().mean).toBeNull();

  const small = new LSHRS({ redis, dim: DIM, prefix: uniqueName('small') });
  await small.index(vectors.slice(0, 63).map((vector, id) => ({ id, vector })));
  expect(small.toJSON().mean).toBeNull();
  expect(await redis.hget(`{${small.prefix}}:meta`, 'mean')).toBe('none');

  expect(() => new LSHRS({ redis, dim: DIM, centre: [1, 2] })).toThrow(/centre has 2 dimensions, the index has 16/);
  expect(() => new LSHRS({ redis, dim: DIM, centre: Array.from({ length: DIM }, () => Number.NaN) })).toThrow(/centre\[0\] is NaN/);
});

test('centring spreads data in a narrow cone over the buckets', async () => {
  const vectors = cone(2000, 'spread');
  const items = vectors.map((vector, id) => ({ id, vector }));
  const shape = { numBands: 4, rowsPerBand: 8 };
  const centred = new LSHRS({ redis, dim: DIM, prefix: uniqueName('spread-c'), ...shape });
  const raw = new LSHRS({ redis, dim: DIM, prefix: uniqueName('spread-r'), centre: false, ...shape });
  await centred.index(items);
  await raw.index(items);
  const [c, r] = [await centred.stats(), await raw.stats()];
  expect(c.buckets).toBeGreaterThan(2 * r.buckets);
  expect(c.largestBuckets[0].size).toBeLessThan(r.largestBuckets[0].size / 2);
});
