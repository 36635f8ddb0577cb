import type { Redis } from 'ioredis';
import type pg from 'pg';
import { LSHRS, PostgresVectorStore } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import { float32ToLE } from '../../src/float32';
import { lshrs, lshrsProcess } from '../support/cli';
import { indexLayout } from '../../src/redis/keys';
import { contentDigests } from '../support/inspect-redis';
import { newPool, newRedis, uniqueName } from '../support/servers';

const ROWS = 200_000;
const DIM = 32;

let redis: Redis;
let pool: pg.Pool;
let table: string;

/** One table of ROWS rows for both builds. */
beforeAll(async () => {
  redis = newRedis();
  pool = newPool();
  table = uniqueName('kill');
  await PostgresVectorStore.createTable(pool, { table });
  const next = gaussianStream('kill');
  for (let start = 0; start < ROWS; start += 20_000) {
    const ids: number[] = [];
    const embeddings: Buffer[] = [];
    for (let id = start + 1; id <= start + 20_000; id++) {
      ids.push(id);
      embeddings.push(float32ToLE(Float32Array.from({ length: DIM }, next)));
    }
    await pool.query(`INSERT INTO "${table}" (id, embedding) SELECT * FROM unnest($1::bigint[], $2::bytea[])`, [ids, embeddings]);
  }
}, 120_000);

afterAll(async () => {
  await redis.quit();
  await pool.end();
});

/**
 * Removes the indexes of a test: the test servers are shared, and a quarter of a million keys
 * left behind would slow every later SCAN of every other test file.
 */
async function clearAll(...prefixes: string[]): Promise<void> {
  for (const prefix of prefixes) await (await LSHRS.open({ redis, prefix })).clear();
}

async function poll<T>(read: () => Promise<T>, done: (value: T) => boolean, seconds: number): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 20));
  }
}

test(`a build of ${ROWS} rows whose process is killed midway resumes to an index identical to an uninterrupted build`, async () => {
  // The reference: one uninterrupted build, in process, planned for the table's size (as the CLI plans a new index).
  const reference = uniqueName('reference');
  await new LSHRS({ redis, dim: DIM, prefix: reference, expectedSize: ROWS, store: new PostgresVectorStore({ pool, table }) }).index();

  // The same build by the command line, killed (SIGKILL: no clean abort) a while in.
  const prefix = uniqueName('killed');
  const common = ['--prefix', prefix, '--table', table];
  const child = lshrsProcess([...common, 'index']);
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  const meta = `{${prefix}}:meta`;
  await poll(
    () => redis.hget(meta, 'ids').then(Number),
    (n) => n >= ROWS / 4,
    120,
  );
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  const [state, cursor, ids] = await redis.hmget(meta, 'buildState', 'buildCursor', 'ids');
  expect(state).toBe('running');
  expect(Number(cursor)).toBeGreaterThanOrEqual(ROWS / 4);
  expect(Number(cursor)).toBeLessThan(ROWS);
  // Every batch landed whole with its position: the ids indexed are exactly those up to the cursor.
  expect(Number(ids)).toBe(Number(cursor));

  const resumed = lshrs([...common, '--json', 'index', '--resume']);
  expect(resumed.status).toBe(0);
  expect(JSON.parse(resumed.stdout)).toMatchObject({ resumed: true, added: ROWS - Number(cursor), moved: 0, unchanged: 0 });
  expect(await redis.hmget(meta, 'buildState', 'buildCursor', 'ids')).toEqual(['done', String(ROWS), String(ROWS)]);

  const [mine, theirs] = await Promise.all([contentDigests(redis, prefix), contentDigests(redis, reference)]);
  expect(mine.size).toBeGreaterThan(ROWS / 1000);
  expect(mine).toEqual(theirs);
  await clearAll(reference, prefix);
}, 300_000);

test(`a 16-shard build of ${ROWS} rows killed midway resumes to an index identical to an uninterrupted 16-shard build`, async () => {
  const reference = uniqueName('reference16');
  await new LSHRS({ redis, dim: DIM, prefix: reference, shards: 16, expectedSize: ROWS, store: new PostgresVectorStore({ pool, table }) }).index();

  const prefix = uniqueName('killed16');
  const common = ['--prefix', prefix, '--table', table];
  const child = lshrsProcess([...common, 'index', '--shards', '16']);
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  const shardMetas = indexLayout(prefix, 16).shards.map((keys) => keys.meta);
  const indexed = async () => (await Promise.all(shardMetas.map((meta) => redis.hget(meta, 'ids')))).reduce((sum, n) => sum + Number(n ?? 0), 0);
  await poll(indexed, (n) => n >= ROWS / 4, 120);
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  // The position is in the root meta and names only batches that landed whole; the batch being
  // written may have landed in part (its other parts wait for the resume).
  const meta = `{${prefix}}:meta`;
  const [state, cursor] = await redis.hmget(meta, 'buildState', 'buildCursor');
  expect(state).toBe('running');
  const ids = await indexed();
  expect(Number(cursor)).toBeGreaterThanOrEqual(ROWS / 4 - 500);
  expect(ids).toBeGreaterThanOrEqual(Number(cursor));
  expect(ids).toBeLessThanOrEqual(Number(cursor) + 500); // at most one batch (batchSize 500) ahead

  const resumed = lshrs([...common, '--json', 'index', '--resume']);
  expect(resumed.status).toBe(0);
  expect(JSON.parse(resumed.stdout)).toMatchObject({ resumed: true, added: ROWS - ids, moved: 0, unchanged: ids - Number(cursor) });
  expect(await redis.hmget(meta, 'buildState', 'buildCursor')).toEqual(['done', String(ROWS)]);
  expect(await indexed()).toBe(ROWS);

  const [mine, theirs] = await Promise.all([contentDigests(redis, prefix), contentDigests(redis, reference)]);
  expect(mine.size).toBeGreaterThan(ROWS / 100);
  expect(mine).toEqual(theirs);
  await clearAll(reference, prefix);
}, 300_000);

test(`Ctrl-C during a build stops it after the batch in flight: buildState "interrupted", a hint to resume, exit 130`, async () => {
  const prefix = uniqueName('sigint');
  const child = lshrsProcess(['--prefix', prefix, '--table', table, 'index']);
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const meta = `{${prefix}}:meta`;
  await poll(
    () => redis.hget(meta, 'ids').then(Number),
    (n) => n >= ROWS / 10,
    120,
  );
  child.kill('SIGINT');
  expect(await exited).toBe(130);
  const [state, cursor, ids] = await redis.hmget(meta, 'buildState', 'buildCursor', 'ids');
  expect(state).toBe('interrupted');
  expect(Number(ids)).toBe(Number(cursor));
  expect(Number(cursor)).toBeLessThan(ROWS);
  expect(stderr.trim().split('\n').pop()).toBe(`lshrs: interrupted at id ${cursor}; run lshrs --prefix ${prefix} index --resume to continue`);

  // The command it names continues the build: the table is the one the index recorded.
  const resumed = lshrs(['--prefix', prefix, '--json', 'index', '--resume']);
  expect(resumed.status).toBe(0);
  expect(JSON.parse(resumed.stdout)).toMatchObject({ resumed: true, table, added: ROWS - Number(cursor), moved: 0, unchanged: 0 });
  expect(await redis.hmget(meta, 'buildState', 'buildCursor', 'ids')).toEqual(['done', String(ROWS), String(ROWS)]);
  await clearAll(prefix);
}, 300_000);
