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
  /** Bytes of an item's sketch in its bucket records. */
  sketchBytes: number;
  /** The most records a bucket string holds (more go to its overflow list, which queries never read). */
  bucketCap: number;
  reversePages: number;
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

/** What one shard's buckets held for a query: the bucket strings, as one MGET returned them. */
export interface BucketsGathered {
  idType: IdType | undefined;
  /** One entry per bucket key asked for; null for a bucket that holds nothing. */
  buckets: (Buffer | null)[];
}

/** A stray bucket record for repair.lua: band, value, the record's bytes. */
export type Stray = [number, number, Buffer];

export interface RepairCounts {
  recordsAdded: number;
  recordsRemoved: number;
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
    ctx.sketchBytes,
    ctx.bucketCap,
    ctx.reversePages,
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
  const args: (string | number)[] = [idType, ctx.bands, ctx.bytesPerBand, ctx.sketchBytes, ctx.bucketCap, ctx.reversePages];
  for (const e of entries) args.push(e.id, e.page);
  const [removed, unknown, epoch, seq, damaged] = (await call(ctx, 'remove', [], args)) as [number, number, string, number, number];
  observeView(ctx, epoch, seq);
  return { removed, unknown, damaged };
}

/** The error for a tag whose identity (meta) is not the one this handle expects. */
async function identityError(ctx: ScriptContext, fingerprint: string, epoch: string): Promise<Error> {
  if (fingerprint !== ctx.fingerprint) return ctx.onMismatch(await readMeta(ctx));
  return lostError(ctx, `${epoch}:0`);
}

/**
 * One MGET on one tag: the identity string first (so the parameter check is atomic with the read),
 * then the buckets; pipelined with it, the meta's epoch and sequence, so that a handle notices an
 * index lost behind it (an evicted meta, a restored snapshot) even when no script call follows
 * (a query of direct ordinals). Read commands, not a script: Redis only copies the strings out,
 * and a cluster client may send them to a replica.
 */
export async function gatherBuckets(ctx: ScriptContext, bucketKeys: readonly string[]): Promise<BucketsGathered> {
  const replies =
    (await ctx.client
      .pipeline()
      .mgetBuffer(ctx.keys.ident, ...bucketKeys)
      .hmget(ctx.keys.meta, 'epoch', 'seq')
      .exec()) ?? [];
  for (const [err] of replies) if (err) throw err;
  const reply = replies[0][1] as (Buffer | null)[];
  const [metaEpoch, metaSeq] = replies[1][1] as (string | null)[];
  const ident = reply[0];
  if (!ident) {
    if (ctx.view) throw lostError(ctx, ':0');
    return { idType: undefined, buckets: [] };
  }
  const [fingerprint, epoch, type] = ident.toString('utf8').split('\n');
  if (fingerprint !== ctx.fingerprint || (ctx.view && ctx.view.epoch !== epoch)) throw await identityError(ctx, fingerprint, epoch);
  const seq = Number(metaSeq ?? 0);
  if (ctx.view && (metaEpoch !== epoch || seq < ctx.view.seq)) throw lostError(ctx, `${metaEpoch ?? ''}:${seq}`);
  observeView(ctx, epoch, metaEpoch === epoch ? seq : 0);
  return { idType: type === 'int' || type === 'str' ? type : undefined, buckets: reply.slice(1) };
}

/** One script call of ids.lua: the ids of these ordinals (null for one removed since). */
export async function idsOfOrdinals(ctx: ScriptContext, ordinals: readonly number[]): Promise<(string | null)[]> {
  if (ordinals.length === 0) return [];
  const reply = (await call(ctx, 'ids', [], [ctx.reversePages, ...ordinals])) as (string | null)[];
  observeView(ctx, String(reply[1]), Number(reply[2]));
  return reply.slice(3).map((id) => (id === null || id === undefined ? null : String(id)));
}

/**
 * One script call of repair.lua: ids put back into the buckets their reverse records name, stray
 * records removed (re-checked in the script), and with `recount` the id count recounted.
 */
export async function repairBatch(
  ctx: ScriptContext,
  rejoin: readonly RemoveEntry[],
  stray: readonly Stray[],
  recount: boolean,
): Promise<RepairCounts> {
  const args: (string | number | Buffer)[] = [
    ctx.bands,
    ctx.bytesPerBand,
    ctx.sketchBytes,
    ctx.bucketCap,
    ctx.reversePages,
    recount ? 1 : 0,
    rejoin.length,
  ];
  for (const e of rejoin) args.push(e.id, e.page);
  for (const triple of stray) args.push(...triple);
  const [recordsAdded, recordsRemoved, idsCounted, epoch, seq] = (await call(ctx, 'repair', [], args)) as [number, number, number, string, number];
  observeView(ctx, epoch, seq);
  return { recordsAdded, recordsRemoved, idsCounted };
}
