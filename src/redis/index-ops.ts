import type { Redis } from 'ioredis';
import { LshrsError } from '../errors';
import type { IdType } from '../ids';
import { dataNodes, nodeName, type RedisClient } from './connection';
import type { IndexKeys, IndexLayout } from './keys';
import { runScript, type ScriptName } from './scripts';

/** What every script call needs to know about the index it works on. */
export interface ScriptContext {
  client: RedisClient;
  keys: IndexKeys;
  fingerprint: string;
  bands: number;
  bytesPerBand: number;
  /** Meta fields written when an insert creates the index. */
  metaFields: Record<string, string>;
  /** Reads the stored meta and builds the error for a parameter mismatch. */
  onMismatch(stored: Record<string, string>): Error;
}

export interface InsertEntry {
  id: string;
  page: number;
  signature: Buffer;
}

export interface InsertCounts {
  added: number;
  moved: number;
  unchanged: number;
  /** This call created the meta hash (the index, or this shard of it, was empty). */
  created: boolean;
}

export interface RemoveEntry {
  id: string;
  page: number;
}

export interface RemoveCounts {
  removed: number;
  unknown: number;
}

export interface CandidateList {
  idType: IdType | undefined;
  /** Distinct ids that share at least one bucket with the query, before the limit. */
  total: number;
  ids: string[];
  collisions: number[];
  /** Hamming distance of each id's whole signature to the query's; -1 when stage 2 was skipped. */
  hamming: number[];
}

export interface CandidateQuery {
  /** The query's bucket in each band. */
  bucketKeys: readonly string[];
  /** The query's packed signature. */
  signature: Buffer;
  /** Stage 1: candidates kept, best by collisions. */
  limit: number;
  /** Stage 2: of those, how many to return, closest by Hamming distance (0: skip stage 2). */
  closest: number;
  reversePages: number;
}

export async function readMeta(ctx: Pick<ScriptContext, 'client' | 'keys'>): Promise<Record<string, string>> {
  return ctx.client.hgetall(ctx.keys.meta);
}

export async function call(ctx: ScriptContext, name: ScriptName, keys: string[], args: (string | number | Buffer)[]) {
  try {
    return await runScript(ctx.client, name, keys, args);
  } catch (err) {
    const message = err instanceof Error ? err.message : '';
    if (message.startsWith('LSHRS_PARAMS')) throw ctx.onMismatch(await readMeta(ctx));
    if (message.startsWith('LSHRS_IDTYPE')) {
      const stored = message.split(' ')[1] === 'int' ? 'integer' : 'string';
      throw new LshrsError('ID_TYPE', `index "${ctx.keys.tag}" holds ${stored} ids; this batch has ${stored === 'integer' ? 'string' : 'integer'} ids`);
    }
    throw err;
  }
}

/** One script call: the whole batch is upserted or nothing is. */
export async function insertBatch(
  ctx: ScriptContext,
  idType: IdType,
  entries: readonly InsertEntry[],
  setMeta: Record<string, string> = {},
): Promise<InsertCounts> {
  const metaPairs = Object.entries(ctx.metaFields).flat();
  const setPairs = Object.entries(setMeta).flat();
  const args: (string | number | Buffer)[] = [
    ctx.keys.tag,
    ctx.fingerprint,
    idType,
    ctx.bands,
    ctx.bytesPerBand,
    metaPairs.length / 2,
    ...metaPairs,
    setPairs.length / 2,
    ...setPairs,
  ];
  for (const e of entries) args.push(e.id, e.page, e.signature);
  const [added, moved, unchanged, created] = (await call(ctx, 'insert', [ctx.keys.meta], args)) as number[];
  return { added, moved, unchanged, created: created === 1 };
}

/** One script call: every id of the batch leaves every bucket, through its reverse record. */
export async function removeBatch(ctx: ScriptContext, idType: IdType, entries: readonly RemoveEntry[]): Promise<RemoveCounts> {
  const args: (string | number)[] = [ctx.keys.tag, ctx.fingerprint, idType, ctx.bands, ctx.bytesPerBand];
  for (const e of entries) args.push(e.id, e.page);
  const [removed, unknown] = (await call(ctx, 'remove', [ctx.keys.meta], args)) as number[];
  return { removed, unknown };
}

/**
 * One script call: the union of the query's buckets, the best `limit` by collisions, then (unless
 * `closest` is 0) the `closest` of those by Hamming distance of the whole signature.
 */
export async function queryBuckets(ctx: ScriptContext, q: CandidateQuery): Promise<CandidateList> {
  const reply = (await call(ctx, 'query', [ctx.keys.meta, ...q.bucketKeys], [
    ctx.fingerprint,
    q.limit,
    q.closest,
    q.signature,
    ctx.keys.tag,
    q.reversePages,
  ])) as (string | number)[];
  const ids: string[] = [];
  const collisions: number[] = [];
  const hamming: number[] = [];
  for (let i = 2; i < reply.length; i += 3) {
    ids.push(String(reply[i]));
    collisions.push(Number(reply[i + 1]));
    hamming.push(Number(reply[i + 2]));
  }
  const type = reply[0] === 'int' || reply[0] === 'str' ? reply[0] : undefined;
  return { idType: type, total: Number(reply[1]), ids, collisions, hamming };
}

/** Keys matching the patterns on every data node, found with SCAN (never on the write or read path). */
export async function* scanKeys(client: RedisClient, patterns: readonly string[]): AsyncGenerator<{ node: Redis; keys: string[] }> {
  for (const node of await dataNodes(client)) {
    for (const pattern of patterns) {
      let cursor = '0';
      do {
        const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (found.length > 0) yield { node, keys: found };
      } while (cursor !== '0');
    }
  }
}

/** Every key of the index, of every shard, on every data node. */
export function scanIndexKeys(client: RedisClient, layout: IndexLayout) {
  return scanKeys(client, layout.patterns);
}

/** Removes every key of the index, whatever its shard count, and nothing else; returns how many keys went. */
export async function clearIndex(client: RedisClient, layout: IndexLayout): Promise<number> {
  let removed = 0;
  for await (const batch of scanIndexKeys(client, layout)) {
    // A multi-key command must stay in one slot, even sent to one node: one UNLINK per hash tag.
    const byTag = new Map<string, string[]>();
    for (const key of batch.keys) {
      const tag = key.slice(0, key.indexOf('}') + 1);
      const group = byTag.get(tag);
      if (group) group.push(key);
      else byTag.set(tag, [key]);
    }
    const counts = await Promise.all([...byTag.values()].map((keys) => batch.node.unlink(...keys)));
    removed += counts.reduce((a, b) => a + b, 0);
  }
  return removed;
}

export interface BucketSize {
  band: number;
  value: number;
  size: number;
  /** The shard whose bucket this is (0 in an index of one shard). */
  shard: number;
}

/** What one data node (a master, or the one server) holds of the index. */
export interface NodeFootprint {
  /** `host:port` as the client knows the node. */
  node: string;
  keys: number;
  bytes: number;
}

export interface IndexFootprint {
  buckets: number;
  reversePagesUsed: number;
  bytes: number;
  /** Buckets by size: `[upTo, count]` with sizes in (upTo/2, upTo], upTo a power of two. */
  histogram: [number, number][];
  /** The largest buckets, largest first. */
  largest: BucketSize[];
  /** Keys and bytes per data node, every node listed (a node without keys of the index too). */
  nodes: NodeFootprint[];
}

/** Counts the index's keys on every node, adds up MEMORY USAGE over them, and sizes its buckets. */
export async function measureIndex(client: RedisClient, layout: IndexLayout, largestCount = 10): Promise<IndexFootprint> {
  const footprint: IndexFootprint = { buckets: 0, reversePagesUsed: 0, bytes: 0, histogram: [], largest: [], nodes: [] };
  const bins = new Map<number, number>();
  const perNode = new Map<string, NodeFootprint>();
  for (const node of await dataNodes(client)) {
    const name = nodeName(node);
    perNode.set(name, { node: name, keys: 0, bytes: 0 });
  }
  for await (const batch of scanIndexKeys(client, layout)) {
    const name = nodeName(batch.node);
    const onNode = perNode.get(name) ?? { node: name, keys: 0, bytes: 0 };
    perNode.set(name, onNode);
    const pipeline = batch.node.pipeline();
    const buckets: { key: string; shard: number; at: number }[] = [];
    for (const key of batch.keys) {
      pipeline.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
      const shard = layout.shardOfKey(key);
      if (shard === undefined) continue; // the root meta of a sharded index
      const { tag } = layout.shards[shard];
      const kind = key.slice(tag.length, tag.length + 3);
      if (kind === ':b:') {
        footprint.buckets++;
        buckets.push({ key, shard, at: tag.length + 3 });
      } else if (kind === ':r:') footprint.reversePagesUsed++;
    }
    for (const { key } of buckets) pipeline.scard(key);
    const replies = (await pipeline.exec()) ?? [];
    onNode.keys += batch.keys.length;
    replies.forEach(([err, reply], i) => {
      if (err) throw err;
      if (i < batch.keys.length) {
        footprint.bytes += Number(reply ?? 0);
        onNode.bytes += Number(reply ?? 0);
        return;
      }
      const size = Number(reply);
      const bucket = buckets[i - batch.keys.length];
      const [band, value] = bucket.key.slice(bucket.at).split(':').map(Number);
      let upTo = 1;
      while (upTo < size) upTo *= 2;
      bins.set(upTo, (bins.get(upTo) ?? 0) + 1);
      if (footprint.largest.length < largestCount || size > footprint.largest[footprint.largest.length - 1].size) {
        footprint.largest.push({ band, value, size, shard: bucket.shard });
        footprint.largest.sort((a, b) => b.size - a.size || a.band - b.band || a.value - b.value || a.shard - b.shard);
        footprint.largest.length = Math.min(footprint.largest.length, largestCount);
      }
    });
  }
  footprint.nodes = [...perNode.values()];
  footprint.histogram = [...bins.entries()].sort((a, b) => a[0] - b[0]);
  return footprint;
}
