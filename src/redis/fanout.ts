/*
 * The client side of a sharded index: splitting a batch by shard, running one script call per
 * shard, and waiting for replicas. The scripts themselves
 * know nothing of shards: each call works on one shard's keys, in one slot.
 */
import { LshrsError } from '../errors';
import { connectionForSlot, nodeName, type RedisClient } from './connection';
import { checkOptionNames, optionNames } from '../validate';

/** Groups items by shard, keeping their order within each shard. */
export function splitByShard<T>(items: readonly T[], shardOf: (item: T) => number): Map<number, T[]> {
  const parts = new Map<number, T[]>();
  for (const item of items) {
    const k = shardOf(item);
    const part = parts.get(k);
    if (part) part.push(item);
    else parts.set(k, [item]);
  }
  return parts;
}

/**
 * Waits for every call, then throws the first failure: when a batch's calls fail, the caller hears
 * of it only once none is still in flight, so what it records afterwards (a build's position) is
 * settled.
 */
export async function settleAll<T>(calls: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(calls);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

/** What `waitForReplicas` asks for after every write batch. */
export interface WaitForReplicas {
  /** Replicas that must acknowledge each batch. */
  replicas: number;
  /** How long `WAIT` may block, in milliseconds (at least 1: `WAIT` with 0 never gives up). */
  timeoutMs: number;
  /** Called instead of throwing NOT_REPLICATED when fewer replicas acknowledged. */
  onShortfall?: (shortfall: ReplicaShortfall) => void;
}

/** A batch that fewer replicas than asked acknowledged in time: it stands on the master, unconfirmed. */
export interface ReplicaShortfall {
  /** The master, `host:port`. */
  node: string;
  acknowledged: number;
  wanted: number;
  /** The shards whose writes of this batch that master holds. */
  shards: number[];
  /** Why WAIT gave no answer (the connection to the master failed, say): counted as 0 acknowledged. */
  error?: string;
}

const WAIT_OPTIONS = optionNames<WaitForReplicas>({ replicas: true, timeoutMs: true, onShortfall: true });

export function checkWaitForReplicas(value: unknown): WaitForReplicas | undefined {
  if (value === undefined) return undefined;
  const w = value as Partial<WaitForReplicas> | null;
  if (typeof w === 'object' && w !== null) checkOptionNames(w, WAIT_OPTIONS, 'waitForReplicas');
  const ok =
    typeof w === 'object' &&
    w !== null &&
    Number.isInteger(w.replicas) &&
    (w.replicas as number) >= 1 &&
    Number.isInteger(w.timeoutMs) &&
    (w.timeoutMs as number) >= 1 &&
    (w.onShortfall === undefined || typeof w.onShortfall === 'function');
  if (!ok) {
    throw new LshrsError(
      'BAD_OPTION',
      `waitForReplicas must be { replicas: integer >= 1, timeoutMs: integer >= 1, onShortfall?: function }, got ${JSON.stringify(value)}`,
    );
  }
  return Object.freeze({ ...(w as WaitForReplicas) });
}

/**
 * `WAIT replicas timeout` on the connection of each master that took a write of this batch (the
 * masters serving the written shards' slots), in parallel: `WAIT` counts the replicas that have
 * everything that connection wrote. A master that falls short is reported, or thrown as
 * NOT_REPLICATED once every WAIT has answered. A WAIT that fails (its master died after the write,
 * say: WAIT goes straight to the node, without the cluster client's retries, since a retry on
 * another connection would count nothing) falls short with 0: the write is not confirmed.
 */
export async function confirmReplicas(client: RedisClient, slots: readonly number[], shards: Iterable<number>, wait: WaitForReplicas): Promise<void> {
  const byNode = new Map<string, { connection: ReturnType<typeof connectionForSlot>; shards: number[] }>();
  for (const k of shards) {
    const connection = connectionForSlot(client, slots[k]);
    const name = nodeName(connection);
    const entry = byNode.get(name) ?? { connection, shards: [] };
    entry.shards.push(k);
    byNode.set(name, entry);
  }
  const answers: ReplicaShortfall[] = await Promise.all(
    [...byNode].map(async ([node, { connection, shards: held }]) => {
      const shortfall: ReplicaShortfall = { node, acknowledged: 0, wanted: wait.replicas, shards: held.sort((a, b) => a - b) };
      try {
        shortfall.acknowledged = Number(await connection.call('WAIT', wait.replicas, wait.timeoutMs));
      } catch (err) {
        shortfall.error = err instanceof Error ? err.message : String(err);
      }
      return shortfall;
    }),
  );
  const short = answers.filter((a) => a.acknowledged < a.wanted);
  if (short.length === 0) return;
  if (wait.onShortfall) {
    for (const shortfall of short) wait.onShortfall(shortfall);
    return;
  }
  const first = short[0];
  const why = first.error ? ` (WAIT failed: ${first.error})` : '';
  throw new LshrsError(
    'NOT_REPLICATED',
    `${first.acknowledged} of ${first.wanted} replicas of ${first.node} acknowledged the batch within ${wait.timeoutMs} ms${why} ` +
      `(shards ${first.shards.join(', ')}${short.length > 1 ? `; ${short.length - 1} more masters fell short` : ''}): ` +
      'the writes stand on the master, unconfirmed',
  );
}
