import { LshrsError } from '../errors';
import type { IdType } from '../ids';
import { dataNodes, type RedisClient } from './connection';
import type { IndexKeys } from './keys';
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
  const [added, moved, unchanged] = (await call(ctx, 'insert', [ctx.keys.meta], args)) as number[];
  return { added, moved, unchanged };
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
export async function* scanKeys(client: RedisClient, patterns: readonly string[]): AsyncGenerator<{ node: RedisClient; keys: string[] }> {
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

/** Every key of the index on every data node. */
export function scanIndexKeys(client: RedisClient, keys: IndexKeys) {
  return scanKeys(client, keys.patterns);
}

/** Removes every key of the index and nothing else; returns how many keys went. */
export async function clearIndex(client: RedisClient, keys: IndexKeys): Promise<number> {
  let removed = 0;
  for await (const batch of scanIndexKeys(client, keys)) {
    removed += await batch.node.unlink(...batch.keys);
  }
  return removed;
}

export interface BucketSize {
  band: number;
  value: number;
  size: number;
}

export interface IndexFootprint {
  buckets: number;
  reversePagesUsed: number;
  bytes: number;
  /** Buckets by size: `[upTo, count]` with sizes in (upTo/2, upTo], upTo a power of two. */
  histogram: [number, number][];
  /** The largest buckets, largest first. */
  largest: BucketSize[];
}

/** Counts the index's keys, adds up MEMORY USAGE over them, and sizes its buckets. */
export async function measureIndex(client: RedisClient, keys: IndexKeys, largestCount = 10): Promise<IndexFootprint> {
  const footprint: IndexFootprint = { buckets: 0, reversePagesUsed: 0, bytes: 0, histogram: [], largest: [] };
  const bins = new Map<number, number>();
  const bucketMarker = `${keys.tag}:b:`;
  const reverseMarker = `${keys.tag}:r:`;
  for await (const batch of scanIndexKeys(client, keys)) {
    const pipeline = batch.node.pipeline();
    const bucketKeys: string[] = [];
    for (const key of batch.keys) {
      pipeline.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
      if (key.startsWith(bucketMarker)) {
        footprint.buckets++;
        bucketKeys.push(key);
      } else if (key.startsWith(reverseMarker)) footprint.reversePagesUsed++;
    }
    for (const key of bucketKeys) pipeline.scard(key);
    const replies = (await pipeline.exec()) ?? [];
    replies.forEach(([err, reply], i) => {
      if (err) throw err;
      if (i < batch.keys.length) {
        footprint.bytes += Number(reply ?? 0);
        return;
      }
      const size = Number(reply);
      const [band, value] = bucketKeys[i - batch.keys.length].slice(bucketMarker.length).split(':').map(Number);
      let upTo = 1;
      while (upTo < size) upTo *= 2;
      bins.set(upTo, (bins.get(upTo) ?? 0) + 1);
      if (footprint.largest.length < largestCount || size > footprint.largest[footprint.largest.length - 1].size) {
        footprint.largest.push({ band, value, size });
        footprint.largest.sort((a, b) => b.size - a.size || a.band - b.band || a.value - b.value);
        footprint.largest.length = Math.min(footprint.largest.length, largestCount);
      }
    });
  }
  footprint.histogram = [...bins.entries()].sort((a, b) => a[0] - b[0]);
  return footprint;
}
