import { unpackSignature } from '../hashing/signatures';
import { decodeId, type Id, type IdType } from '../ids';
import { DIRECT_ORDINAL_LIMIT, type IndexLayout } from './keys';
import { shardIdCounts, storedIdType, type MetaHash } from './meta';
import { scanKeys } from './ops';
import { removeBatch, repairBatch, type ScriptContext, type Stray } from './script-calls';

/** What `verify` found, and with `repair`, what it mended. */
export interface VerifyReport {
  /** Reverse records read (ids in the index). */
  ids: number;
  /** Bucket strings read. */
  buckets: number;
  /** Bucket records a reverse record names and its bucket (string and overflow) lacks. */
  missingFromBuckets: number;
  /** Bucket records whose ordinal has no id, or whose id's reverse record names another bucket or record. */
  strayInBuckets: number;
  /** The id count in the meta hash (summed over the shards); it should equal `ids`. */
  metaCount: number;
  /** Indexed ids without a row in the store (null: no store that can tell). */
  missingFromStore: Id[] | null;
  /**
   * Rows of the store with a usable vector that the index lacks (a wipe, a rollback, a write lost
   * in a failover); null when the store cannot be read in id order. Counted page by page, in
   * bounded memory.
   */
  missingFromIndex: number | null;
  /** Rows of the store whose vector is NULL or unusable: no index can hold them. */
  invalidRows: number | null;
  /** A few of each problem, to show. */
  examples: { missingFromBuckets: { id: Id; bucket: string }[]; strayInBuckets: { id: Id | null; bucket: string }[]; missingFromIndex: Id[] };
  consistent: boolean;
  repaired?: { recordsAdded: number; recordsRemoved: number; removedMissingFromStore: number; idsCounted: number };
  /** With repair: rows missing from the index that were indexed. */
  reindexed?: number;
}

export interface VerifyDeps {
  layout: IndexLayout;
  /** The root meta and each shard's (the same hash twice for an index of one shard). */
  metas: { root: MetaHash; shards: MetaHash[] };
  /** The script context of each shard (one for an index of one shard). */
  shards: readonly ScriptContext[];
  rows: number;
  /** Bytes of a bucket record: the ordinal (4) and the sketch. */
  recordSize: number;
  reversePages: number;
  /** The reverse page of an id. */
  pageOf(id: Id): number;
  batchSize: number;
  /** Which of these ids have a store row; absent when the store cannot tell. */
  existing?: (ids: readonly Id[]) => Promise<Set<string>>;
}

const EXAMPLES = 20;

/** The position of a whole record in a bucket string, at a record boundary, or -1. */
function findRecord(bucket: Buffer, record: Buffer, size: number): number {
  for (let at = bucket.indexOf(record); at >= 0; at = bucket.indexOf(record, at + 1)) if (at % size === 0) return at;
  return -1;
}

/**
 * Checks that reverse records, ordinals and bucket records describe the same index, that the id
 * count is right, and that every indexed id has a store row; with `repair`, mends each finding
 * with atomic script calls. An ops call: it walks every key of the index with SCAN, on every data
 * node, for every shard at once (one walk per kind of key, whatever the shard count).
 */
export async function verifyIndex(deps: VerifyDeps, repair: boolean): Promise<VerifyReport> {
  const { layout, rows, recordSize } = deps;
  const { client, bands } = deps.shards[0];
  const valueBytes = bands * Math.ceil(rows / 8);
  const { root, shards: shardMetas } = deps.metas;
  const idType: IdType = storedIdType(root, ...shardMetas) ?? 'str';
  const report: VerifyReport = {
    ids: 0,
    buckets: 0,
    missingFromBuckets: 0,
    strayInBuckets: 0,
    metaCount: shardIdCounts(shardMetas).reduce((a, b) => a + b, 0),
    missingFromStore: deps.existing ? [] : null,
    missingFromIndex: null,
    invalidRows: null,
    examples: { missingFromBuckets: [], strayInBuckets: [], missingFromIndex: [] },
    consistent: true,
  };
  const rejoin = deps.shards.map(() => new Map<string, Id>());
  const stray = deps.shards.map((): Stray[] => []);

  // Reverse records -> their bucket records, and -> store rows.
  let storeCheck: Id[] = [];
  const checkStore = async () => {
    if (!deps.existing || storeCheck.length === 0) return;
    const present = await deps.existing(storeCheck);
    for (const id of storeCheck) if (!present.has(String(id))) report.missingFromStore?.push(id);
    storeCheck = [];
  };
  for await (const batch of scanKeys(client, layout.reversePatterns)) {
    for (const pageKey of batch.keys) {
      const shard = layout.shardOfKey(pageKey);
      if (shard === undefined) continue;
      const keys = layout.shards[shard];
      const records = Object.entries(await batch.node.hgetallBuffer(batch.onNode(pageKey)));
      const pipeline = batch.node.pipeline();
      const asked: { raw: string; bucket: string; record: Buffer }[] = [];
      for (const [raw, reverse] of records) {
        const record = Buffer.concat([reverse.subarray(0, 4), reverse.subarray(4 + valueBytes)]);
        unpackSignature(reverse.subarray(4), bands, rows).forEach((value, band) => {
          const bucket = keys.bucket(band, value);
          pipeline.getBuffer(batch.onNode(bucket));
          pipeline.lpos(batch.onNode(keys.overflow(band, value)), record);
          asked.push({ raw, bucket, record });
        });
      }
      const replies = (await pipeline.exec()) ?? [];
      asked.forEach(({ raw, bucket, record }, i) => {
        const [err, held] = replies[2 * i];
        const [overflowErr, position] = replies[2 * i + 1];
        if (err) throw err;
        if (overflowErr) throw overflowErr;
        const at = held ? findRecord(held as Buffer, record, recordSize) : -1;
        if (at >= 0 || position !== null) return;
        report.missingFromBuckets++;
        rejoin[shard].set(raw, decodeId(raw, idType));
        if (report.examples.missingFromBuckets.length < EXAMPLES) report.examples.missingFromBuckets.push({ id: decodeId(raw, idType), bucket });
      });
      report.ids += records.length;
      for (const [raw] of records) storeCheck.push(decodeId(raw, idType));
      if (storeCheck.length >= 1000) await checkStore();
    }
  }
  await checkStore();

  // Bucket records (strings and overflow lists) -> ordinals -> reverse records.
  for (const [patterns, overflow] of [
    [layout.bucketPatterns, false],
    [layout.overflowPatterns, true],
  ] as const) {
    for await (const batch of scanKeys(client, patterns)) {
      for (const key of batch.keys) {
        const shard = layout.shardOfKey(key);
        if (shard === undefined) continue;
        const keys = layout.shards[shard];
        if (!overflow) report.buckets++;
        const [band, value] = key.slice(`${keys.tag}:b:`.length).split(':').map(Number);
        const bucket = keys.bucket(band, value);
        const held: Buffer[] = [];
        if (overflow) held.push(...(await batch.node.lrangeBuffer(batch.onNode(key), 0, -1)));
        else {
          const bytes = (await batch.node.getBuffer(batch.onNode(key))) ?? Buffer.alloc(0);
          for (let at = 0; at + recordSize <= bytes.length; at += recordSize) held.push(bytes.subarray(at, at + recordSize));
        }
        for (let from = 0; from < held.length; from += 1000) {
          const part = held.slice(from, from + 1000);
          const ordinals = part.map((record) => record.readUInt32BE(0));
          const direct = (ordinal: number) => idType === 'int' && ordinal < DIRECT_ORDINAL_LIMIT;
          const idPipeline = batch.node.pipeline();
          for (const ordinal of ordinals)
            if (!direct(ordinal)) idPipeline.hget(batch.onNode(keys.ordinals(ordinal % deps.reversePages)), String(ordinal));
          const counted = ((await idPipeline.exec()) ?? []).map(([err, id]) => {
            if (err) throw err;
            return id as string | null;
          });
          let next = 0;
          const ids = ordinals.map((ordinal) => (direct(ordinal) ? String(ordinal) : counted[next++]));
          const reversePipeline = batch.node.pipeline();
          for (const id of ids) reversePipeline.hgetBuffer(batch.onNode(keys.reverse(id === null ? 0 : deps.pageOf(decodeId(id, idType)))), id ?? '');
          const reverses = (await reversePipeline.exec()) ?? [];
          part.forEach((record, i) => {
            const [err, found] = reverses[i];
            if (err) throw err;
            const reverse = ids[i] === null ? null : (found as Buffer | null);
            if (
              reverse &&
              unpackSignature(reverse.subarray(4), bands, rows)[band] === value &&
              reverse.subarray(0, 4).equals(record.subarray(0, 4)) &&
              reverse.subarray(4 + valueBytes).equals(record.subarray(4))
            ) {
              return;
            }
            report.strayInBuckets++;
            stray[shard].push([band, value, Buffer.from(record)]);
            if (report.examples.strayInBuckets.length < EXAMPLES) {
              report.examples.strayInBuckets.push({ id: ids[i] === null ? null : decodeId(ids[i] as string, idType), bucket });
            }
          });
        }
      }
    }
  }

  report.consistent =
    report.missingFromBuckets === 0 && report.strayInBuckets === 0 && report.metaCount === report.ids && (report.missingFromStore?.length ?? 0) === 0;
  if (repair && !report.consistent) {
    const repaired = { recordsAdded: 0, recordsRemoved: 0, removedMissingFromStore: 0, idsCounted: 0 };
    const missing = report.missingFromStore ?? [];
    for (let k = 0; k < deps.shards.length; k++) {
      const shardMissing = missing.filter((id) => layout.shardOf(id) === k);
      const counts = await repairShard(deps, deps.shards[k], idType, [...rejoin[k].values()], stray[k], shardMissing);
      repaired.recordsAdded += counts.recordsAdded;
      repaired.recordsRemoved += counts.recordsRemoved;
      repaired.removedMissingFromStore += counts.removedMissingFromStore;
      repaired.idsCounted += counts.idsCounted;
    }
    report.repaired = repaired;
  }
  return report;
}

/** Mends one shard, each step an atomic script call on that shard's slot. */
async function repairShard(
  deps: VerifyDeps,
  ctx: ScriptContext,
  idType: IdType,
  rejoin: Id[],
  stray: Stray[],
  missingFromStore: Id[],
): Promise<NonNullable<VerifyReport['repaired']>> {
  const { batchSize, pageOf } = deps;
  const repaired = { recordsAdded: 0, recordsRemoved: 0, removedMissingFromStore: 0, idsCounted: 0 };
  const entries = (ids: readonly Id[]) => ids.map((id) => ({ id: String(id), page: pageOf(id) }));
  const run = async (rejoinPart: Id[], strayPart: Stray[], recount: boolean) => {
    const counts = await repairBatch(ctx, entries(rejoinPart), strayPart, recount);
    repaired.recordsAdded += counts.recordsAdded;
    repaired.recordsRemoved += counts.recordsRemoved;
    if (recount) repaired.idsCounted = Math.max(0, counts.idsCounted); // -1: this shard has no meta, so no ids
  };
  for (let i = 0; i < rejoin.length; i += batchSize) await run(rejoin.slice(i, i + batchSize), [], false);
  for (let i = 0; i < stray.length; i += batchSize) await run([], stray.slice(i, i + batchSize), false);
  for (let i = 0; i < missingFromStore.length; i += batchSize) {
    const counts = await removeBatch(ctx, idType, entries(missingFromStore.slice(i, i + batchSize)));
    repaired.removedMissingFromStore += counts.removed;
  }
  // Last, so the count reflects every change above.
  await run([], [], true);
  return repaired;
}
