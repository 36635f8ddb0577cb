import type { Redis } from 'ioredis';
import { LSHRS, defaultProbes } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import { Hasher } from '../../src/hashing/hasher';
import { tableProbes } from '../../src/hashing/table-probes';
import { newRedis, uniqueName } from '../support/servers';

const DIM = 24;
let redis: Redis;

beforeAll(() => {
  redis = newRedis();
});

afterAll(async () => {
  await redis.quit();
});

function vectors(count: number, seed: string): number[][] {
  const next = gaussianStream(seed);
  return Array.from({ length: count }, () => Array.from({ length: DIM }, next));
}

/** Hamming distance between two items' sketches, from their reverse records. */
async function sketchDistance(lsh: LSHRS, a: number | string, b: number | string): Promise<number> {
  const [x, y] = await Promise.all([lsh.inspect(a), lsh.inspect(b)]);
  const skip = lsh.shape.bands * Math.ceil(lsh.shape.rows / 8);
  const bx = Buffer.from(x?.signature ?? '', 'hex').subarray(skip);
  const by = Buffer.from(y?.signature ?? '', 'hex').subarray(skip);
  let d = 0;
  for (let i = 0; i < bx.length; i++) for (let v = bx[i] ^ by[i]; v; v >>= 1) d += v & 1;
  return d;
}

describe('candidates ranked by sketch in the client', () => {
  test('similar without rerank orders an item own buckets by the Hamming distance of sketches, and the score estimates cosine from it', async () => {
    const lsh = new LSHRS({ redis, dim: DIM, prefix: uniqueName('sketch'), numBands: 4, rowsPerBand: 2 }); // coarse: many candidates
    const data = vectors(80, 'sketch');
    await lsh.index(data.map((vector, id) => ({ id, vector })));
    const hits = await lsh.similar(0, { rerank: false, topK: 80 });
    expect(hits.length).toBeGreaterThan(10);
    const distances = await Promise.all(hits.map((h) => sketchDistance(lsh, 0, h.id)));
    for (let i = 1; i < hits.length; i++) {
      expect(distances[i]).toBeGreaterThanOrEqual(distances[i - 1]);
      expect(hits[i].score).toBeCloseTo(Math.cos((Math.PI * distances[i]) / 256), 6);
    }
    // A query vector finds itself first, with the estimate of an identical sketch.
    expect((await lsh.query(data[0], { rerank: false, topK: 5 }))[0]).toMatchObject({ id: 0, score: 1 });
    expect(await lsh.query(data[0], { rerank: false, topK: 5 })).toHaveLength(5);
  });

  test('ordinals map back to ids of every kind: string ids and big integer ids with an odd page count', async () => {
    const strings = ['a', 'doc-7', 'ünïcødé', '日本語のテキスト', 'x'.repeat(300), 'quote\'"', '0', 'ÿ\u00ff\u0100'];
    const lsh = new LSHRS({ redis, dim: DIM, prefix: uniqueName('pages'), reversePages: 997 });
    const data = vectors(strings.length, 'pages');
    await lsh.index(strings.map((id, i) => ({ id, vector: data[i] })));
    for (let i = 0; i < strings.length; i++) {
      expect((await lsh.query(data[i], { rerank: false, topK: 1 }))[0]).toMatchObject({ id: strings[i], score: 1 });
    }
    const big = new LSHRS({ redis, dim: DIM, prefix: uniqueName('bigids'), reversePages: 1000 });
    const ids = [2 ** 53 - 1, 2 ** 40 + 12345, 4294967297, 999];
    await big.index(ids.map((id, i) => ({ id, vector: data[i] })));
    for (let i = 0; i < ids.length; i++) expect((await big.query(data[i], { rerank: false, topK: 1 }))[0]).toMatchObject({ id: ids[i], score: 1 });
  });

  test('with probes, a query reads exactly the buckets the probe sequence lists: its candidates are their records', async () => {
    const prefix = uniqueName('probes');
    const bands = 6;
    const rows = 5;
    const lsh = new LSHRS({ redis, dim: DIM, prefix, numBands: bands, rowsPerBand: rows });
    const data = vectors(300, 'probes');
    await lsh.index(data.map((vector, id) => ({ id, vector })));
    const mean = lsh.toJSON().mean;
    expect(mean).toHaveLength(DIM); // centred on the first batch
    const hasher = new Hasher(lsh.shape);
    hasher.useMean(Float32Array.from(mean as number[]));
    const q = Float32Array.from(vectors(1, 'probe-query')[0]);
    const hashed = hasher.hash(q, 1);
    const recordSize = 4 + 256 / 8;
    let previous = 0;
    for (const probes of [1, 3, 8]) {
      const values = tableProbes(hashed.values, hashed.projections, bands, rows, probes);
      const keys = Array.from(values, (value, i) => `{${prefix}}:b:${Math.floor(i / probes)}:${value}`);
      const ordinals = new Set<number>();
      for (const bucket of await redis.mgetBuffer(...keys)) {
        for (let at = 0; bucket && at < bucket.length; at += recordSize) ordinals.add(bucket.readUInt32BE(at));
      }
      // Integer ids below 2^31 are their own ordinals: the records carry the ids themselves.
      const ids = [...ordinals].map(String);
      const found = (await lsh.query(q, { rerank: false, topK: 1000, probes })).map((h) => String(h.id));
      expect(new Set(found)).toEqual(new Set(ids));
      expect(found.length).toBeGreaterThan(previous);
      previous = found.length;
    }
  });

  test('expectedSize sets rows per band (buckets of about 64 ids) and the default probes follow the rows', () => {
    const shape = (expectedSize: number) => new LSHRS({ redis, dim: DIM, prefix: uniqueName('sized'), expectedSize });
    expect(shape(13_400).shape).toMatchObject({ bands: 4, rows: 8 });
    expect(shape(1_000_000).shape).toMatchObject({ bands: 4, rows: 14 });
    expect(shape(6_400_000).shape).toMatchObject({ bands: 4, rows: 17 });
    expect(shape(1_000_000).probes).toBe(defaultProbes(14, 4));
    expect(new LSHRS({ redis, dim: DIM }).shape).toMatchObject({ bands: 4, rows: 14, sketchBits: 256, bucketCap: 4096, centre: true });
    // It sizes the reverse pages too (at most ~96 ids a page, per shard); without it, 65536.
    expect([13_400, 100_000, 1_000_000, 6_400_000, 50_000_000].map((n) => shape(n).shape.reversePages)).toEqual([256, 2048, 16384, 65536, 65536]);
    expect(new LSHRS({ redis, dim: DIM, expectedSize: 1_000_000, shards: 4 }).shape.reversePages).toBe(4096);
    expect(new LSHRS({ redis, dim: DIM, expectedSize: 1_000_000, reversePages: 7 }).shape.reversePages).toBe(7);
    expect(new LSHRS({ redis, dim: DIM }).shape.reversePages).toBe(65536);
    for (const bad of [0, 1.5, 5000]) expect(() => new LSHRS({ redis, dim: DIM, probes: bad })).toThrow(/probes must be an integer from 1 to 4096/);
    expect(() => new LSHRS({ redis, dim: DIM, expectedSize: -3 })).toThrow(/expectedSize must be an integer/);
  });
});
