import { Cluster, type ClusterOptions } from 'ioredis';
import type { ThrowawayCluster } from '../../dev/cluster';

/**
 * A host-style ioredis Cluster: writes and reads on masters, and enough retries to ride out a
 * failover (a killed master is noticed after cluster-node-timeout, then its replica is elected).
 * ioredis retries a command whose connection closed, or that met CLUSTERDOWN, after
 * `retryDelayOnFailover` / `retryDelayOnClusterDown` and a refresh of its slot map, at most
 * `maxRedirections` times: 40 x 250 ms covers a failover of up to 10 s.
 */
export function newCluster(cluster: ThrowawayCluster, options: ClusterOptions = {}): Cluster {
  return new Cluster(cluster.startupNodes, {
    scaleReads: 'master',
    maxRedirections: 40,
    retryDelayOnFailover: 250,
    retryDelayOnClusterDown: 250,
    retryDelayOnTryAgain: 250,
    slotsRefreshTimeout: 2000,
    // Reconnecting the whole cluster: a few tries, then errors instead of a queue that waits forever.
    clusterRetryStrategy: (times) => (times > 10 ? null : Math.min(200 * times, 1000)),
    redisOptions: { connectTimeout: 2000 },
    ...options,
  });
}

/** The connection of `client` to the master that serves `slot`, as the client sees it. */
export function masterConnection(client: Cluster, slot: number) {
  const key = client.slots[slot]?.[0];
  const node = client.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === key);
  if (!node) throw new Error(`the client knows no master for slot ${slot}`);
  return node;
}
