import { Cluster, type Redis, ReplyError } from 'ioredis';
import { guardOwnedClient, openRedis, type RedisClient } from '../redis/connection';

/**
 * Opens a URL as the command line needs it: a single server, or, when the server answers that it
 * is a cluster node, an ioredis Cluster started from it (which finds every other node itself), so
 * that no command sees only one node. The caller closes what this returns.
 */
export async function connectUrl(url: string): Promise<RedisClient> {
  const single = openRedis(url).client as Redis;
  let cluster: boolean;
  try {
    cluster = await isClusterNode(single);
  } catch (err) {
    single.disconnect();
    throw err;
  }
  if (!cluster) return single;
  single.disconnect();
  const { hostname, port, username, password, protocol } = new URL(url);
  const client = new Cluster([{ host: hostname, port: Number(port || 6379) }], {
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
  guardOwnedClient(client, `${hostname}:${port || 6379}`);
  return client;
}

/**
 * Whether the server is a cluster node. HELLO (no arguments: the connection's properties, its
 * protocol unchanged) says `mode: cluster`; it is a connection command (`@fast @connection`), which
 * ioredis sends itself to open a connection, so an ACL that lets a user connect lets it run.
 * INFO, the fallback for a server whose HELLO needs arguments (before Redis 6.2), is `@dangerous`;
 * an ACL that refuses it (NOPERM) is read as a single server, so only a key-limited user of a
 * Redis 6.0 cluster is taken for one.
 */
async function isClusterNode(node: Redis): Promise<boolean> {
  try {
    return helloMode(await node.call('HELLO')) === 'cluster';
  } catch (err) {
    if (!(err instanceof ReplyError)) throw err; // the server cannot be reached: say so
  }
  try {
    return /^cluster_enabled:1\s*$/m.test(await node.info('cluster'));
  } catch (err) {
    if (err instanceof ReplyError && /^NOPERM/.test((err as Error).message)) return false;
    throw err;
  }
}

/** HELLO's `mode` field, from a RESP2 or RESP3-as-array reply (a flat list) or a map. */
function helloMode(reply: unknown): string | undefined {
  if (Array.isArray(reply)) {
    const at = reply.findIndex((field) => String(field) === 'mode');
    return at >= 0 ? String(reply[at + 1]) : undefined;
  }
  if (reply && typeof reply === 'object') return String((reply as Record<string, unknown>).mode);
  return undefined;
}
