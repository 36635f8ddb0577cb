import type { Redis } from 'ioredis';
import { LSHRS, bandValues, defaultProbes, hyperplanes, probeSequence, projections } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
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

/** Hamming distance between two vectors' whole signatures, from their stored reverse records. */
async function hamming(lsh: LSHRS, a: number | string, b: number | string): Promise<number> {
  const [x, y] = await Promise.all([lsh.inspect(a), lsh.inspect(b)]);
  const bx = Buffer.from(x!.signature, 'hex');
  const by = Buffer.from(y!.signature, 'hex');
  let d = 0;
  for (let i = 0; i < bx.length; i++) for (let v = bx[i] ^ by[i]; v; v >>= 1) d += v & 1;
  return d;
}

describe('two-stage candidates', () => {
  test('stage 2 orders candidates by the Hamming distance of whole signatures, and the score estimates cosine from it', async () => {
    const lsh = new LSHRS({ redis, dim: DIM, prefix: uniqueName('hamming'), numBands: 4, rowsPerBand: 2 }); // coarse: many candidates
    const data = vectors(80, 'stage2');
    await lsh.index(data.map((vector, id) => ({ id, vector })));
    const hits = await lsh.query(data[0], { rerank: false, topK: 80 });
    expect(hits[0]).toMatchObject({ id: 0, score: 1 });
    const distances = await Promise.all(hits.map((h) => hamming(lsh, 0, h.id)));
    for (let i = 1; i < hits.length; i++) {
      expect(distances[i]).toBeGreaterThanOrEqual(distances[i - 1]);
      expect(hits[i].score).toBeCloseTo(Math.cos((Math.PI * distances[i]) / 8), 12);
    }
    // Stage 1 alone keeps the collision order.
    const byCollisions = await lsh.query(data[0], { rerank: false, topK: 80, rerankCandidates: 0 });
    for (let i = 1; i < byCollisions.length; i++) expect(byCollisions[i - 1].collisions).toBeGreaterThanOrEqual(byCollisions[i].collisions);
    // rerankCandidates caps what stage 2 returns; maxCandidates caps what reaches it.
    expect(await lsh.query(data[0], { rerank: false, topK: 80, rerankCandidates: 5 })).toHaveLength(5);
    expect(await lsh.query(data[0], { rerank: false, topK: 80, maxCandidates: 3 })).toHaveLength(3);
  });

  test('the script finds reverse records where the client put them: string ids (FNV-1a in Lua) and big integer ids with an odd page count', async () => {
    const strings = ['a', 'doc-7', 'ünïcødé', '日本語のテキスト', 'x'.repeat(300), 'quote\'"', '0', 'ÿ\u00ff\u0100'];
    const lsh = new LSHRS({ redis, dim: DIM, prefix: uniqueName('pages'), reversePages: 997 });
    const data = vectors(strings.length, 'pages');
    await lsh.index(strings.map((id, i) => ({ id, vector: data[i] })));
    for (let i = 0; i < strings.length; i++) {
      // Stage 2 drops a candidate whose record it cannot find: finding each id first proves the page matched.
      expect((await lsh.query(data[i], { rerank: false, topK: 1 }))[0]).toMatchObject({ id: strings[i], score: 1 });
    }
    const big = new LSHRS({ redis, dim: DIM, prefix: uniqueName('bigids'), reversePages: 1000 });
    const ids = [2 ** 53 - 1, 2 ** 40 + 12345, 4294967297, 999];
    await big.index(ids.map((id, i) => ({ id, vector: data[i] })));
    for (let i = 0; i < ids.length; i++) expect((await big.query(data[i], { rerank: false, topK: 1 }))[0]).toMatchObject({ id: ids[i], score: 1 });
  });

  test('with probes, the script reads every bucket the probe sequence lists: the candidates are exactly their union', async () => {
    const prefix = uniqueName('probes');
    const bands = 6;
    const rows = 5;
    const lsh = new LSHRS({ redis, dim: DIM, prefix, numBands: bands, rowsPerBand: rows });
    const data = vectors(300, 'probes');
    await lsh.index(data.map((vector, id) => ({ id, vector })));
    const q = Float32Array.from(vectors(1, 'probe-query')[0]);
    const planes = hyperplanes(DIM, bands * rows, 42);
    const values = bandValues(q, 1, planes, { dim: DIM, bands, rows });
    const all = { rerank: false, topK: 1000, maxCandidates: 1000, rerankCandidates: 0 };
    let previous = 0;
    for (const probes of [1, 3, 8]) {
      const keys = probeSequence(values, projections(q, planes, DIM), bands, rows, probes).map((p) => `{${prefix}}:b:${p.band}:${p.value}`);
      const members = new Set((await Promise.all(keys.map((key) => redis.smembers(key)))).flat());
      const found = (await lsh.query(q, { ...all, probes })).map((h) => String(h.id));
      expect(new Set(found)).toEqual(members);
      expect(found.length).toBeGreaterThan(previous);
      previous = found.length;
    }
  });

  test('expectedSize sets rows per band (buckets of 64 ids or fewer on average) and the default probes follow the rows', () => {
    const shape = (expectedSize: number) => new LSHRS({ redis, dim: DIM, prefix: uniqueName('sized'), expectedSize });
    expect(shape(13_400).shape).toMatchObject({ bands: 16, rows: 8 });
    expect(shape(1_000_000).shape).toMatchObject({ bands: 16, rows: 14 });
    expect(shape(6_400_000).shape).toMatchObject({ bands: 16, rows: 17 });
    expect(shape(1_000_000).probes).toBe(defaultProbes(14));
    expect(new LSHRS({ redis, dim: DIM }).shape).toMatchObject({ bands: 16, rows: 8 });
    for (const bad of [0, 1.5, 5000]) expect(() => new LSHRS({ redis, dim: DIM, probes: bad })).toThrow(/probes must be an integer from 1 to 64/);
    expect(() => new LSHRS({ redis, dim: DIM, expectedSize: -3 })).toThrow(/expectedSize must be an integer/);
  });
});
