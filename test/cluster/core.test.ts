// The core's integration suite on a real 3-master, 3-replica Redis Cluster through an ioredis Cluster.
import { startCluster, type ThrowawayCluster } from '../../scripts/lib/cluster';
import { newCluster } from '../support/cluster';
import { coreSuite } from '../lshrs/core-suite';

let cluster: ThrowawayCluster;

beforeAll(async () => {
  cluster = await startCluster();
}, 120_000);

coreSuite({ connect: () => newCluster(cluster) });

// Declared after the suite, so it runs after the suite has quit its clients.
afterAll(async () => {
  await cluster?.stop();
});
