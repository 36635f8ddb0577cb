import { unpackSignature } from '../hashing/signatures';
import { decodeId, type Id, type IdType } from '../ids';
import type { IndexLayout } from './keys';
import { shardIdCounts, storedIdType, type MetaHash } from './meta';
import { scanKeys } from './ops';
import { removeBatch, repairBatch, type ScriptContext, type Stray } from './script-calls';

/** What `verify` found, and with `repair`, what it mended. */
export interface VerifyReport {
  /** Reverse records read (ids in the index). */
  ids: number;
  /** Bucket sets read. */
  buckets: number;
  /** Memberships a reverse record names and its bucket lacks. */
  missingFromBuckets: number;
  /** Bucket members whose reverse record is gone or names another bucket. */
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
  examples: { missingFromBuckets: { id: Id; bucket: string }[]; strayInBuckets: { id: Id; bucket: string }[]; missingFromIndex: Id[] };
  consistent: boolean;
  repaired?: { membershipsAdded: number; membersRemoved: number; removedMissingFromStore: number; idsCounted: number };
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
  reversePages: number;
  /** The reverse page of an id. */
  pageOf(id: Id): number;
  batchSize: number;
  /** Which of these ids have a store row; absent when the store cannot tell. */
  existing?: (ids: readonly Id[]) => Promise<Set<string>>;
}

const EXAMPLES = 20;

/**
 * Checks that reverse records and bucket sets describe the same membership, that the id count is
 * right, and that every indexed id has a store row; with `repair`, mends each finding with atomic
 * script calls. An ops call: it walks every key of the index with SCAN and SSCAN, on every data
 * node, for every shard at once (one walk per kind of key, whatever the shard count).
 */
export async function verifyIndex(deps: VerifyDeps, repair: boolean): Promise<VerifyReport> {
  const { layout, rows, pageOf } = deps;
  const { client, bands } = deps.shards[0];
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

  // Reverse records -> buckets, and -> store rows.
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
      const asked: [string, string][] = [];
      for (const [raw, signature] of records) {
        unpackSignature(signature, bands, rows).forEach((value, band) => {
          const bucket = keys.bucket(band, value);
          pipeline.sismember(batch.onNode(bucket), raw);
          asked.push([raw, bucket]);
        });
      }
      const replies = (await pipeline.exec()) ?? [];
      replies.forEach(([err, isMember], i) => {
        if (err) throw err;
        if (isMember) return;
        const [raw, bucket] = asked[i];
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

  // Buckets -> reverse records.
  for await (const batch of scanKeys(client, layout.bucketPatterns)) {
    for (const bucket of batch.keys) {
      const shard = layout.shardOfKey(bucket);
      if (shard === undefined) continue;
      const keys = layout.shards[shard];
      report.buckets++;
      const [band, value] = bucket.slice(`${keys.tag}:b:`.length).split(':').map(Number);
      let cursor = '0';
      do {
        const [next, members] = await batch.node.sscan(batch.onNode(bucket), cursor, 'COUNT', 1000);
        cursor = next;
        const pipeline = batch.node.pipeline();
        const pages = members.map((raw) => pageOf(decodeId(raw, idType)));
        members.forEach((raw, i) => pipeline.hgetBuffer(batch.onNode(keys.reverse(pages[i])), raw));
        const replies = (await pipeline.exec()) ?? [];
        replies.forEach(([err, signature], i) => {
          if (err) throw err;
          const sig = signature as Buffer | null;
          if (sig && unpackSignature(sig, bands, rows)[band] === value) return;
          report.strayInBuckets++;
          stray[shard].push([band, value, members[i], pages[i]]);
          if (report.examples.strayInBuckets.length < EXAMPLES) {
            report.examples.strayInBuckets.push({ id: decodeId(members[i], idType), bucket });
          }
        });
      } while (cursor !== '0');
    }
  }

  report.consistent =
    report.missingFromBuckets === 0 && report.strayInBuckets === 0 && report.metaCount === report.ids && (report.missingFromStore?.length ?? 0) === 0;
  if (repair && !report.consistent) {
    const repaired = { membershipsAdded: 0, membersRemoved: 0, removedMissingFromStore: 0, idsCounted: 0 };
    const missing = report.missingFromStore ?? [];
    for (let k = 0; k < deps.shards.length; k++) {
      const shardMissing = missing.filter((id) => layout.shardOf(id) === k);
      const counts = await repairShard(deps, deps.shards[k], idType, [...rejoin[k].values()], stray[k], shardMissing);
      repaired.membershipsAdded += counts.membershipsAdded;
      repaired.membersRemoved += counts.membersRemoved;
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
  const { reversePages, batchSize, pageOf } = deps;
  const repaired = { membershipsAdded: 0, membersRemoved: 0, removedMissingFromStore: 0, idsCounted: 0 };
  const entries = (ids: readonly Id[]) => ids.map((id) => ({ id: String(id), page: pageOf(id) }));
  const run = async (rejoinPart: Id[], strayPart: Stray[], recount: boolean) => {
    const counts = await repairBatch(ctx, entries(rejoinPart), strayPart, recount ? reversePages : 0);
    repaired.membershipsAdded += counts.membershipsAdded;
    repaired.membersRemoved += counts.membersRemoved;
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
