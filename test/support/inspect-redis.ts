import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { unpackSignature } from '../../src/hashing/signatures';
import { dataNodes, type RedisClient } from '../../src/redis/connection';

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

/** A comparable picture of everything the index holds in Redis. */
export async function snapshot(redis: RedisClient, prefix: string): Promise<Record<string, unknown>> {
  const picture: Record<string, unknown> = {};
  for (const key of await keysOf(redis, prefix)) {
    const type = await redis.type(key);
    if (type === 'set') picture[key] = (await redis.smembers(key)).sort();
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

/** Keys of the index that still name `id`: as a set member or as a hash field. */
export async function keysHolding(redis: RedisClient, prefix: string, id: string): Promise<string[]> {
  const holding: string[] = [];
  for (const key of await keysOf(redis, prefix)) {
    const type = await redis.type(key);
    if (type === 'set' && (await redis.sismember(key, id))) holding.push(key);
    if (type === 'hash' && !key.endsWith(':meta') && (await redis.hexists(key, id))) holding.push(key);
  }
  return holding;
}

/** Bucket and reverse-record content of an index with the prefix taken out, to compare two indexes. */
export async function indexContent(redis: RedisClient, prefix: string): Promise<Record<string, unknown>> {
  const picture = await snapshot(redis, prefix);
  return Object.fromEntries(
    Object.entries(picture)
      .filter(([key]) => !key.endsWith(':meta'))
      .map(([key, value]) => [withoutPrefix(key), value]),
  );
}

/**
 * Checks that reverse records and bucket sets describe the same membership (within each shard),
 * and that the metas' id counts add up; returns the problems found (none for a consistent index).
 */
export async function consistencyProblems(redis: RedisClient, prefix: string, bands: number, rows: number): Promise<string[]> {
  const problems: string[] = [];
  const expected = new Map<string, Set<string>>();
  let reverseIds = 0;
  const keys = await keysOf(redis, prefix);
  for (const key of keys.filter((k) => k.slice(tagOf(k).length).startsWith(':r:'))) {
    const tag = tagOf(key);
    for (const [id, sig] of Object.entries(await redis.hgetallBuffer(key))) {
      reverseIds++;
      if (sig.length !== bands * Math.ceil(rows / 8)) problems.push(`${key} ${id}: signature of ${sig.length} bytes`);
      unpackSignature(sig, bands, rows).forEach((value, band) => {
        const bucket = `${tag}:b:${band}:${value}`;
        const members = expected.get(bucket) ?? new Set<string>();
        members.add(id);
        expected.set(bucket, members);
      });
    }
  }
  const buckets = keys.filter((k) => k.slice(tagOf(k).length).startsWith(':b:'));
  for (const key of buckets) {
    const members = new Set(await redis.smembers(key));
    const want = expected.get(key) ?? new Set<string>();
    for (const id of members) if (!want.has(id)) problems.push(`${key} holds ${id}, which its reverse record does not name`);
    for (const id of want) if (!members.has(id)) problems.push(`${key} lacks ${id}, which its reverse record names`);
  }
  for (const key of expected.keys()) if (!buckets.includes(key)) problems.push(`bucket ${key} is missing`);
  let count = 0;
  for (const meta of keys.filter((k) => k.endsWith(':meta'))) count += Number((await redis.hget(meta, 'ids')) ?? 0);
  if (count !== reverseIds) problems.push(`meta counts ${count} ids, reverse records hold ${reverseIds}`);
  return problems;
}

/**
 * A digest of every bucket's members and every reverse page's records, keyed without the prefix:
 * two indexes with equal digests hold the same membership. Lighter than indexContent for big ones.
 */
export async function contentDigests(redis: RedisClient, prefix: string): Promise<Map<string, string>> {
  const digests = new Map<string, string>();
  const keys = (await keysOf(redis, prefix)).filter((key) => !key.endsWith(':meta'));
  const digest = async (key: string) => {
    const hash = createHash('sha1');
    if (withoutPrefix(key).includes(':b:')) {
      for (const member of (await redis.smembers(key)).sort()) hash.update(`${member}\n`);
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
