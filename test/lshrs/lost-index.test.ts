/*
 * An index that notices it was wiped, evicted or rolled back: a build or write stops with
 * INDEX_LOST instead of carrying on into an empty index, and queries say so instead of answering
 * from what is left.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { LSHRS, PostgresVectorStore, type VectorStore } from '../../src';
import { float32ToLE } from '../../src/float32';
import { gaussianStream } from '../../src/hashing/gaussian';
import { indexLayout } from '../../src/redis/keys';
import { systemRedisServer, freePort } from '../../dev/servers';
import { newPool, newRedis, uniqueName } from '../support/servers';

const DIM = 16;
const ROWS = 3000;

let pool: pg.Pool;
let table: string;
const vectors: Float32Array[] = [];

beforeAll(async () => {
  pool = newPool();
  table = uniqueName('lost');
  await PostgresVectorStore.createTable(pool, { table });
  const next = gaussianStream('lost');
  for (let id = 0; id < ROWS; id++) vectors.push(Float32Array.from({ length: DIM }, next));
  await pool.query(`INSERT INTO "${table}" SELECT * FROM unnest($1::bigint[], $2::bytea[])`, [
    vectors.map((_, i) => i),
    vectors.map((v) => float32ToLE(v)),
  ]);
});

afterAll(async () => {
  await pool.end();
});

/** A redis-server of this test's own, without persistence, that can be restarted on its port. */
class OwnRedis {
  private child?: ChildProcess;
  constructor(readonly port: number) {}

  async start(): Promise<void> {
    const binary = systemRedisServer();
    if (!binary) throw new Error('no redis-server installed');
    this.child = spawn(binary, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const probe = new Redis(this.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
    try {
      for (;;) {
        try {
          await probe.connect().catch(() => undefined);
          if ((await probe.ping()) === 'PONG') return;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    } finally {
      probe.disconnect();
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    await new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGKILL');
    });
  }
}

/** The table, with a hook run before the page that follows `at` is read. */
function storeWithHook(at: number, hook: () => Promise<void>): VectorStore {
  const store = new PostgresVectorStore({ pool, table });
  let ran = false;
  return Object.assign(Object.create(store) as PostgresVectorStore, {
    async scan(after: string | null, limit: number) {
      if (!ran && after !== null && Number(after) >= at) {
        ran = true;
        await hook();
      }
      return store.scan(after, limit);
    },
  });
}

test('a build whose Redis restarts without persistence stops with INDEX_LOST; a rebuild indexes every row', async () => {
  const server = new OwnRedis(await freePort());
  await server.start();
  const redis = new Redis(server.port, '127.0.0.1');
  try {
    const prefix = uniqueName('restart');
    const restart = async () => {
      await server.stop();
      await server.start();
    };
    const lsh = new LSHRS({ redis, dim: DIM, prefix, batchSize: 100, store: storeWithHook(1000, restart) });
    await expect(lsh.index()).rejects.toMatchObject({ code: 'INDEX_LOST' });
    // Nothing was written into the restarted, empty Redis.
    expect(await redis.dbsize()).toBe(0);

    const again = new LSHRS({ redis, dim: DIM, prefix, batchSize: 100, store: new PostgresVectorStore({ pool, table }) });
    expect(await again.index()).toEqual({ added: ROWS, moved: 0, unchanged: 0 });
    expect((await again.describe()).ids).toBe(ROWS);
    expect(await again.verify()).toMatchObject({ consistent: true, ids: ROWS });
  } finally {
    redis.disconnect();
    await server.stop();
  }
}, 60_000);

test('a build whose meta is rolled back behind its writes (a restored snapshot) stops with INDEX_LOST', async () => {
  const redis = newRedis();
  try {
    const prefix = uniqueName('rollback');
    const rollBack = async () => {
      await redis.hset(`{${prefix}}:meta`, 'seq', '1');
    };
    const lsh = new LSHRS({ redis, dim: DIM, prefix, batchSize: 100, store: storeWithHook(1000, rollBack) });
    await expect(lsh.index()).rejects.toMatchObject({ code: 'INDEX_LOST', message: expect.stringContaining('behind what this handle wrote') });
    expect(Number(await redis.hget(`{${prefix}}:meta`, 'ids'))).toBeLessThan(ROWS);
  } finally {
    await redis.quit();
  }
});

test.each([1, 16])('an evicted meta (%i shard(s)) makes writes, queries and describe fail with INDEX_LOST until clear()', async (shards) => {
  const redis = newRedis();
  try {
    const prefix = uniqueName('evicted');
    const lsh = new LSHRS({ redis, dim: DIM, prefix, shards });
    await lsh.index(vectors.slice(0, 200).map((vector, id) => ({ id, vector })));
    // The meta of the shard that ids 500 and 0 live in (the root's with one shard).
    const layout = indexLayout(prefix, shards);
    const shard = layout.shardOf(500);
    expect(layout.shardOf(0)).toBe(shard);
    expect(await redis.del(layout.shards[shard].meta)).toBe(1);

    await expect(lsh.index([{ id: 500, vector: vectors[500] }])).rejects.toMatchObject({ code: 'INDEX_LOST' });
    await expect(lsh.query(vectors[0], { rerank: false })).rejects.toMatchObject({ code: 'INDEX_LOST' });
    await expect(lsh.describe()).rejects.toMatchObject({ code: 'INDEX_LOST' });
    await expect(lsh.delete([0])).rejects.toMatchObject({ code: 'INDEX_LOST' });

    await lsh.clear();
    expect(await lsh.index([{ id: 500, vector: vectors[500] }])).toEqual({ added: 1, moved: 0, unchanged: 0 });
    expect((await lsh.describe()).ids).toBe(1);
  } finally {
    await redis.quit();
  }
});
