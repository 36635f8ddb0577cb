/*
 * One function per script of lua/, each one EVALSHA on one hash tag (one slot). Every call follows
 * the contract of lua/common.lua: KEYS[1] the meta hash, ARGV[1] the key base, ARGV[2] the
 * fingerprint, ARGV[3] the handle's view of the index; error replies become LshrsErrors through
 * the table in src/errors.ts.
 */
import { randomBytes } from 'node:crypto';
import { LshrsError, scriptError } from '../errors';
import type { IdType } from '../ids';
import type { RedisClient } from './connection';
import type { IndexKeys } from './keys';
import type { MetaHash } from './meta';
import { runScript, type ScriptName } from './scripts';

/** What every script call needs to know about the hash tag (the index, or one shard) it works on. */
export interface ScriptContext {
  client: RedisClient;
  keys: IndexKeys;
  /** The client's key prefix and the tag: the start of every key a script builds itself. */
  base: string;
  fingerprint: string;
  bands: number;
  bytesPerBand: number;
  /** Meta fields written when an insert creates the index. */
  metaFields: MetaHash;
  /** Builds the error for a parameter mismatch from the stored meta. */
  onMismatch(stored: MetaHash): Error;
  /**
   * What this handle has seen of the tag's meta: its epoch, and the highest write sequence a call
   * returned. Undefined until a call has seen the meta; reset by clear().
   */
  view?: IndexView;
}

/** An index's identity as one handle has seen it (see lua/common.lua, ARGV[3]). */
export interface IndexView {
  epoch: string;
  seq: number;
}

/**
 * How strictly a call checks the handle's view: `epoch` refuses a meta lost and created anew (a
 * restart without persistence, an eviction, a clear elsewhere); `sequence` also refuses a meta
 * behind the writes this handle made (a restored snapshot, a failover to a lagging replica). Builds
 * check the sequence, since a build that carried on after a rollback would skip what was lost.
 */
export type ViewCheck = 'epoch' | 'sequence';

function viewArgument(ctx: ScriptContext, check: ViewCheck): string {
  if (!ctx.view) return '';
  return `${ctx.view.epoch}:${check === 'sequence' ? ctx.view.seq : 0}`;
}

/** Takes the view a call returned (an index without a meta leaves the view as it was). */
export function observeView(ctx: ScriptContext, epoch: string, seq: number): void {
  if (!epoch) return;
  if (ctx.view?.epoch === epoch) ctx.view.seq = Math.max(ctx.view.seq, seq);
  else ctx.view = { epoch, seq };
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
  /** Removed ids that a bucket their record names did not hold (an evicted bucket, say). */
  damaged: number;
}

export interface CandidateList {
  idType: IdType | undefined;
  /** Distinct ids that share at least one bucket with the query, before the cut. */
  total: number;
  ids: string[];
  collisions: number[];
  /** Hamming distance of each id's whole signature to the query's; -1 when stage 2 was skipped. */
  hamming: number[];
}

export interface CandidateQuery {
  /** The buckets the query reads: its own in each band, then its probes. */
  bucketKeys: readonly string[];
  /** The query's packed signature. */
  signature: Buffer;
  /** Stage 1: candidates kept, best by collisions. */
  maxCandidates: number;
  /** Stage 2: of those, how many to return, closest by Hamming distance (0: skip stage 2). */
  rerankCandidates: number;
  reversePages: number;
  /** The most bucket members the call reads (see query.lua, ARGV[8]). */
  bucketReads: number;
}

/** How much of its buckets a query read. */
export interface BucketsRead {
  /** Bucket members read. */
  read: number;
  /** The bucket-read budget cut the read short: a giant bucket was sampled, later buckets skipped. */
  truncated: boolean;
  /** Bucket members without a reverse record (evicted or damaged), left out of stage 2. */
  missingRecords: number;
}

/** A stray bucket member for repair.lua: band, value, id, reverse page. */
export type Stray = [number, number, string, number];

export interface RepairCounts {
  membershipsAdded: number;
  membersRemoved: number;
  /** Ids counted over the reverse records; -1 when not recounted (or the tag holds no meta). */
  idsCounted: number;
}

export async function readMeta(ctx: Pick<ScriptContext, 'client' | 'keys'>): Promise<MetaHash> {
  return ctx.client.hgetall(ctx.keys.meta);
}

/** The error for an index that is gone or behind this handle's view of it. */
export function lostError(ctx: ScriptContext, stored: string): LshrsError {
  const [epoch, seq] = stored.split(':');
  const seen = ctx.view as IndexView;
  const what =
    epoch !== seen.epoch
      ? epoch
        ? 'was created anew'
        : 'is gone'
      : `is behind what this handle wrote (write ${seq} of ${seen.seq}: a restored snapshot or a failover to a lagging replica)`;
  return new LshrsError(
    'INDEX_LOST',
    `index "${ctx.keys.tag}" in Redis ${what} since this handle used it (a restart without persistence, an eviction, ` +
      'a clear elsewhere, a restore); nothing was written: run verify, or clear() and rebuild',
  );
}

/** One script call in the shared contract; a script's error reply becomes its LshrsError. */
async function call(
  ctx: ScriptContext,
  name: ScriptName,
  keys: readonly string[],
  args: readonly (string | number | Buffer)[],
  check: ViewCheck = 'epoch',
) {
  try {
    return await runScript(ctx.client, name, [ctx.keys.meta, ...keys], [ctx.base, ctx.fingerprint, viewArgument(ctx, check), ...args]);
  } catch (err) {
    const refused = scriptError(err);
    if (refused?.reply === 'LSHRS_PARAMS') throw ctx.onMismatch(await readMeta(ctx));
    if (refused?.reply === 'LSHRS_LOST') throw lostError(ctx, refused.detail);
    if (refused?.reply === 'LSHRS_IDTYPE') {
      const stored = refused.detail === 'int' ? 'integer' : 'string';
      throw new LshrsError(
        refused.code,
        `index "${ctx.keys.tag}" holds ${stored} ids; this batch has ${stored === 'integer' ? 'string' : 'integer'} ids`,
      );
    }
    throw err;
  }
}

/** One script call: the whole batch is upserted or nothing is. */
export async function insertBatch(
  ctx: ScriptContext,
  idType: IdType,
  entries: readonly InsertEntry[],
  setMeta: MetaHash = {},
  check: ViewCheck = 'epoch',
): Promise<InsertCounts> {
  const metaPairs = Object.entries(ctx.metaFields).flat();
  const setPairs = Object.entries(setMeta).flat();
  const epoch = randomBytes(8).toString('hex');
  const args: (string | number | Buffer)[] = [
    idType,
    ctx.bands,
    ctx.bytesPerBand,
    epoch,
    metaPairs.length / 2,
    ...metaPairs,
    setPairs.length / 2,
    ...setPairs,
  ];
  for (const e of entries) args.push(e.id, e.page, e.signature);
  const reply = (await call(ctx, 'insert', [], args, check)) as [number, number, number, number, string, number];
  const [added, moved, unchanged, created, storedEpoch, seq] = reply;
  observeView(ctx, storedEpoch, seq);
  return { added, moved, unchanged, created: created === 1 };
}

/** One script call: every id of the batch leaves every bucket, through its reverse record. */
export async function removeBatch(ctx: ScriptContext, idType: IdType, entries: readonly RemoveEntry[]): Promise<RemoveCounts> {
  const args: (string | number)[] = [idType, ctx.bands, ctx.bytesPerBand];
  for (const e of entries) args.push(e.id, e.page);
  const [removed, unknown, epoch, seq, damaged] = (await call(ctx, 'remove', [], args)) as [number, number, string, number, number];
  observeView(ctx, epoch, seq);
  return { removed, unknown, damaged };
}

/**
 * One script call: the union of the query's buckets, the best `maxCandidates` by collisions, then
 * (unless `rerankCandidates` is 0) the closest `rerankCandidates` of those by Hamming distance.
 */
export async function queryBuckets(ctx: ScriptContext, q: CandidateQuery): Promise<{ list: CandidateList; buckets: BucketsRead }> {
  const reply = (await call(ctx, 'query', q.bucketKeys, [q.maxCandidates, q.rerankCandidates, q.signature, q.reversePages, q.bucketReads])) as (
    | string
    | number
  )[];
  observeView(ctx, String(reply[1]), Number(reply[2]));
  const ids: string[] = [];
  const collisions: number[] = [];
  const hamming: number[] = [];
  for (let i = 7; i < reply.length; i += 3) {
    ids.push(String(reply[i]));
    collisions.push(Number(reply[i + 1]));
    hamming.push(Number(reply[i + 2]));
  }
  const type = reply[0] === 'int' || reply[0] === 'str' ? reply[0] : undefined;
  return {
    list: { idType: type, total: Number(reply[3]), ids, collisions, hamming },
    buckets: { read: Number(reply[4]), truncated: Number(reply[5]) === 1, missingRecords: Number(reply[6]) },
  };
}

/**
 * One script call of repair.lua: ids put back into the buckets their reverse records name, stray
 * members removed (re-checked in the script), and with `recountPages` > 0 the id count recounted.
 */
export async function repairBatch(
  ctx: ScriptContext,
  rejoin: readonly RemoveEntry[],
  stray: readonly Stray[],
  recountPages: number,
): Promise<RepairCounts> {
  const args: (string | number)[] = [ctx.bands, ctx.bytesPerBand, recountPages, rejoin.length];
  for (const e of rejoin) args.push(e.id, e.page);
  for (const quad of stray) args.push(...quad);
  const [membershipsAdded, membersRemoved, idsCounted, epoch, seq] = (await call(ctx, 'repair', [], args)) as [
    number,
    number,
    number,
    string,
    number,
  ];
  observeView(ctx, epoch, seq);
  return { membershipsAdded, membersRemoved, idsCounted };
}
