import { type Cluster, Redis } from 'ioredis';

/** What lshrs talks to: a host's ioredis client or cluster. */
export type RedisClient = Redis | Cluster;

/** A Redis given as a URL is opened here and closed by lshrs; a client passed in is the host's. */
export function openRedis(redis: RedisClient | string): { client: RedisClient; owned: boolean } {
  if (typeof redis === 'string') {
    // Fail a call after a few reconnect attempts instead of queueing it forever on a dead server.
    return { client: new Redis(redis, { maxRetriesPerRequest: 2, lazyConnect: true }), owned: true };
  }
  return { client: redis, owned: false };
}

export function isCluster(client: RedisClient): client is Cluster {
  return (client as Cluster).isCluster === true;
}

/**
 * Every node that holds data: the masters of a cluster, or the one server. A cluster client knows
 * its masters only once it is ready (until then it lists none), so a command is queued first: it
 * waits for the slot map, or fails when the cluster cannot be reached.
 */
export async function dataNodes(client: RedisClient): Promise<Redis[]> {
  if (!isCluster(client)) return [client];
  if (client.status !== 'ready') await client.ping();
  return client.nodes('master');
}

/** A node's `host:port`, as the client addresses it. */
export function nodeName(node: Redis): string {
  return `${node.options.host}:${node.options.port}`;
}

/**
 * The connection that carries a key's commands: the one server, or the connection of a cluster
 * client to the master serving the key's slot (in the client's current slot map). A command
 * without keys, like `WAIT`, sent there goes where the slot's writes went.
 */
export function connectionForSlot(client: RedisClient, slot: number): Redis {
  if (!isCluster(client)) return client;
  const owner = client.slots[slot]?.[0];
  const node = owner === undefined ? undefined : client.nodes('master').find((n) => nodeName(n) === owner);
  if (!node) throw new Error(`the cluster client knows no master for slot ${slot}`);
  return node;
}

/** Quits a connection lshrs opened; one that never came up is just torn down. */
export async function closeRedis(client: RedisClient): Promise<void> {
  if (client.status === 'ready') {
    await client.quit();
  } else {
    client.disconnect();
  }
}

/**
 * The `keyPrefix` ioredis puts before every key argument of this client's commands (KEYS of a
 * script included); keys a script builds itself, and SCAN patterns, must carry it by hand.
 */
export function keyPrefixOf(client: RedisClient): string {
  const prefix = (client.options as { keyPrefix?: unknown }).keyPrefix;
  return typeof prefix === 'string' ? prefix : '';
}
