/*
 * The client side of a sharded index: splitting a batch by shard, running one script call per
 * shard, merging the shards' candidate lists, and waiting for replicas. The scripts themselves
 * know nothing of shards: each call works on one shard's keys, in one slot.
 */
import { LshrsError } from '../errors';
import type { IdType } from '../ids';
import { connectionForSlot, nodeName, type RedisClient } from './connection';
import type { CandidateList } from './script-calls';
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

/** UTF-16 code units compared as UTF-8 bytes would be: surrogates sort after U+E000..U+FFFF. */
function utf8Order(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  if (unit >= 0xe000) return unit - 0x800;
  return unit;
}

/** The order query.lua gives ids of equal collisions: integers by value, strings bytewise. */
export function compareIds(a: string, b: string, idType: IdType): number {
  if (idType === 'int') return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return utf8Order(x) - utf8Order(y);
  }
  return a.length - b.length;
}

/**
 * What each shard's script call is asked for, for a query that asks `maxCandidates` of stage 1
 * (best by collisions) and `rerankCandidates` of stage 2 (closest by Hamming distance; 0: none).
 *
 * Stage 1 alone: every shard returns its own best `maxCandidates`, so the merge is exact (an id lives in
 * one shard: the best `maxCandidates` overall are among them).
 *
 * With stage 2, an exact merge would need every shard's `maxCandidates` candidates with their distances:
 * `shards` times the stage-2 reads (a reverse record per candidate) of one index, and as much sent
 * back. Instead each shard keeps about twice its even share: its best ceil(2 maxCandidates / shards) + 32
 * by collisions go to its stage 2, and its closest ceil(2 rerankCandidates / shards) + 32 come back. The
 * index-wide best `maxCandidates` hold a shard's even share give or take a few standard deviations, so
 * the shards' stage-1 pools together contain them (unless one shard holds more than twice its
 * share, plus 32): stage 2 then ranks a superset of what one index of one shard would rank, and
 * returns candidates at least as close. The cost stays about twice one index's stage 2, spread
 * over the shards.
 */
export function shardBudget(maxCandidates: number, rerankCandidates: number, shards: number): { maxCandidates: number; rerankCandidates: number } {
  if (rerankCandidates <= 0) return { maxCandidates, rerankCandidates };
  const perShard = Math.min(maxCandidates, Math.ceil((2 * maxCandidates) / shards) + 32);
  return { maxCandidates: perShard, rerankCandidates: Math.min(rerankCandidates, perShard, Math.ceil((2 * rerankCandidates) / shards) + 32) };
}

/**
 * The shards' candidate lists as one list, ranked as one script call ranks its own: stage 1 (no
 * Hamming distances) most collisions first, ties by id, cut to `maxCandidates`; stage 2 least Hamming
 * distance first, then most collisions, then id, cut to `rerankCandidates` (and `maxCandidates`). Stage 1 sorts only the
 * collision groups that reach the limit, as the script does.
 */
export function mergeCandidates(lists: readonly CandidateList[], maxCandidates: number, rerankCandidates: number): CandidateList {
  const idType = lists.find((l) => l.idType !== undefined)?.idType;
  const total = lists.reduce((sum, l) => sum + l.total, 0);
  const byId = (a: string, b: string) => compareIds(a, b, idType ?? 'str');
  if (rerankCandidates > 0) {
    const entries = lists.flatMap((l) => l.ids.map((id, i) => ({ id, collisions: l.collisions[i], hamming: l.hamming[i] })));
    entries.sort((a, b) => a.hamming - b.hamming || b.collisions - a.collisions || byId(a.id, b.id));
    // One script returns at most its stage-1 `maxCandidates`, the closest of them; so does the merge.
    const kept = entries.slice(0, Math.min(maxCandidates, rerankCandidates));
    return { idType, total, ids: kept.map((e) => e.id), collisions: kept.map((e) => e.collisions), hamming: kept.map((e) => e.hamming) };
  }
  const groups = new Map<number, string[]>();
  for (const list of lists) {
    list.ids.forEach((id, i) => {
      const c = list.collisions[i];
      const group = groups.get(c);
      if (group) group.push(id);
      else groups.set(c, [id]);
    });
  }
  const ids: string[] = [];
  const collisions: number[] = [];
  for (const c of [...groups.keys()].sort((a, b) => b - a)) {
    if (ids.length >= maxCandidates) break;
    const group = groups.get(c) as string[];
    if (lists.length > 1) group.sort(byId);
    for (const id of group.slice(0, maxCandidates - ids.length)) {
      ids.push(id);
      collisions.push(c);
    }
  }
  return { idType, total, ids, collisions, hamming: ids.map(() => -1) };
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
