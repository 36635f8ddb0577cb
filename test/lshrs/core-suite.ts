/*
 * The core's integration suite, run against one Redis (core.test.ts) and against a Redis Cluster
 * (test/cluster/core.test.ts) through the same public API, each with indexes of one shard and of
 * 16: only the client and the `shards` option differ.
 */
import calculateSlot from 'cluster-key-slot';
import type pg from 'pg';
import { LSHRS, LshrsError, PostgresVectorStore } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import type { RedisClient } from '../../src/redis/connection';
import { consistencyProblems, flushScripts, keysHolding, keysOf, mastersOf, snapshot, tagOf } from '../support/inspect-redis';
import { newPool, uniqueName } from '../support/servers';

export interface CoreTarget {
  /** A new host-style client: an ioredis `Redis` or `Cluster`. */
  connect(): RedisClient;
  /** A URL lshrs may open itself; only a single Redis has one. */
  url?: () => string;
}

const DIM = 24;

function randomVectors(count: number, seed: string): number[][] {
  const next = gaussianStream(seed);
  return Array.from({ length: count }, () => Array.from({ length: DIM }, next));
}

/** A vector close to `v` (cosine ~0.99). */
function near(v: number[], seed: string): number[] {
  const next = gaussianStream(seed);
  return v.map((x) => x + 0.1 * next());
}

/**
 * Registers the whole suite in the calling test file; `target` gives the clients, and every index
 * the suite creates has `shards` shards.
 */
export function coreSuite(target: CoreTarget, shards = 1): void {
  let redis: RedisClient;
  let pool: pg.Pool;

  beforeAll(() => {
    redis = target.connect();
    pool = newPool();
  });

  afterAll(async () => {
    await redis.quit();
    await pool.end();
  });

  async function setUp(options: Partial<ConstructorParameters<typeof LSHRS>[0]> = {}) {
    const prefix = uniqueName('core');
    await PostgresVectorStore.createTable(pool, { table: prefix });
    const store = new PostgresVectorStore({ pool, table: prefix });
    const lsh = new LSHRS({ redis, dim: DIM, prefix, store, numBands: 8, rowsPerBand: 4, shards, ...options });
    return { prefix, store, lsh };
  }

  describe('ingest and query', () => {
    test('an ingested item is found first with score ~1, with its text', async () => {
      const { lsh } = await setUp();
      const vectors = randomVectors(50, 'a');
      await lsh.index(vectors.map((vector, id) => ({ id, vector, text: `item ${id}` })));
      const hits = await lsh.query(vectors[17], { topK: 3 });
      expect(hits[0]).toMatchObject({ id: 17, text: 'item 17', collisions: 8 });
      expect(hits[0].score).toBeCloseTo(1, 5);
      expect(hits.length).toBeLessThanOrEqual(3);
      for (let i = 1; i < hits.length; i++) expect(hits[i - 1].score).toBeGreaterThanOrEqual(hits[i].score);
    });

    test('a near neighbour is found and scored by exact cosine', async () => {
      const { lsh } = await setUp();
      const vectors = randomVectors(200, 'b');
      await lsh.index(vectors.map((vector, id) => ({ id, vector })));
      const q = near(vectors[42], 'q');
      const [best] = await lsh.query(q);
      expect(best.id).toBe(42);
      const dot = q.reduce((s, x, i) => s + x * vectors[42][i], 0);
      const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
      expect(best.score).toBeCloseTo(dot / (norm(q) * norm(vectors[42])), 5);
    });

    test('string ids come back as strings, integer ids as numbers', async () => {
      const prefix = uniqueName('strids');
      await PostgresVectorStore.createTable(pool, { table: prefix, idType: 'text' });
      const lsh = new LSHRS({ redis, dim: DIM, prefix, shards, store: new PostgresVectorStore({ pool, table: prefix }) });
      const [v] = randomVectors(1, 'c');
      await lsh.ingest('doc-7', v, 'seven');
      const [hit] = await lsh.query(v);
      expect(hit.id).toBe('doc-7');
      const [collisionOnly] = await lsh.query(v, { rerank: false });
      expect(collisionOnly.id).toBe('doc-7');
    });

    test('rerank: false ranks by sketch without touching the store', async () => {
      const vectors = randomVectors(30, 'd');
      const prefix = uniqueName('norerank');
      const lsh = new LSHRS({ redis, dim: DIM, prefix, numBands: 8, rowsPerBand: 4, shards });
      await lsh.index(vectors.map((vector, id) => ({ id, vector })));
      const hits = await lsh.query(vectors[3], { rerank: false, topK: 5 });
      expect(hits[0]).toEqual({ id: 3, score: 1, collisions: 8 });
      for (let i = 1; i < hits.length; i++) expect(hits[i - 1].score).toBeGreaterThanOrEqual(hits[i].score);
      await expect(lsh.query(vectors[3])).rejects.toMatchObject({ code: 'NO_STORE' });
    });

    test('topP reranks only the top fraction of the sketch ranking', async () => {
      const { lsh } = await setUp({ numBands: 4, rowsPerBand: 1 }); // coarse buckets: many candidates
      const vectors = randomVectors(100, 'e');
      await lsh.index(vectors.map((vector, id) => ({ id, vector })));
      const all = await lsh.query(vectors[0], { rerank: false, topK: 1000 });
      const cut = await lsh.query(vectors[0], { topP: 0.1, topK: 1000 });
      const allowed = new Set(all.slice(0, Math.ceil(0.1 * all.length)).map((h) => h.id));
      expect(cut.length).toBe(allowed.size);
      for (const hit of cut) expect(allowed.has(hit.id)).toBe(true);
    });

    test('rerankCandidates caps what is fetched and reranked: the best by sketch', async () => {
      const { lsh } = await setUp({ numBands: 2, rowsPerBand: 1 });
      const vectors = randomVectors(60, 'f');
      await lsh.index(vectors.map((vector, id) => ({ id, vector })));
      const bySketch = (await lsh.query(vectors[0], { rerank: false, topK: 7 })).map((h) => h.id);
      const reranked = await lsh.query(vectors[0], { topK: 100, rerankCandidates: 7 });
      expect(reranked).toHaveLength(7);
      expect(new Set(reranked.map((h) => h.id))).toEqual(new Set(bySketch));
    });

    test('a query on an empty index returns nothing', async () => {
      const { lsh } = await setUp();
      expect(await lsh.query(randomVectors(1, 'g')[0])).toEqual([]);
    });
  });

  describe('upsert and delete', () => {
    test('re-ingesting an id with a new vector leaves it only in its new buckets', async () => {
      const { lsh, prefix } = await setUp();
      const [a, b] = randomVectors(2, 'h');
      expect(await lsh.ingest(5, a)).toEqual({ added: 1, moved: 0, unchanged: 0 });
      const before = await keysHolding(redis, prefix, '5');
      expect(await lsh.ingest(5, b)).toEqual({ added: 0, moved: 1, unchanged: 0 });
      expect(await lsh.ingest(5, b)).toEqual({ added: 0, moved: 0, unchanged: 1 });
      const after = (await keysHolding(redis, prefix, '5')).filter((k) => k.includes(':b:'));
      expect(after).toHaveLength(8);
      const [hit] = await lsh.query(b, { rerank: false });
      expect(hit).toMatchObject({ id: 5, collisions: 8 });
      // Buckets of the old vector that the new one does not share no longer hold the id (keysHolding reads their records).
      expect(before.filter((k) => k.includes(':b:')).length).toBe(8);
      expect(await consistencyProblems(redis, prefix, 8, 4)).toEqual([]);
      expect(await lsh.stats()).toMatchObject({ ids: 1 });
    });

    test('a deleted id is in no key, and its store row is gone', async () => {
      const { lsh, prefix } = await setUp();
      const vectors = randomVectors(20, 'i');
      await lsh.index(vectors.map((vector, id) => ({ id, vector, text: `t${id}` })));
      expect((await keysHolding(redis, prefix, '7')).length).toBe(9); // 8 buckets and its reverse record (it is its own ordinal)
      expect(await lsh.delete([7, 8, 999])).toEqual({ removed: 2, unknown: 1 });
      expect(await keysHolding(redis, prefix, '7')).toEqual([]);
      expect(await keysHolding(redis, prefix, '8')).toEqual([]);
      const { rows } = await pool.query(`SELECT id FROM "${prefix}" WHERE id IN (7, 8)`);
      expect(rows).toEqual([]);
      expect((await lsh.query(vectors[7], { topK: 20 })).map((h) => h.id)).not.toContain(7);
      expect(await consistencyProblems(redis, prefix, 8, 4)).toEqual([]);
      expect((await lsh.stats()).ids).toBe(18);
    });

    test('a row deleted in Postgres behind lshrs never comes back as a hit', async () => {
      const { lsh, prefix } = await setUp();
      const vectors = randomVectors(10, 'j');
      await lsh.index(vectors.map((vector, id) => ({ id, vector })));
      await pool.query(`DELETE FROM "${prefix}" WHERE id = 4`);
      const hits = await lsh.query(vectors[4], { topK: 10 });
      expect(hits.map((h) => h.id)).not.toContain(4);
      expect((await lsh.query(vectors[4], { rerank: false })).map((h) => h.id)).toContain(4);
    });

    test('a repeated id in one batch keeps its last vector', async () => {
      const { lsh } = await setUp();
      const [a, b] = randomVectors(2, 'k');
      expect(
        await lsh.index([
          { id: 1, vector: a },
          { id: 1, vector: b, text: 'last' },
        ]),
      ).toEqual({ added: 1, moved: 0, unchanged: 0 });
      const [hit] = await lsh.query(b);
      expect(hit).toMatchObject({ id: 1, text: 'last' });
      expect(hit.score).toBeCloseTo(1, 5);
    });

    test('a stream of items is indexed in batches', async () => {
      const { lsh } = await setUp({ batchSize: 7 });
      const vectors = randomVectors(40, 'l');
      async function* stream() {
        for (let id = 0; id < vectors.length; id++) yield { id, vector: vectors[id] };
      }
      expect(await lsh.index(stream())).toEqual({ added: 40, moved: 0, unchanged: 0 });
      expect((await lsh.query(vectors[39]))[0].id).toBe(39);
    });
  });

  describe('bad input is refused and changes nothing', () => {
    test('each bad input gives its code and leaves Redis and Postgres untouched', async () => {
      const { lsh, prefix } = await setUp();
      const good = randomVectors(5, 'm');
      await lsh.index(good.map((vector, id) => ({ id, vector })));
      const before = await snapshot(redis, prefix);
      const rowsBefore = (await pool.query(`SELECT id, embedding FROM "${prefix}" ORDER BY id`)).rows;

      const bad: [string, () => Promise<unknown>][] = [
        ['DIMENSION', () => lsh.ingest(10, good[0].slice(1))],
        [
          'DIMENSION',
          () =>
            lsh.index([
              { id: 10, vector: good[1] },
              { id: 11, vector: [...good[0], 1] },
            ]),
        ],
        [
          'NOT_FINITE',
          () =>
            lsh.ingest(
              10,
              good[0].map((x, i) => (i === 3 ? NaN : x)),
            ),
        ],
        [
          'NOT_FINITE',
          () =>
            lsh.ingest(
              10,
              good[0].map((x, i) => (i === 0 ? Infinity : x)),
            ),
        ],
        ['ZERO_VECTOR', () => lsh.ingest(10, new Array(DIM).fill(0))],
        ['BAD_ID', () => lsh.ingest(-1, good[0])],
        ['BAD_ID', () => lsh.ingest(1.5, good[0])],
        ['BAD_ID', () => lsh.ingest(2 ** 53, good[0])],
        ['BAD_ID', () => lsh.ingest('', good[0])],
        ['BAD_ID', () => lsh.ingest('a\nb', good[0])],
        ['BAD_ID', () => lsh.ingest('x'.repeat(513), good[0])],
        ['BAD_ID', () => lsh.ingest(null as unknown as number, good[0])],
        [
          'ID_TYPE',
          () =>
            lsh.index([
              { id: 10, vector: good[0] },
              { id: '11', vector: good[1] },
            ]),
        ],
        ['ID_TYPE', () => lsh.ingest('0', good[0])],
        ['ID_TYPE', () => lsh.delete('0')],
        ['DIMENSION', () => lsh.query(good[0].slice(2))],
        ['ZERO_VECTOR', () => lsh.query(new Array(DIM).fill(0))],
        ['BAD_OPTION', () => lsh.query(good[0], { topP: 0 })],
        ['BAD_OPTION', () => lsh.query(good[0], { topK: 0 })],
      ];
      for (const [code, call] of bad) {
        const err = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(LshrsError);
        expect({ code: (err as LshrsError).code, message: (err as Error).message }).toMatchObject({ code });
      }
      expect(await snapshot(redis, prefix)).toEqual(before);
      expect((await pool.query(`SELECT id, embedding FROM "${prefix}" ORDER BY id`)).rows).toEqual(rowsBefore);
    });

    test('messages name the problem', async () => {
      const { lsh } = await setUp();
      await expect(lsh.ingest(1, [1, 2, 3])).rejects.toThrow('vector has 3 dimensions, the index has 24');
      await expect(lsh.ingest(1.5, new Array(DIM).fill(1))).rejects.toThrow('id 1.5 is not a non-negative safe integer');
    });

    test('an index created with other parameters is refused, naming what differs', async () => {
      const { lsh, prefix } = await setUp();
      const [v] = randomVectors(1, 'n');
      await lsh.ingest(1, v);
      const before = await snapshot(redis, prefix);
      const otherSeed = new LSHRS({ redis, dim: DIM, prefix, numBands: 8, rowsPerBand: 4, shards, seed: 7 });
      await expect(otherSeed.ingest(2, v)).rejects.toMatchObject({ code: 'PARAMS_MISMATCH' });
      await expect(otherSeed.query(v, { rerank: false })).rejects.toThrow(/seed 42 in Redis, 7 here/);
      const otherShape = new LSHRS({ redis, dim: DIM + 1, prefix });
      await expect(otherShape.delete(1)).rejects.toThrow(/dim 24 in Redis, 25 here.*bands 8 in Redis, 4 here/);
      await expect(otherShape.stats()).rejects.toMatchObject({ code: 'PARAMS_MISMATCH' });
      expect(await snapshot(redis, prefix)).toEqual(before);
    });

    test('a handle with another shard count is refused, naming it, and changes nothing', async () => {
      const { lsh, prefix } = await setUp();
      const vectors = randomVectors(20, 'n2');
      await lsh.index(vectors.map((vector, id) => ({ id, vector })));
      const before = await snapshot(redis, prefix);
      for (const other of [1, 4, 16].filter((n) => n !== shards)) {
        const wrong = new LSHRS({ redis, dim: DIM, prefix, numBands: 8, rowsPerBand: 4, shards: other });
        const named = new RegExp(`shards ${shards} in Redis, ${other} here`);
        await expect(wrong.ingest(100, vectors[0])).rejects.toThrow(named);
        await expect(wrong.index(vectors.map((vector, id) => ({ id: id + 200, vector })))).rejects.toMatchObject({ code: 'PARAMS_MISMATCH' });
        await expect(wrong.query(vectors[1], { rerank: false })).rejects.toThrow(named);
        await expect(wrong.delete([1, 2])).rejects.toMatchObject({ code: 'PARAMS_MISMATCH' });
        await expect(wrong.stats()).rejects.toThrow(named);
      }
      expect(await snapshot(redis, prefix)).toEqual(before);
      await expect(LSHRS.open({ redis, prefix })).resolves.toMatchObject({ shape: expect.objectContaining({ shards }) });
    });

    test('options are validated when constructing', () => {
      expect(() => new LSHRS({ redis, dim: 0 })).toThrow(expect.objectContaining({ code: 'BAD_OPTION' }));
      expect(() => new LSHRS({ redis, dim: 8, prefix: 'a{b}' })).toThrow(/prefix/);
      expect(() => new LSHRS({ redis, dim: 8, batchSize: 0 })).toThrow(/batchSize/);
      expect(() => new LSHRS({ redis, dim: 8, shards: 0 })).toThrow(/shards must be an integer from 1 to 256/);
      expect(() => new LSHRS({ redis, dim: 8, shards: 1.5 })).toThrow(/shards/);
      expect(() => new LSHRS({ redis, dim: 8, waitForReplicas: { replicas: 1, timeoutMs: 0 } })).toThrow(/waitForReplicas/);
      expect(() => new LSHRS({ redis, dim: 8, fetchVectors: async () => [], store: { fetch: async () => [] } })).toThrow(/either/);
    });

    test('a dead Redis gives an error, not a hang', async () => {
      const lsh = new LSHRS({ redis: 'redis://127.0.0.1:1', dim: DIM, prefix: uniqueName('dead'), shards });
      await expect(lsh.query(randomVectors(1, 'o')[0], { rerank: false })).rejects.toThrow(/ECONNREFUSED|max retries|Connection is closed/i);
      await lsh.close().catch(() => undefined);
    });
  });

  describe('keys, stats, clear, saved state', () => {
    if (shards === 1)
      test('keys follow the documented schema and share one hash tag', async () => {
        const { lsh, prefix } = await setUp();
        const [v1, v2] = randomVectors(2, 'p');
        await lsh.ingest(70000, v1);
        // An integer id below 2^31 is its own ordinal: no ordinal entry.
        expect((await keysOf(redis, prefix)).filter((k) => k.includes(':o:'))).toEqual([]);
        // A larger one takes the first counted ordinal, 2^31, whose entry is in page 2^31 mod 65536 = 0.
        await lsh.ingest(2 ** 40, v2);
        await lsh.delete(2 ** 40);
        await lsh.ingest(2 ** 41, v2);
        const keys = await keysOf(redis, prefix);
        expect(keys).toContain(`{${prefix}}:meta`);
        expect(keys).toContain(`{${prefix}}:r:${70000 % 65536}`);
        expect(keys.filter((k) => /:b:\d+:\d+$/.test(k)).length).toBeGreaterThanOrEqual(8);
        expect(keys.filter((k) => k.includes(':o:'))).toEqual([`{${prefix}}:o:1`]); // ordinal 2^31 + 1: counted ordinals are never reused
        expect(keys).toContain(`{${prefix}}:ident`);
        const meta = await redis.hgetall(`{${prefix}}:meta`);
        expect(meta).toMatchObject({
          schema: '3',
          sketchBits: '256',
          bucketCap: '4096',
          mean: 'none', // one vector is too few to estimate a mean from
          dim: String(DIM),
          seed: '42',
          bands: '8',
          rows: '4',
          reversePages: '65536',
          idType: 'int',
          ids: '2',
          ordinals: String(2 ** 31 + 2),
        });
        expect(meta.shards).toBeUndefined(); // a one-shard index's meta is as it was before shards existed
        // Redis Cluster hashes only the part inside the first braces: every key lands in one slot.
        expect(new Set(keys.map((k) => calculateSlot(k))).size).toBe(1);
        expect(keys.length).toBeGreaterThan(2);
      });

    if (shards > 1)
      test('a sharded index keeps its parameters at {prefix}:meta and each shard under its own tag', async () => {
        const { lsh, prefix } = await setUp();
        await lsh.ingest(70000, randomVectors(1, 'p')[0]);
        const keys = await keysOf(redis, prefix);
        const root = await redis.hgetall(`{${prefix}}:meta`);
        expect(root).toMatchObject({ schema: '3', dim: String(DIM), bands: '8', rows: '4', shards: String(shards), idType: 'int', ids: '0' });
        // Every shard's meta exists from the first write on, with the same parameters.
        const metas = keys.filter((k) => k.endsWith(':meta') && k !== `{${prefix}}:meta`);
        expect(metas).toHaveLength(shards);
        for (const meta of metas) {
          expect(meta).toMatch(new RegExp(`^\\{${prefix}#\\d+\\.\\d+\\}:meta$`));
          expect(await redis.hget(meta, 'fingerprint')).toBe(root.fingerprint);
        }
        // The one id sits in one shard: its 8 buckets and its reverse record (it is its own ordinal) share that shard's tag.
        const holding = await keysHolding(redis, prefix, '70000');
        expect(holding).toHaveLength(9);
        const [tag] = new Set(holding.map(tagOf));
        expect(new Set(holding.map(tagOf)).size).toBe(1);
        expect(holding).toContain(`${tag}:r:${70000 % 65536}`);
        expect(Number(await redis.hget(`${tag}:meta`, 'ids'))).toBe(1);
        // Each tag is one slot; the shards' slots are all different.
        const slotsByTag = new Map<string, Set<number>>();
        for (const key of keys) {
          const slots = slotsByTag.get(tagOf(key)) ?? new Set<number>();
          slots.add(calculateSlot(key));
          slotsByTag.set(tagOf(key), slots);
        }
        expect([...slotsByTag.values()].every((slots) => slots.size === 1)).toBe(true);
        expect(new Set([...slotsByTag.values()].map((slots) => [...slots][0])).size).toBe(shards + 1);
        expect((await lsh.describe()).shardIds.filter((n) => n === 1)).toHaveLength(1);
      });

    if (shards > 1)
      test('candidates are ranked as an index of one shard ranks them: the client merges every shard before ranking', async () => {
        const { lsh, store } = await setUp({ numBands: 6, rowsPerBand: 2 }); // coarse buckets: many candidates
        const single = new LSHRS({ redis, dim: DIM, prefix: uniqueName('single'), numBands: 6, rowsPerBand: 2, store });
        const vectors = randomVectors(300, 'w');
        const items = vectors.map((vector, id) => ({ id, vector }));
        await Promise.all([lsh.index(items), single.index(items)]);
        // Ordinals differ between the two, so items of equal sketch distance may come in another order: compare scores in order, and the sets.
        const byScoreThenId = (hits: { id: unknown; score: number }[]) => [...hits].sort((a, b) => b.score - a.score || Number(a.id) - Number(b.id));
        for (const q of [0, 5, 77]) {
          for (const topK of [1, 10, 37, 1000]) {
            const [mine, theirs] = [await lsh.query(vectors[q], { rerank: false, topK }), await single.query(vectors[q], { rerank: false, topK })];
            expect(mine.map((h) => h.score)).toEqual(theirs.map((h) => h.score));
            if (topK === 1000) expect(byScoreThenId(mine)).toEqual(byScoreThenId(theirs));
            // Reranked, exact cosines: the very same hits.
            expect(await lsh.query(vectors[q], { topK: 10 })).toEqual(await single.query(vectors[q], { topK: 10 }));
          }
        }
        await single.clear();
      });

    test('stats reports parameters, counts and bytes', async () => {
      const { lsh, prefix } = await setUp();
      await lsh.index(randomVectors(100, 'q').map((vector, id) => ({ id, vector })));
      const stats = await lsh.stats();
      expect(stats).toMatchObject({ dim: DIM, seed: 42, bands: 8, rows: 4, shards, ids: 100, idType: 'int', reversePagesUsed: 100 });
      expect(stats.buckets).toBeGreaterThan(8);
      expect(stats.buckets).toBeLessThanOrEqual(8 * 16 * shards);
      expect(stats.shardIds).toHaveLength(shards);
      expect(stats.shardIds.reduce((a, b) => a + b, 0)).toBe(100);
      expect(stats.redisBytes).toBeGreaterThan(0);
      expect(stats.bytesPerId).toBeCloseTo(stats.redisBytes / 100, 6);
      // Every data node is listed, and together they hold every key and byte.
      expect(stats.nodes).toHaveLength((await mastersOf(redis)).length);
      expect(stats.nodes.reduce((sum, n) => sum + n.bytes, 0)).toBe(stats.redisBytes);
      expect(stats.nodes.reduce((sum, n) => sum + n.keys, 0)).toBe((await keysOf(redis, prefix)).length);
    });

    test('clear removes every key of the index and nothing else', async () => {
      const { lsh, prefix } = await setUp();
      await redis.set(`{${prefix}}:not-ours`, 'keep');
      await redis.set(`${prefix}:plain`, 'keep');
      await lsh.index(randomVectors(30, 'r').map((vector, id) => ({ id, vector })));
      expect(await lsh.clear()).toBeGreaterThan(30);
      expect(await keysOf(redis, prefix)).toEqual([`{${prefix}}:not-ours`]);
      expect(await redis.get(`${prefix}:plain`)).toBe('keep');
      expect((await lsh.stats()).ids).toBe(0);
    });

    test('clear through a client that has only just been created still removes every key', async () => {
      const { lsh, prefix } = await setUp();
      await lsh.index(randomVectors(30, 'r2').map((vector, id) => ({ id, vector })));
      const fresh = target.connect(); // a cluster client knows no masters before its slot map arrives
      try {
        const again = new LSHRS({ redis: fresh, dim: DIM, prefix, numBands: 8, rowsPerBand: 4 });
        expect(await again.clear()).toBeGreaterThan(30);
        expect(await keysOf(redis, prefix)).toEqual([]);
      } finally {
        await fresh.quit();
      }
    });

    test('toJSON is a few numbers, and fromJSON rebuilds the same hashing', async () => {
      const { lsh, store, prefix } = await setUp({ seed: 'words', numBands: 6, rowsPerBand: 5 });
      const vectors = randomVectors(20, 's');
      await lsh.index(vectors.map((vector, id) => ({ id, vector })));
      const json = JSON.stringify(lsh);
      const saved = JSON.parse(json);
      expect(saved).toEqual({
        lshrs: 1,
        prefix,
        dim: DIM,
        seed: 'words',
        bands: 6,
        rows: 5,
        reversePages: 65536,
        shards,
        sketchBits: 256,
        bucketCap: 4096,
        mean: null, // 20 vectors are too few to estimate a mean from
      });
      const again = LSHRS.fromJSON(json, { redis, store });
      expect(await again.query(vectors[11], { topK: 1 })).toEqual(await lsh.query(vectors[11], { topK: 1 }));
    });

    // Only where the target has a URL: a URL always opens a single-node client, so a cluster run has no such case.
    const url = target.url;
    if (url) {
      test('close quits a Redis opened from a URL', async () => {
        const owned = new LSHRS({ redis: url(), dim: DIM, prefix: uniqueName('close'), shards });
        await owned.ingest(1, randomVectors(1, 't')[0]);
        await owned.close();
        await expect(owned.query(randomVectors(1, 't')[0], { rerank: false })).rejects.toThrow(/closed/i);
      });
    }

    test('close leaves a host client open', async () => {
      const hosted = new LSHRS({ redis, dim: DIM, prefix: uniqueName('close') });
      await hosted.close();
      expect(await redis.ping()).toBe('PONG');
    });
  });

  describe('scripts in a live Redis', () => {
    test('SCRIPT FLUSH mid-run is survived', async () => {
      const { lsh } = await setUp();
      const vectors = randomVectors(20, 'u');
      await lsh.index(vectors.slice(0, 10).map((vector, id) => ({ id, vector })));
      await flushScripts(redis);
      await lsh.index(vectors.slice(10).map((vector, i) => ({ id: i + 10, vector })));
      await flushScripts(redis);
      expect((await lsh.query(vectors[15]))[0].id).toBe(15);
      await flushScripts(redis);
      expect(await lsh.delete(15)).toEqual({ removed: 1, unknown: 0 });
    });

    test('concurrent ingests and deletes from several clients leave the index consistent', async () => {
      const prefix = uniqueName('concurrent');
      const clients = Array.from({ length: 4 }, () => target.connect());
      const vectors = randomVectors(400, 'v');
      const handles = clients.map((client) => new LSHRS({ redis: client, dim: DIM, prefix, numBands: 8, rowsPerBand: 4, batchSize: 25, shards }));
      await Promise.all(
        handles.map(async (lsh, c) => {
          for (let round = 0; round < 3; round++) {
            // Every client writes overlapping ids with its own vectors, and deletes some of them.
            const items = vectors.slice(0, 200).map((_, id) => ({ id: (id * (c + 1)) % 300, vector: vectors[(id + c * 50 + round * 7) % 400] }));
            await lsh.index(items);
            await lsh.delete(items.filter((_, i) => i % (5 + c) === 0).map((item) => item.id));
          }
        }),
      );
      expect(await consistencyProblems(redis, prefix, 8, 4)).toEqual([]);
      await Promise.all(clients.map((c) => c.quit()));
    });
  });
}
