import { type Cluster, type Command, Redis, ReplyError } from 'ioredis';

/** What lshrs talks to: a host's ioredis client or cluster. */
export type RedisClient = Redis | Cluster;

/** A Redis given as a URL is opened here and closed by lshrs; a client passed in is the host's. */
export function openRedis(redis: RedisClient | string): { client: RedisClient; owned: boolean } {
  if (typeof redis === 'string') {
    // Fail a call after a few reconnect attempts instead of queueing it forever on a dead server.
    const client = new Redis(redis, { maxRetriesPerRequest: 2, lazyConnect: true });
    guardOwnedClient(client, `${client.options.host}:${client.options.port}`);
    return { client, owned: true };
  }
  return { client: redis, owned: false };
}

/** The one line a call on a connection lshrs opened fails with when the server cannot be reached. */
export class RedisUnreachableError extends Error {
  constructor(address: string, reason: string, cause: unknown) {
    super(`cannot reach Redis at ${address}: ${reason}`, { cause });
    this.name = 'RedisUnreachableError';
  }
}

/** "connect ECONNREFUSED" for a socket error (the address is in the message already), else the message. */
function reasonOf(err: Error): string {
  const { syscall, code } = err as { syscall?: unknown; code?: unknown };
  return typeof syscall === 'string' && typeof code === 'string' ? `${syscall} ${code}` : err.message;
}

/**
 * A client or cluster lshrs opened itself, so nobody else listens to it: its 'error' events are
 * kept instead of printed ("[ioredis] Unhandled error event", once per reconnect attempt) and the
 * last one names the cause when a call fails for want of a connection; that call then fails with
 * one line naming the server, the original error as its `cause`. Replies of the server (NOPERM,
 * NOSCRIPT, script errors) pass through unchanged. The ready check's INFO refused by an ACL is
 * skipped silently: ioredis would go on the same way, but print a warning.
 */
export function guardOwnedClient(client: Redis | Cluster, address: string): void {
  let lastError: Error | undefined;
  const keep = (err: Error) => {
    lastError = err;
  };
  client.on('error', keep);
  client.on('node error', keep);
  client.on('ready', () => {
    lastError = undefined;
  });
  const describe = (err: Error): Error => {
    // A client closed on purpose (close(), quit) says so itself: "Connection is closed."
    if (err instanceof ReplyError || err instanceof RedisUnreachableError || client.status === 'end') return err;
    return new RedisUnreachableError(address, reasonOf(lastError ?? err), err);
  };
  wrapCommands(client, (command, err) => (isRefusedReadyCheck(command, err) ? 'skip' : describe(err)));
  // A cluster's connections to its nodes run their own ready checks.
  client.on('+node', (node: Redis) => wrapCommands(node, (command, err) => (isRefusedReadyCheck(command, err) ? 'skip' : err)));
}

function isRefusedReadyCheck(command: Command, err: Error): boolean {
  // lshrs sends no INFO on the connections it opens: an INFO there is ioredis' ready check.
  return command.name === 'info' && err instanceof ReplyError && /^NOPERM/.test(err.message);
}

/** Passes every rejection of the client's commands through `map` ('skip': resolve with no reply). */
function wrapCommands(client: Redis | Cluster, map: (command: Command, err: Error) => Error | 'skip'): void {
  const send = client.sendCommand.bind(client) as (command: Command, ...rest: unknown[]) => unknown;
  (client as { sendCommand: unknown }).sendCommand = (command: Command, ...rest: unknown[]) => {
    const { reject, resolve } = command;
    command.reject = (err: Error) => {
      const mapped = map(command, err);
      if (mapped === 'skip') resolve('');
      else reject(mapped);
    };
    return send(command, ...rest);
  };
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
    // A connection that died meanwhile has nothing left to quit.
    await client.quit().catch(() => client.disconnect());
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
