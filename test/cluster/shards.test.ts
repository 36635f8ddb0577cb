// Sharded indexes on a real 3-master, 3-replica cluster: waiting for replicas after each write
// batch (waitForReplicas), and the command line following a cluster node's URL to every master.
import calculateSlot from 'cluster-key-slot';
import type { Cluster } from 'ioredis';
import type pg from 'pg';
import { startCluster, type ThrowawayCluster } from '../../dev/cluster';
import { LSHRS, LshrsError, PostgresVectorStore } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import { indexLayout } from '../../src/redis/keys';
import { float32ToLE } from '../../src/float32';
import { lshrs } from '../support/cli';
import { newCluster } from '../support/cluster';
import { consistencyProblems } from '../support/inspect-redis';
import { newPool, newRedis, uniqueName } from '../support/servers';

const DIM = 16;

function randomVectors(count: number, seed: string): number[][] {
  const next = gaussianStream(seed);
  return Array.from({ length: count }, () => Array.from({ length: DIM }, next));
}

let cluster: ThrowawayCluster;
let client: Cluster;
let pool: pg.Pool;

beforeAll(async () => {
  cluster = await startCluster();
  client = newCluster(cluster);
  pool = newPool();
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([client?.quit(), pool?.end()]);
  await cluster?.stop();
});

/** Keys under the index's tags on one node (a master or a replica), by SCAN. */
async function keysOnNode(port: number, prefix: string): Promise<number> {
  let count = 0;
  for (const pattern of [`\\{${prefix}\\}:*`, `\\{${prefix}#*\\}:*`]) {
    let cursor = '0';
    do {
      const [next, found] = (await cluster.command(port, 'SCAN', cursor, 'MATCH', pattern, 'COUNT', 10000)) as [string, string[]];
      cursor = next;
      count += found.length;
    } while (cursor !== '0');
  }
  return count;
}

describe('waitForReplicas', () => {
  test('each write batch returns once a replica of every master it wrote to has it', async () => {
    const prefix = uniqueName('wait');
    const lsh = new LSHRS({ redis: client, dim: DIM, prefix, shards: 16, batchSize: 50, waitForReplicas: { replicas: 1, timeoutMs: 5000 } });
    const vectors = randomVectors(400, 'wait');
    expect(await lsh.index(vectors.map((vector, id) => ({ id, vector })))).toEqual({ added: 400, moved: 0, unchanged: 0 });
    expect(await lsh.delete([1, 2, 3])).toEqual({ removed: 3, unknown: 0 });
    // Read at once from each replica: it holds every key its master holds, without any waiting here.
    for (const master of (await cluster.nodes()).filter((n) => n.flags.includes('master'))) {
      const [replica] = await cluster.replicasOf(master.port);
      expect({ master: master.port, keys: await keysOnNode(replica, prefix) }).toEqual({
        master: master.port,
        keys: await keysOnNode(master.port, prefix),
      });
    }
    const { bands, rows } = lsh.toJSON();
    expect(await consistencyProblems(client, prefix, bands, rows)).toEqual([]);
    await lsh.clear();
  });

  test('fewer replicas than asked: NOT_REPLICATED naming the master, and the batch stands on it', async () => {
    const prefix = uniqueName('short');
    const lsh = new LSHRS({ redis: client, dim: DIM, prefix, waitForReplicas: { replicas: 2, timeoutMs: 50 } }); // each master has one replica
    const [v] = randomVectors(1, 'short');
    const err = await lsh.ingest(1, v).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LshrsError);
    expect(err).toMatchObject({ code: 'NOT_REPLICATED' });
    const owner = await cluster.masterOfSlot(calculateSlot(`{${prefix}}`));
    expect((err as Error).message).toMatch(new RegExp(`^1 of 2 replicas of 127\\.0\\.0\\.1:${owner} acknowledged the batch within 50 ms`));
    expect((await lsh.query(v, { rerank: false }))[0]).toMatchObject({ id: 1 });
    await lsh.clear();
  });

  test('with onShortfall, every master that fell short is reported with its shards, and nothing throws', async () => {
    const prefix = uniqueName('report');
    const reports: { node: string; acknowledged: number; wanted: number; shards: number[] }[] = [];
    const lsh = new LSHRS({
      redis: client,
      dim: DIM,
      prefix,
      shards: 16,
      waitForReplicas: { replicas: 2, timeoutMs: 50, onShortfall: (s) => reports.push(s) },
    });
    expect(await lsh.index(randomVectors(300, 'report').map((vector, id) => ({ id, vector })))).toMatchObject({ added: 300 });
    expect(reports).toHaveLength(3); // one batch, written to all three masters
    expect(reports.every((r) => r.acknowledged === 1 && r.wanted === 2)).toBe(true);
    const layout = indexLayout(prefix, 16);
    for (const report of reports) {
      for (const shard of report.shards) expect(report.node).toBe(`127.0.0.1:${await cluster.masterOfSlot(layout.shards[shard].slot)}`);
    }
    expect(reports.flatMap((r) => r.shards).sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, k) => k));
    await lsh.clear();
  });

  test('on a Redis without replicas, a write batch is NOT_REPLICATED after the timeout', async () => {
    const redis = newRedis();
    try {
      const lsh = new LSHRS({ redis, dim: DIM, prefix: uniqueName('alone'), waitForReplicas: { replicas: 1, timeoutMs: 20 } });
      await expect(lsh.ingest(1, randomVectors(1, 'alone')[0])).rejects.toMatchObject({ code: 'NOT_REPLICATED' });
      await lsh.clear();
    } finally {
      await redis.quit();
    }
  });
});

test('the command line, given one cluster node, builds, queries, checks and reports a 16-shard index on every master', async () => {
  const table = uniqueName('cli_cluster');
  const prefix = uniqueName('cli_cluster');
  await PostgresVectorStore.createTable(pool, { table });
  const vectors = randomVectors(500, 'cli').map((v) => Float32Array.from(v));
  await pool.query(`INSERT INTO "${table}" (id, embedding) SELECT * FROM unnest($1::bigint[], $2::bytea[])`, [
    vectors.map((_, i) => i + 1),
    vectors.map((v) => float32ToLE(v)),
  ]);
  const [node] = cluster.startupNodes;
  const common = ['--redis', `redis://127.0.0.1:${node.port}`, '--prefix', prefix, '--table', table];
  const json = (args: string[]) => {
    const result = lshrs([...common, '--json', ...args]);
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    return JSON.parse(result.stdout);
  };

  expect(json(['index', '--shards', '16'])).toMatchObject({ added: 500, moved: 0, unchanged: 0 });
  const stats = json(['stats']);
  expect(stats).toMatchObject({ shards: 16, ids: 500, build: { state: 'done', cursor: '500' } });
  expect(stats.nodes).toHaveLength(3);
  expect(stats.nodes.every((n: { keys: number }) => n.keys > 0)).toBe(true);
  expect(json(['query', '--id', '42', '--top-k', '1'])[0]).toMatchObject({ id: 42 });
  expect(json(['similar', '42', '--top-k', '3']).map((h: { id: number }) => h.id)).not.toContain(42);
  expect(json(['inspect', '42']).buckets).toHaveLength(stats.bands);
  expect(json(['delete', '42', '43'])).toEqual({ removed: 2, unknown: 0 });
  expect(json(['verify'])).toMatchObject({ ids: 498, metaCount: 498, consistent: true, missingFromStore: [] });
  const human = lshrs([...common, 'stats']);
  expect(human.stdout).toMatch(/^shards {7}16 \(ids per shard \d+ to \d+\)$/m);
  expect(human.stdout.match(/^127\.0\.0\.1:\d+ +\d+ +[\d.]+ KiB$/gm)).toHaveLength(3);
  // The index the command line built is the one the library sees.
  expect(await (await LSHRS.open({ redis: client, prefix })).describe()).toMatchObject({ shards: 16, ids: 498 });
}, 60_000);
