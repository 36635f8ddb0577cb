import { Cluster, type Redis } from 'ioredis';
import { openRedis, type RedisClient } from '../redis/connection';

/**
 * Opens a URL as the command line needs it: a single server, or, when the server answers that it
 * is a cluster node, an ioredis Cluster started from it (which finds every other node itself), so
 * that no command sees only one node. The caller closes what this returns.
 */
export async function connectUrl(url: string): Promise<RedisClient> {
  const single = openRedis(url).client as Redis;
  let info: string;
  try {
    info = await single.info('cluster');
  } catch (err) {
    single.disconnect();
    throw err;
  }
  if (!/^cluster_enabled:1\s*$/m.test(info)) return single;
  single.disconnect();
  const { hostname, port, username, password, protocol } = new URL(url);
  return new Cluster([{ host: hostname, port: Number(port || 6379) }], {
    scaleReads: 'master',
    // Like a single server opened from a URL: a few tries, then an error instead of a wait.
    clusterRetryStrategy: (times) => (times > 2 ? null : 200 * times),
    redisOptions: {
      maxRetriesPerRequest: 2,
      username: username ? decodeURIComponent(username) : undefined,
      password: password ? decodeURIComponent(password) : undefined,
      tls: protocol === 'rediss:' ? {} : undefined,
    },
  });
}
