/*
 * Redis users limited to the index's keys, as the README's "Redis rights" gives them: one denied
 * @dangerous (INFO among them), one allowed only the commands lshrs and ioredis send. The API and
 * the command line both work as either, and print nothing.
 */
import { Redis } from 'ioredis';
import type pg from 'pg';
import { LSHRS, PostgresVectorStore } from '../../src';
import { float32ToLE } from '../../src/float32';
import { gaussianStream } from '../../src/hashing/gaussian';
import { lshrs } from '../support/cli';
import { newRedis, redisUrl, uniqueName, useConnections } from '../support/servers';

const DIM = 16;
const next = gaussianStream('acl');
const vectors = Array.from({ length: 60 }, () => Float32Array.from({ length: DIM }, next));

let redis: Redis;
let pool: pg.Pool;
useConnections((c) => ({ redis, pool } = c));

/** The README's two users, by their command rules. */
const USERS = {
  'all but @dangerous': ['+@all', '-@dangerous'],
  'the listed commands': (
    '-@all +hello +auth +ping +evalsha +eval +hgetall +hmget +hget +hset +hdel +hexists +hincrby +hlen +exists ' +
    '+mget +get +set +strlen +append +del +lpop +rpush +lrem +lpos +llen +lrange +scan +memory|usage +unlink'
  ).split(' '),
} as const;
type UserKind = keyof typeof USERS;

const run = uniqueName('acl');
const userName = (kind: UserKind) => `${run}_${kind === 'all but @dangerous' ? 'broad' : 'narrow'}`;
/** Each test's own index prefix, under the users' key patterns: `{prefix}*` and `{prefix#*`. */
const prefixes = { cli1: `${run}_cli1`, cli4: `${run}_cli4`, narrow: `${run}_narrow`, api: `${run}_api` };

/** The test Redis' URL with a limited user's credentials. */
function limitedUrl(kind: UserKind): string {
  const url = new URL(redisUrl());
  url.username = userName(kind);
  url.password = 'secret';
  return url.toString();
}

/** A table of the 60 rows, for one command-line case. */
async function filledTable(): Promise<string> {
  const table = uniqueName('acl_table');
  await PostgresVectorStore.createTable(pool, { table });
  await pool.query(`INSERT INTO "${table}" (id, embedding, text) SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::text[])`, [
    vectors.map((_, i) => i + 1),
    vectors.map((v) => float32ToLE(v)),
    vectors.map((_, i) => `row ${i + 1}`),
  ]);
  return table;
}

beforeAll(async () => {
  const patterns = Object.values(prefixes).flatMap((p) => [`~{${p}}*`, `~{${p}#*`]);
  for (const [kind, rules] of Object.entries(USERS)) {
    await redis.call('ACL', 'SETUSER', userName(kind as UserKind), 'on', '>secret', ...patterns, ...rules);
  }
});

afterAll(async () => {
  const admin = newRedis(); // the file's own connection may be closed by now
  try {
    for (const kind of Object.keys(USERS)) await admin.call('ACL', 'DELUSER', userName(kind as UserKind));
  } finally {
    admin.disconnect();
  }
});

test('the users are refused INFO and keys outside the index', async () => {
  for (const kind of Object.keys(USERS) as UserKind[]) {
    const limited = new Redis(limitedUrl(kind), { maxRetriesPerRequest: 1, enableReadyCheck: false });
    try {
      await expect(limited.info()).rejects.toThrow(/NOPERM/);
      await expect(limited.hget('elsewhere', 'x')).rejects.toThrow(/NOPERM/);
    } finally {
      limited.disconnect();
    }
  }
});

test.each([
  ['all but @dangerous', 1, prefixes.cli1],
  ['all but @dangerous', 4, prefixes.cli4],
  ['the listed commands', 1, prefixes.narrow],
] as const)(
  'the command line as the user allowed %s: index, query, similar, stats, inspect, verify, delete (shards: %i)',
  async (kind, shards, prefix) => {
    const table = await filledTable();
    const common = ['--redis', limitedUrl(kind), '--prefix', prefix, '--table', table, '--json'];
    const json = (args: string[]) => {
      const result = lshrs([...common, ...args]);
      expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
      return JSON.parse(result.stdout);
    };
    expect(json(['index', '--shards', String(shards)])).toMatchObject({ added: 60 });
    expect(json(['query', '--id', '7', '--top-k', '1'])[0]).toMatchObject({ id: 7, text: 'row 7' });
    expect(json(['similar', '7', '--top-k', '3']).map((h: { id: number }) => h.id)).not.toContain(7);
    const stats = json(['stats']);
    expect(stats).toMatchObject({ ids: 60, shards });
    expect(stats.redisBytes).toBeGreaterThan(0); // MEMORY USAGE, per key
    expect(json(['inspect', '7']).buckets).toHaveLength(stats.bands);
    expect(json(['verify'])).toMatchObject({ consistent: true, ids: 60 });
    expect(json(['verify', '--repair'])).toMatchObject({ consistent: true });
    expect(json(['delete', '7', '8'])).toEqual({ removed: 2, unknown: 0 });
    expect(json(['verify'])).toMatchObject({ consistent: true, ids: 58, missingFromStore: [] });
  },
);

test('the API as either user, from a URL and from a client the host holds, prints nothing', async () => {
  // The host's own client: its ready check would warn of the refused INFO unless told not to run.
  const held = new Redis(limitedUrl('the listed commands'), { maxRetriesPerRequest: 1, enableReadyCheck: false });
  const printed: unknown[] = [];
  const warn = jest.spyOn(console, 'warn').mockImplementation((...args) => void printed.push(args));
  const error = jest.spyOn(console, 'error').mockImplementation((...args) => void printed.push(args));
  try {
    for (const client of [limitedUrl('all but @dangerous'), limitedUrl('the listed commands'), held]) {
      const store = new PostgresVectorStore({ pool, table: uniqueName('acl_api') });
      await store.createTableIfMissing();
      const lsh = new LSHRS({ redis: client, dim: DIM, prefix: prefixes.api, store });
      await lsh.index(vectors.map((vector, id) => ({ id, vector })));
      expect((await lsh.query(vectors[3], { topK: 1 }))[0]).toMatchObject({ id: 3 });
      expect((await lsh.similar(3, { topK: 2 })).map((h) => h.id)).not.toContain(3);
      expect(await lsh.stats()).toMatchObject({ ids: 60 });
      expect(await lsh.inspect(3)).not.toBeNull();
      expect(await lsh.verify({ repair: true })).toMatchObject({ consistent: true });
      expect(await lsh.delete([3, 4])).toEqual({ removed: 2, unknown: 0 });
      expect(await lsh.clear()).toBeGreaterThan(0);
      await lsh.close();
    }
    // The ready check's refused INFO, on the connections lshrs opened, printed nothing.
    expect(printed).toEqual([]);
  } finally {
    warn.mockRestore();
    error.mockRestore();
    held.disconnect();
  }
});
