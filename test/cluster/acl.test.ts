// The command line on a Redis Cluster as a user limited to the index's keys and denied
// @dangerous (INFO among them): it still finds out that the node is a cluster's, follows it to
// every master, and prints nothing but its output.
import type pg from 'pg';
import { startCluster, type ThrowawayCluster } from '../../dev/cluster';
import { PostgresVectorStore } from '../../src';
import { float32ToLE } from '../../src/float32';
import { gaussianStream } from '../../src/hashing/gaussian';
import { lshrs } from '../support/cli';
import { newPool, uniqueName } from '../support/servers';

const DIM = 16;

let cluster: ThrowawayCluster;
let pool: pg.Pool;

beforeAll(async () => {
  cluster = await startCluster({ replicasPerMaster: 0 });
  pool = newPool();
}, 120_000);

afterAll(async () => {
  await pool?.end();
  await cluster?.stop();
});

test('a key-limited user without INFO: index, query, stats, verify and delete of a 16-shard index on every master', async () => {
  const prefix = uniqueName('acl_cluster');
  const table = uniqueName('acl_cluster');
  for (const port of cluster.alive()) {
    await cluster.command(port, 'ACL', 'SETUSER', 'lim', 'on', '>pw', `~{${prefix}}*`, `~{${prefix}#*`, '+@all', '-@dangerous');
  }
  await PostgresVectorStore.createTable(pool, { table });
  const next = gaussianStream('acl-cluster');
  const vectors = Array.from({ length: 200 }, () => Float32Array.from({ length: DIM }, next));
  await pool.query(`INSERT INTO "${table}" (id, embedding) SELECT * FROM unnest($1::bigint[], $2::bytea[])`, [
    vectors.map((_, i) => i + 1),
    vectors.map((v) => float32ToLE(v)),
  ]);
  const [node] = cluster.startupNodes;
  const common = ['--redis', `redis://lim:pw@127.0.0.1:${node.port}`, '--prefix', prefix, '--table', table, '--json'];
  const json = (args: string[]) => {
    const result = lshrs([...common, ...args]);
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    return JSON.parse(result.stdout);
  };
  expect(json(['index', '--shards', '16'])).toMatchObject({ added: 200 });
  const stats = json(['stats']);
  expect(stats).toMatchObject({ shards: 16, ids: 200 });
  expect(stats.nodes).toHaveLength(3); // every master, so the command line took the node for a cluster's
  expect(json(['query', '--id', '42', '--top-k', '1'])[0]).toMatchObject({ id: 42 });
  expect(json(['delete', '42'])).toEqual({ removed: 1, unknown: 0 });
  expect(json(['verify'])).toMatchObject({ ids: 199, consistent: true, missingFromStore: [] });
}, 60_000);
