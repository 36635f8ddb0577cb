import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { unpackSignature } from '../../src/hashing/signatures';
import { dataNodes, type RedisClient } from '../../src/redis/connection';
import { DIRECT_ORDINAL_LIMIT } from '../../src/redis/keys';

/** The nodes that hold data: every master of a cluster, or the one server. */
export const mastersOf = (client: RedisClient): Promise<Redis[]> => dataNodes(client);

/**
 * Every key under the index's hash tags, `{prefix}` and its shards' `{prefix#k.salt}`, on every
 * master, found with SCAN (tests may scan; lshrs' hot paths never do).
 */
export async function keysOf(redis: RedisClient, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for (const node of await mastersOf(redis)) {
    for (const pattern of [`\\{${prefix}\\}:*`, `\\{${prefix}#*\\}:*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        found.push(...keys);
      } while (cursor !== '0');
    }
  }
  return found.sort();
}

/** A key's hash tag, braces included. */
export const tagOf = (key: string): string => key.slice(0, key.indexOf('}') + 1);

/**
 * A key without its prefix, for comparing two indexes: `{p}:b:1:2` is `:b:1:2`, shard 3's
 * `{p#3.17}:b:1:2` is `#3:b:1:2` (the salt depends on the prefix, the shard number does not).
 */
export function withoutPrefix(key: string): string {
  const tag = tagOf(key);
  const shard = /#(\d+)\.\d+\}$/.exec(tag);
  return `${shard ? `#${shard[1]}` : ''}${key.slice(tag.length)}`;
}

/** SCRIPT FLUSH on every master: the next script call finds no cached script anywhere. */
export async function flushScripts(redis: RedisClient): Promise<void> {
  for (const node of await mastersOf(redis)) await node.script('FLUSH');
}

/** The keys of a listing grouped by hash tag, in key order. */
function byTag(keys: readonly string[]): Map<string, string[]> {
  const tags = new Map<string, string[]>();
  for (const key of keys) {
    const tag = tagOf(key);
    const list = tags.get(tag) ?? [];
    list.push(key);
    tags.set(tag, list);
  }
  return tags;
}

/** The kind of a key of the schema (lua/common.lua): 'meta', 'ident', 'b', 'x', 'r', 'o', or '' for another. */
function kindOf(key: string): string {
  const rest = key.slice(tagOf(key).length);
  if (rest === ':meta' || rest === ':ident') return rest.slice(1);
  const match = /^:([bxro]):/.exec(rest);
  return match ? match[1] : '';
}

/** Band and value of a bucket or overflow key. */
function bandValueOf(key: string): [number, number] {
  const [band, value] = key
    .slice(tagOf(key).length + ':b:'.length)
    .split(':')
    .map(Number);
  return [band, value];
}

/** The bucket string key of an overflow key, or the key itself. */
const bucketOf = (key: string): string => `${tagOf(key)}:b:${key.slice(tagOf(key).length + ':x:'.length)}`;

/**
 * Bytes of a bucket record (the 4-byte ordinal and the sketch) of an index's tag, from the meta's
 * sketchBits (the tag's own meta, else the root's `{prefix}:meta`); undefined when neither says.
 */
async function recordSizeFromMeta(redis: RedisClient, tag: string, prefix: string): Promise<number | undefined> {
  for (const meta of [`${tag}:meta`, `{${prefix}}:meta`]) {
    const bits = await redis.hget(meta, 'sketchBits');
    if (bits !== null) return 4 + Number(bits) / 8;
  }
  return undefined;
}

/** A bucket string's records, split at record boundaries (a trailing partial record is returned whole, as the last). */
function splitRecords(bytes: Buffer, size: number): Buffer[] {
  const records: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) records.push(bytes.subarray(at, Math.min(at + size, bytes.length)));
  return records;
}

/** A comparable picture of everything the index holds in Redis: strings as hex, lists as arrays of hex, hashes as field -> hex. */
export async function snapshot(redis: RedisClient, prefix: string): Promise<Record<string, unknown>> {
  const picture: Record<string, unknown> = {};
  for (const key of await keysOf(redis, prefix)) {
    const type = await redis.type(key);
    if (type === 'string') picture[key] = ((await redis.getBuffer(key)) ?? Buffer.alloc(0)).toString('hex');
    else if (type === 'list') picture[key] = (await redis.lrangeBuffer(key, 0, -1)).map((item) => item.toString('hex'));
    else if (type === 'set') picture[key] = (await redis.smembers(key)).sort();
    else if (type === 'hash') {
      const entries = await redis.hgetallBuffer(key);
      picture[key] = Object.fromEntries(
        Object.entries(entries)
          .map(([f, v]) => [f, v.toString('hex')])
          .sort(),
      );
    } else picture[key] = type;
  }
  return picture;
}

/**
 * Keys of the index that still name `id`: a reverse page with the id as a field, an o-map page
 * with the id as a value, and bucket strings (a record at a record boundary) or overflow lists
 * holding a record of the id's ordinal. The ordinal is the reverse record's, or without one, any
 * the o-maps give the id; an integer id below 2^31 in an index of integer ids is always its own.
 */
export async function keysHolding(redis: RedisClient, prefix: string, id: string): Promise<string[]> {
  const holding: string[] = [];
  for (const [tag, keys] of byTag(await keysOf(redis, prefix))) {
    const ordinals = new Set<number>();
    for (const key of keys.filter((k) => kindOf(k) === 'r')) {
      const reverse = await redis.hgetBuffer(key, id);
      if (reverse === null) continue;
      holding.push(key);
      if (reverse.length >= 4) ordinals.add(reverse.readUInt32BE(0));
    }
    const fromReverse = ordinals.size > 0;
    const direct = /^\d+$/.test(id) && Number(id) < DIRECT_ORDINAL_LIMIT;
    if (direct && (await redis.hget(`${tag}:meta`, 'idType')) === 'int') ordinals.add(Number(id));
    for (const key of keys.filter((k) => kindOf(k) === 'o')) {
      const entries = Object.entries(await redis.hgetall(key)).filter(([, value]) => value === id);
      if (entries.length === 0) continue;
      holding.push(key);
      if (!fromReverse) for (const [ordinal] of entries) ordinals.add(Number(ordinal));
    }
    if (ordinals.size === 0) continue;
    const size = await recordSizeFromMeta(redis, tag, prefix);
    for (const key of keys.filter((k) => kindOf(k) === 'b' || kindOf(k) === 'x')) {
      const records =
        kindOf(key) === 'x'
          ? await redis.lrangeBuffer(key, 0, -1)
          : size === undefined
            ? []
            : splitRecords((await redis.getBuffer(key)) ?? Buffer.alloc(0), size);
      if (records.some((record) => record.length >= 4 && ordinals.has(record.readUInt32BE(0)))) holding.push(key);
    }
  }
  return holding.sort();
}

/** Bucket strings as sorted lists of records (hex): their content whatever the order records landed in. */
async function sortedRecords(redis: RedisClient, key: string, size: number | undefined): Promise<string[]> {
  const bytes = (await redis.getBuffer(key)) ?? Buffer.alloc(0);
  if (size === undefined) return [bytes.toString('hex')];
  return splitRecords(bytes, size)
    .map((record) => record.toString('hex'))
    .sort();
}

/**
 * Bucket, overflow, reverse-record and o-map content of an index with the prefix taken out, to
 * compare two indexes: a bucket string or overflow list is compared as the multiset of its records
 * (sorted), reverse pages and o-maps field by field; the meta and the ident string (they carry
 * each index's epoch) are left out.
 */
export async function indexContent(redis: RedisClient, prefix: string): Promise<Record<string, unknown>> {
  const picture = await snapshot(redis, prefix);
  const content: Record<string, unknown> = {};
  const sizes = new Map<string, number | undefined>();
  for (const [key, value] of Object.entries(picture)) {
    const kind = kindOf(key);
    if (kind === 'meta' || kind === 'ident') continue;
    if (kind === 'b') {
      const tag = tagOf(key);
      if (!sizes.has(tag)) sizes.set(tag, await recordSizeFromMeta(redis, tag, prefix));
      content[withoutPrefix(key)] = await sortedRecords(redis, key, sizes.get(tag));
    } else if (kind === 'x') content[withoutPrefix(key)] = [...(value as string[])].sort();
    else content[withoutPrefix(key)] = value;
  }
  return content;
}

const MAX_PROBLEMS = 100;

/**
 * Checks that reverse records, o-maps and bucket records describe the same index (within each
 * shard's tag), and that the metas' id counts add up; returns the problems found (none for a
 * consistent index). Each reverse record's bucket record (its ordinal and sketch) must be in each
 * bucket its band values name, at a record boundary of the string or whole in its overflow list;
 * every bucket record must map through the o-map to an id whose reverse record names that bucket
 * and that record; the o-map and the reverse records agree on ordinals. The record size is the
 * reverse record's length less the band values (4 + sketch). Bands and rows are the caller's; a
 * meta that names others is a problem, and the rest is checked with the meta's.
 */
export async function consistencyProblems(redis: RedisClient, prefix: string, callerBands: number, callerRows: number): Promise<string[]> {
  const problems: string[] = [];
  let reverseIds = 0;
  const keys = await keysOf(redis, prefix);
  for (const [tag, tagKeys] of byTag(keys)) {
    const meta = await redis.hgetall(`${tag}:meta`);
    // The caller's shape, unless the meta says otherwise: then that is one problem, and the rest of
    // the check reads the index as its meta describes it (not as thousands of misread records).
    let bands = callerBands;
    let rows = callerRows;
    if (meta.bands !== undefined && meta.rows !== undefined && (Number(meta.bands) !== bands || Number(meta.rows) !== rows)) {
      problems.push(`${tag}:meta says ${meta.bands} bands of ${meta.rows} rows, the caller ${bands} of ${rows}`);
      bands = Number(meta.bands);
      rows = Number(meta.rows);
    }
    const valueBytes = bands * Math.ceil(rows / 8);
    const pages = meta.reversePages === undefined ? undefined : Number(meta.reversePages);
    const cap = meta.bucketCap === undefined ? undefined : Number(meta.bucketCap);

    // An integer id below 2^31 is its own ordinal, with no o-map entry; other ordinals are counted.
    const direct = (ordinal: number) => meta.idType === 'int' && ordinal < DIRECT_ORDINAL_LIMIT;
    // o-maps: counted ordinal -> id, each in the page of its ordinal, each ordinal once.
    const idOf = new Map<number, string>();
    for (const key of tagKeys.filter((k) => kindOf(k) === 'o')) {
      const page = Number(key.slice(`${tag}:o:`.length));
      for (const [field, id] of Object.entries(await redis.hgetall(key))) {
        const ordinal = Number(field);
        if (pages !== undefined && ordinal % pages !== page) problems.push(`${key} holds ordinal ${ordinal}, whose page is ${ordinal % pages}`);
        if (idOf.has(ordinal)) problems.push(`ordinal ${ordinal} of ${tag} is in two o-map pages`);
        if (direct(ordinal)) problems.push(`${key} holds direct ordinal ${ordinal}, which has no entry`);
        idOf.set(ordinal, id);
      }
    }

    // Reverse records: id -> ordinal, band values, sketch; what each bucket should hold.
    const reverseOf = new Map<string, { ordinal: number; values: number[]; record: Buffer }>();
    const ordinalOwner = new Map<number, string>();
    let size: number | undefined;
    const expected = new Map<string, Map<string, string>>(); // bucket -> record hex -> id
    for (const key of tagKeys.filter((k) => kindOf(k) === 'r')) {
      for (const [id, reverse] of Object.entries(await redis.hgetallBuffer(key))) {
        reverseIds++;
        if (reverse.length < 4 + valueBytes) {
          problems.push(`${key} ${id}: reverse record of ${reverse.length} bytes`);
          continue;
        }
        const recordSize = reverse.length - valueBytes;
        if (size === undefined) size = recordSize;
        else if (size !== recordSize) problems.push(`${key} ${id}: reverse record of ${reverse.length} bytes, others of ${size + valueBytes}`);
        const ordinal = reverse.readUInt32BE(0);
        const record = Buffer.concat([reverse.subarray(0, 4), reverse.subarray(4 + valueBytes)]);
        const values = unpackSignature(reverse.subarray(4), bands, rows);
        reverseOf.set(id, { ordinal, values, record });
        const owner = ordinalOwner.get(ordinal);
        if (owner !== undefined) problems.push(`ordinal ${ordinal} of ${tag} is the reverse record of both ${owner} and ${id}`);
        ordinalOwner.set(ordinal, id);
        if (direct(ordinal)) {
          if (String(ordinal) !== id) problems.push(`${id} has the direct ordinal ${ordinal}, another id's`);
        } else {
          if (idOf.get(ordinal) !== id) problems.push(`o-map of ${tag} names ${idOf.get(ordinal) ?? 'nothing'} for ordinal ${ordinal} of ${id}`);
          if (meta.ordinals !== undefined && ordinal >= Number(meta.ordinals)) {
            problems.push(`${id} has ordinal ${ordinal}, not below the meta's ${meta.ordinals}`);
          }
        }
        values.forEach((value, band) => {
          const bucket = `${tag}:b:${band}:${value}`;
          const records = expected.get(bucket) ?? new Map<string, string>();
          records.set(record.toString('hex'), id);
          expected.set(bucket, records);
        });
      }
    }
    for (const [ordinal, id] of idOf) {
      if (!reverseOf.has(id)) problems.push(`o-map of ${tag} names ${id} for ordinal ${ordinal}, which has no reverse record`);
    }
    size ??= await recordSizeFromMeta(redis, tag, prefix);

    // Bucket strings and overflow lists: what each holds, record by record.
    const held = new Map<string, string[]>(); // bucket -> records (hex), string and overflow
    const stringCounts = new Map<string, number>();
    for (const key of tagKeys.filter((k) => kindOf(k) === 'b' || kindOf(k) === 'x')) {
      const overflow = kindOf(key) === 'x';
      const bucket = overflow ? bucketOf(key) : key;
      let records: Buffer[];
      if (overflow) {
        records = await redis.lrangeBuffer(key, 0, -1);
        if (records.length === 0) problems.push(`${key} is an empty list`);
      } else {
        const bytes = (await redis.getBuffer(key)) ?? Buffer.alloc(0);
        if (size === undefined) {
          problems.push(`${key} holds ${bytes.length} bytes, and no reverse record or meta gives the record size`);
          continue;
        }
        if (bytes.length === 0) problems.push(`${key} is an empty string`);
        if (bytes.length % size !== 0) problems.push(`${key} holds ${bytes.length} bytes, not whole records of ${size}`);
        records = splitRecords(bytes, size);
        stringCounts.set(key, records.length);
        if (cap !== undefined && records.length > cap) problems.push(`${key} holds ${records.length} records, over the cap of ${cap}`);
      }
      const list = held.get(bucket) ?? [];
      for (const record of records) {
        if (size !== undefined && record.length !== size) problems.push(`${key} holds a record of ${record.length} bytes, not ${size}`);
        list.push(record.toString('hex'));
      }
      held.set(bucket, list);
    }
    for (const key of tagKeys.filter((k) => kindOf(k) === 'x')) {
      const count = stringCounts.get(bucketOf(key)) ?? 0;
      if (cap !== undefined && count < cap) problems.push(`${key} holds records while its bucket string holds ${count}, under the cap of ${cap}`);
    }
    for (const [bucket, records] of held) {
      const [band, value] = bandValueOf(bucket);
      const seen = new Set<string>();
      for (const hex of records) {
        if (seen.has(hex)) problems.push(`${bucket} holds record ${hex} twice`);
        seen.add(hex);
        const ordinal = Buffer.from(hex, 'hex').readUInt32BE(0);
        const id = direct(ordinal) ? String(ordinal) : idOf.get(ordinal);
        const reverse = id === undefined ? undefined : reverseOf.get(id);
        if (id === undefined) problems.push(`${bucket} holds record ${hex}, whose ordinal ${ordinal} has no id`);
        else if (!reverse) problems.push(`${bucket} holds record ${hex} of ${id}, which has no reverse record`);
        else if (reverse.values[band] !== value) problems.push(`${bucket} holds ${id}, which its reverse record does not name`);
        else if (reverse.record.toString('hex') !== hex)
          problems.push(`${bucket} holds record ${hex} of ${id}, its reverse record says ${reverse.record.toString('hex')}`);
      }
    }
    for (const [bucket, records] of expected) {
      const have = new Set(held.get(bucket) ?? []);
      for (const [hex, id] of records) if (!have.has(hex)) problems.push(`${bucket} lacks record ${hex} of ${id}, which its reverse record names`);
    }

    // The ident string a query's MGET checks: the meta's identity.
    const ident = await redis.get(`${tag}:ident`);
    if (ident !== null && meta.fingerprint !== undefined) {
      const want = `${meta.fingerprint}\n${meta.epoch ?? ''}\n${meta.idType ?? ''}`;
      if (ident !== want) problems.push(`${tag}:ident is ${JSON.stringify(ident)}, the meta says ${JSON.stringify(want)}`);
    }
    if (ident === null && held.size > 0) problems.push(`${tag} holds buckets but no ident string`);
  }
  let count = 0;
  for (const meta of keys.filter((k) => kindOf(k) === 'meta')) count += Number((await redis.hget(meta, 'ids')) ?? 0);
  if (count !== reverseIds) problems.push(`meta counts ${count} ids, reverse records hold ${reverseIds}`);
  // A badly broken index has a problem per record: the first few say enough.
  return problems.length > MAX_PROBLEMS ? [...problems.slice(0, MAX_PROBLEMS), `... and ${problems.length - MAX_PROBLEMS} more`] : problems;
}

/**
 * A digest of every bucket's records (its string's and its overflow's, each sorted), every reverse
 * page's and every o-map page's fields, keyed without the prefix: two indexes with equal digests
 * hold the same content. Lighter than indexContent for big ones. The meta and the ident string
 * (each index's own epoch) are left out.
 */
export async function contentDigests(redis: RedisClient, prefix: string): Promise<Map<string, string>> {
  const digests = new Map<string, string>();
  const keys = (await keysOf(redis, prefix)).filter((key) => kindOf(key) !== 'meta' && kindOf(key) !== 'ident');
  const sizes = new Map<string, number | undefined>();
  for (const tag of new Set(keys.map(tagOf))) sizes.set(tag, await recordSizeFromMeta(redis, tag, prefix));
  const digest = async (key: string) => {
    const hash = createHash('sha1');
    const kind = kindOf(key);
    if (kind === 'b') {
      for (const record of await sortedRecords(redis, key, sizes.get(tagOf(key)))) hash.update(`${record}\n`);
    } else if (kind === 'x') {
      const records = (await redis.lrangeBuffer(key, 0, -1)).map((record) => record.toString('hex')).sort();
      for (const record of records) hash.update(`${record}\n`);
    } else {
      const records = await redis.hgetallBuffer(key);
      for (const field of Object.keys(records).sort()) hash.update(`${field}=${records[field].toString('hex')}\n`);
    }
    digests.set(withoutPrefix(key), hash.digest('hex'));
  };
  // A few hundred reads in flight at a time, not one round trip after another.
  for (let i = 0; i < keys.length; i += 500) await Promise.all(keys.slice(i, i + 500).map(digest));
  return new Map([...digests].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
