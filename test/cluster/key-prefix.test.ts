// The keyPrefix suite on a real 3-master Redis Cluster: the prefix given as the Cluster's
// keyPrefix (its node connections carry none) and as redisOptions.keyPrefix (they all do).
import { startCluster, type ThrowawayCluster } from '../../dev/cluster';
import { newCluster } from '../support/cluster';
import { keyPrefixSuite } from '../lshrs/key-prefix-suite';

let cluster: ThrowawayCluster;

beforeAll(async () => {
  cluster = await startCluster();
}, 120_000);

describe.each([1, 16])('3-master cluster, Cluster keyPrefix, indexes of %i shard(s)', (shards) => {
  keyPrefixSuite({ connect: (keyPrefix) => newCluster(cluster, { keyPrefix }) }, shards);
});

describe('3-master cluster, redisOptions.keyPrefix, an index of 16 shards', () => {
  keyPrefixSuite({ connect: (keyPrefix) => newCluster(cluster, { redisOptions: { connectTimeout: 2000, keyPrefix } }) }, 16);
});

afterAll(async () => {
  await cluster?.stop();
});
