import type { Redis } from 'ioredis';
import type pg from 'pg';
import { LSHRS, LshrsError, PostgresVectorStore, type BuildProgress } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import { float32ToLE } from '../../src/float32';
import { indexLayout } from '../../src/redis/keys';
import { consistencyProblems, indexContent } from '../support/inspect-redis';
import { newPool, newRedis, uniqueName } from '../support/servers';

const DIM = 32;
const ROWS = 1000;

let redis: Redis;
let pool: pg.Pool;
let table: string;
const vectors: Float32Array[] = [];

/** A table the host filled itself: rows 1..ROWS, written with SQL, not through lshrs. */
beforeAll(async () => {
  redis = newRedis();
  pool = newPool();
  table = uniqueName('build');
  await PostgresVectorStore.createTable(pool, { table });
  const next = gaussianStream('build');
  for (let id = 0; id < ROWS; id++) vectors.push(Float32Array.from({ length: DIM }, next));
  await pool.query(`INSERT INTO "${table}" SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::text[])`, [
    vectors.map((_, i) => i + 1),
    vectors.map((v) => float32ToLE(v)),
    vectors.map((_, i) => `row ${i + 1}`),
  ]);
});

afterAll(async () => {
  await redis.quit();
  await pool.end();
});

const handle = (prefix: string, batchSize = 100, shards = 1) =>
  new LSHRS({ redis, dim: DIM, prefix, batchSize, shards, store: new PostgresVectorStore({ pool, table }) });

test('index() with no items builds from the whole store, reporting progress', async () => {
  const prefix = uniqueName('full');
  const lsh = handle(prefix);
  const seen: BuildProgress[] = [];
  expect(await lsh.index(undefined, { onProgress: (p) => seen.push(p) })).toEqual({ added: ROWS, moved: 0, unchanged: 0 });
  expect(seen.map((p) => p.done)).toEqual(Array.from({ length: ROWS / 100 }, (_, i) => (i + 1) * 100));
  expect(seen.every((p) => p.total === ROWS && p.rate > 0)).toBe(true);
  expect(seen[seen.length - 1].etaSeconds).toBe(0);
  expect(await redis.hmget(`{${prefix}}:meta`, 'buildCursor', 'buildState')).toEqual([String(ROWS), 'done']);
  const [hit] = await lsh.query(vectors[499], { topK: 1 });
  expect(hit).toMatchObject({ id: 500, text: 'row 500' });
  expect(await consistencyProblems(redis, prefix, 4, 14)).toEqual([]);
  // A finished build run again changes nothing.
  const before = await indexContent(redis, prefix);
  expect(await lsh.index()).toEqual({ added: 0, moved: 0, unchanged: ROWS });
  expect(await indexContent(redis, prefix)).toEqual(before);
});

test('an aborted build resumes from its recorded position and ends identical to an uninterrupted one', async () => {
  const reference = uniqueName('reference');
  await handle(reference).index();

  const prefix = uniqueName('resumed');
  const controller = new AbortController();
  const first = handle(prefix);
  const aborted = first.index(undefined, {
    signal: controller.signal,
    onProgress: (p) => {
      if (p.done === 300) controller.abort();
    },
  });
  await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
  // The batch in flight landed before the abort took effect: the position names its last id.
  const cursor = Number(await redis.hget(`{${prefix}}:meta`, 'buildCursor'));
  expect(cursor).toBeGreaterThanOrEqual(300);
  expect(cursor).toBeLessThan(ROWS);
  expect(Number(await redis.hget(`{${prefix}}:meta`, 'ids'))).toBe(cursor);

  const seen: BuildProgress[] = [];
  const resumed = await handle(prefix).index(undefined, { resume: true, onProgress: (p) => seen.push(p) });
  expect(resumed).toEqual({ added: ROWS - cursor, moved: 0, unchanged: 0 });
  expect(seen[0].total).toBe(ROWS - cursor);
  expect(await indexContent(redis, prefix)).toEqual(await indexContent(redis, reference));
  // Resuming a finished build finds nothing left to do.
  expect(await handle(prefix).index(undefined, { resume: true })).toEqual({ added: 0, moved: 0, unchanged: 0 });
});

test('an aborted sharded build resumes from the position in {prefix}:meta to an index identical to an uninterrupted one', async () => {
  const reference = uniqueName('sharded_reference');
  await handle(reference, 100, 16).index();
  expect(await redis.hmget(`{${reference}}:meta`, 'buildCursor', 'buildState')).toEqual([String(ROWS), 'done']);

  const prefix = uniqueName('sharded_resumed');
  const controller = new AbortController();
  const aborted = handle(prefix, 100, 16).index(undefined, {
    signal: controller.signal,
    onProgress: (p) => {
      if (p.done === 300) controller.abort();
    },
  });
  await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
  // Every part of the batch in flight landed, then its position: the ids are exactly those up to it.
  const cursor = Number(await redis.hget(`{${prefix}}:meta`, 'buildCursor'));
  expect(cursor).toBeGreaterThanOrEqual(300);
  expect(cursor).toBeLessThan(ROWS);
  expect((await handle(prefix, 100, 16).describe()).ids).toBe(cursor);

  expect(await handle(prefix, 100, 16).index(undefined, { resume: true })).toEqual({ added: ROWS - cursor, moved: 0, unchanged: 0 });
  expect(await indexContent(redis, prefix)).toEqual(await indexContent(redis, reference));
  expect(await consistencyProblems(redis, prefix, 4, 14)).toEqual([]);
});

test('a sharded batch whose part fails on one shard leaves the position before it, and resume redoes it', async () => {
  const reference = uniqueName('parts_reference');
  await handle(reference, 100, 16).index();

  const prefix = uniqueName('parts');
  const shard5 = indexLayout(prefix, 16).shards[5].meta;
  // Once 300 rows have landed, shard 5 refuses writes (its meta names other parameters): the next
  // batch's other parts land, its part on shard 5 does not. The HSET goes first on the connection
  // the build writes through, so it lands before that batch.
  let fingerprint: string | null = null;
  const err = await handle(prefix, 100, 16)
    .index(undefined, {
      onProgress: (p) => {
        if (p.done !== 300) return;
        void redis.hget(shard5, 'fingerprint').then((f) => (fingerprint = f));
        void redis.hset(shard5, 'fingerprint', 'planted');
      },
    })
    .catch((e: unknown) => e);
  expect(err).toMatchObject({ code: 'PARAMS_MISMATCH' });
  expect(await redis.hget(`{${prefix}}:meta`, 'buildCursor')).toBe('300');
  const landed = (await handle(prefix, 100, 16).describe()).shardIds;
  const beyond = landed.reduce((a, b) => a + b, 0) - 300;
  expect(beyond).toBeGreaterThan(0); // parts of the failed batch that landed: ahead of the position
  expect(beyond).toBeLessThan(100);

  await redis.hset(shard5, 'fingerprint', String(fingerprint));
  expect(await handle(prefix, 100, 16).index(undefined, { resume: true })).toEqual({ added: ROWS - 300 - beyond, moved: 0, unchanged: beyond });
  expect(await indexContent(redis, prefix)).toEqual(await indexContent(redis, reference));
});

test('rows added to the table after a build are picked up by a resume', async () => {
  const prefix = uniqueName('topup');
  await handle(prefix).index();
  const extra = Float32Array.from({ length: DIM }, gaussianStream('extra'));
  await pool.query(`INSERT INTO "${table}" VALUES ($1, $2, 'late row')`, [ROWS + 1, float32ToLE(extra)]);
  try {
    expect(await handle(prefix).index(undefined, { resume: true })).toEqual({ added: 1, moved: 0, unchanged: 0 });
    expect((await handle(prefix).query(extra, { topK: 1 }))[0]).toMatchObject({ id: ROWS + 1, text: 'late row' });
  } finally {
    await pool.query(`DELETE FROM "${table}" WHERE id = $1`, [ROWS + 1]);
  }
});

test('a bad row stops the build with its id; after the fix, resume finishes it', async () => {
  const badTable = uniqueName('badrow');
  await PostgresVectorStore.createTable(pool, { table: badTable });
  await pool.query(`INSERT INTO "${badTable}" SELECT id, embedding, text FROM "${table}" WHERE id <= 250`);
  await pool.query(`UPDATE "${badTable}" SET embedding = $1 WHERE id = 170`, [float32ToLE(new Float32Array(DIM))]);
  const prefix = uniqueName('badrow');
  const lsh = new LSHRS({ redis, dim: DIM, prefix, batchSize: 100, store: new PostgresVectorStore({ pool, table: badTable }) });
  const err = await lsh.index().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(LshrsError);
  expect((err as LshrsError).message).toBe('row 170 of the store: vector is all zeros and has no direction');
  expect(await redis.hget(`{${prefix}}:meta`, 'buildCursor')).toBe('100');
  await pool.query(`UPDATE "${badTable}" SET embedding = $1 WHERE id = 170`, [float32ToLE(vectors[169])]);
  expect(await lsh.index(undefined, { resume: true })).toEqual({ added: 150, moved: 0, unchanged: 0 });
  expect(await consistencyProblems(redis, prefix, 4, 14)).toEqual([]);
});

test('similar: more like an indexed id, the id itself left out', async () => {
  const prefix = uniqueName('similar');
  const lsh = handle(prefix);
  await lsh.index();
  const query = await lsh.query(vectors[41], { topK: 6 });
  const similar = await lsh.similar(42, { topK: 5 });
  expect(similar.map((h) => h.id)).toEqual(
    query
      .filter((h) => h.id !== 42)
      .slice(0, 5)
      .map((h) => h.id),
  );
  expect(similar.map((h) => h.id)).not.toContain(42);
  const collisionOnly = await lsh.similar(42, { rerank: false, topK: 5 });
  expect(collisionOnly.map((h) => h.id)).not.toContain(42);
  expect(collisionOnly.length).toBeGreaterThan(0);
  await expect(lsh.similar(99999)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  await expect(lsh.similar(99999, { rerank: false })).rejects.toMatchObject({ code: 'NOT_FOUND' });
});

test('LSHRS.open takes the parameters stored with the index', async () => {
  const prefix = uniqueName('open');
  const made = new LSHRS({ redis, dim: DIM, prefix, seed: 'opened', numBands: 5, rowsPerBand: 7 });
  await made.ingest(1, vectors[0]);
  const opened = await LSHRS.open({ redis, prefix });
  expect(opened.toJSON()).toEqual(made.toJSON());
  expect((await opened.query(vectors[0], { rerank: false }))[0].id).toBe(1);
  await expect(LSHRS.open({ redis, prefix: uniqueName('none') })).rejects.toMatchObject({ code: 'NOT_FOUND' });
});
