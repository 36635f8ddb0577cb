// The core's integration suite on a real 3-master, 3-replica Redis Cluster through an ioredis
// Cluster, with indexes of one shard (one slot) and of 16 (spread over the masters).
import { startCluster, type ThrowawayCluster } from '../../dev/cluster';
import { newCluster } from '../support/cluster';
import { coreSuite } from '../lshrs/core-suite';

let cluster: ThrowawayCluster;

beforeAll(async () => {
  cluster = await startCluster();
}, 120_000);

describe.each([1, 16])('3-master cluster, indexes of %i shard(s)', (shards) => {
  coreSuite({ connect: () => newCluster(cluster) }, shards);
});

// Declared after the suites, so it runs after they have quit their clients.
afterAll(async () => {
  await cluster?.stop();
});
