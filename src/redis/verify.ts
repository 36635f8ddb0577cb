import { unpackSignature } from '../hashing/signatures';
import { decodeId, pageOf, type Id, type IdType } from '../ids';
import { call, removeBatch, scanKeys, type ScriptContext } from './index-ops';

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
  /** The id count in the meta hash; it should equal `ids`. */
  metaCount: number;
  /** Indexed ids without a row in the store (null: no store that can tell). */
  missingFromStore: Id[] | null;
  /** A few of each problem, to show. */
  examples: { missingFromBuckets: { id: Id; bucket: string }[]; strayInBuckets: { id: Id; bucket: string }[] };
  consistent: boolean;
  repaired?: { membershipsAdded: number; membersRemoved: number; removedMissingFromStore: number; idsCounted: number };
}

export interface VerifyDeps {
  ctx: ScriptContext;
  rows: number;
  reversePages: number;
  batchSize: number;
  /** Which of these ids have a store row; absent when the store cannot tell. */
  existing?: (ids: readonly Id[]) => Promise<Set<string>>;
}

const EXAMPLES = 20;

/**
 * Checks that reverse records and bucket sets describe the same membership, that the id count is
 * right, and that every indexed id has a store row; with `repair`, mends each finding with atomic
 * script calls. An ops call: it walks every key of the index with SCAN and SSCAN.
 */
export async function verifyIndex(deps: VerifyDeps, repair: boolean): Promise<VerifyReport> {
  const { ctx, rows, reversePages } = deps;
  const { client, keys, bands } = ctx;
  const meta = await client.hgetall(keys.meta);
  const idType = (meta.idType === 'int' || meta.idType === 'str' ? meta.idType : 'str') as IdType;
  const report: VerifyReport = {
    ids: 0,
    buckets: 0,
    missingFromBuckets: 0,
    strayInBuckets: 0,
    metaCount: Number(meta.ids ?? 0),
    missingFromStore: deps.existing ? [] : null,
    examples: { missingFromBuckets: [], strayInBuckets: [] },
    consistent: true,
  };
  const rejoin = new Map<string, Id>();
  const stray: [number, number, string, number][] = [];
  const reversePrefix = `${keys.tag}:r:`;
  const bucketPrefix = `${keys.tag}:b:`;

  // Reverse records -> buckets, and -> store rows.
  let storeCheck: Id[] = [];
  const checkStore = async () => {
    if (!deps.existing || storeCheck.length === 0) return;
    const present = await deps.existing(storeCheck);
    for (const id of storeCheck) if (!present.has(String(id))) report.missingFromStore?.push(id);
    storeCheck = [];
  };
  for await (const batch of scanKeys(client, [keys.reversePattern])) {
    for (const pageKey of batch.keys) {
      const records = Object.entries(await batch.node.hgetallBuffer(pageKey));
      const pipeline = batch.node.pipeline();
      const asked: [string, string][] = [];
      for (const [raw, signature] of records) {
        unpackSignature(signature, bands, rows).forEach((value, band) => {
          const bucket = keys.bucket(band, value);
          pipeline.sismember(bucket, raw);
          asked.push([raw, bucket]);
        });
      }
      const replies = (await pipeline.exec()) ?? [];
      replies.forEach(([err, isMember], i) => {
        if (err) throw err;
        if (isMember) return;
        const [raw, bucket] = asked[i];
        report.missingFromBuckets++;
        rejoin.set(raw, decodeId(raw, idType));
        if (report.examples.missingFromBuckets.length < EXAMPLES) report.examples.missingFromBuckets.push({ id: decodeId(raw, idType), bucket });
      });
      report.ids += records.length;
      for (const [raw] of records) storeCheck.push(decodeId(raw, idType));
      if (storeCheck.length >= 1000) await checkStore();
    }
  }
  await checkStore();

  // Buckets -> reverse records.
  for await (const batch of scanKeys(client, [keys.bucketPattern])) {
    for (const bucket of batch.keys) {
      report.buckets++;
      const [band, value] = bucket.slice(bucketPrefix.length).split(':').map(Number);
      let cursor = '0';
      do {
        const [next, members] = await batch.node.sscan(bucket, cursor, 'COUNT', 1000);
        cursor = next;
        const pipeline = batch.node.pipeline();
        const pages = members.map((raw) => pageOf(decodeId(raw, idType), reversePages));
        members.forEach((raw, i) => pipeline.hgetBuffer(`${reversePrefix}${pages[i]}`, raw));
        const replies = (await pipeline.exec()) ?? [];
        replies.forEach(([err, signature], i) => {
          if (err) throw err;
          const sig = signature as Buffer | null;
          if (sig && unpackSignature(sig, bands, rows)[band] === value) return;
          report.strayInBuckets++;
          stray.push([band, value, members[i], pages[i]]);
          if (report.examples.strayInBuckets.length < EXAMPLES) {
            report.examples.strayInBuckets.push({ id: decodeId(members[i], idType), bucket });
          }
        });
      } while (cursor !== '0');
    }
  }

  report.consistent =
    report.missingFromBuckets === 0 &&
    report.strayInBuckets === 0 &&
    report.metaCount === report.ids &&
    (report.missingFromStore?.length ?? 0) === 0;
  if (repair && !report.consistent) report.repaired = await repairIndex(deps, idType, [...rejoin.values()], stray, report.missingFromStore ?? []);
  return report;
}

async function repairIndex(
  deps: VerifyDeps,
  idType: IdType,
  rejoin: Id[],
  stray: [number, number, string, number][],
  missingFromStore: Id[],
): Promise<NonNullable<VerifyReport['repaired']>> {
  const { ctx, reversePages, batchSize } = deps;
  const repaired = { membershipsAdded: 0, membersRemoved: 0, removedMissingFromStore: 0, idsCounted: 0 };
  const run = async (rejoinPart: Id[], strayPart: [number, number, string, number][], recount: boolean) => {
    const args: (string | number)[] = [ctx.keys.tag, ctx.fingerprint, ctx.bands, ctx.bytesPerBand, recount ? reversePages : 0, rejoinPart.length];
    for (const id of rejoinPart) args.push(String(id), pageOf(id, reversePages));
    for (const quad of strayPart) args.push(...quad);
    const [added, removed, counted] = (await call(ctx, 'repair', [ctx.keys.meta], args)) as number[];
    repaired.membershipsAdded += added;
    repaired.membersRemoved += removed;
    if (recount) repaired.idsCounted = counted;
  };
  for (let i = 0; i < rejoin.length; i += batchSize) await run(rejoin.slice(i, i + batchSize), [], false);
  for (let i = 0; i < stray.length; i += batchSize) await run([], stray.slice(i, i + batchSize), false);
  for (let i = 0; i < missingFromStore.length; i += batchSize) {
    const part = missingFromStore.slice(i, i + batchSize);
    const counts = await removeBatch(ctx, idType, part.map((id) => ({ id: String(id), page: pageOf(id, reversePages) })));
    repaired.removedMissingFromStore += counts.removed;
  }
  // Last, so the count reflects every change above.
  await run([], [], true);
  return repaired;
}
