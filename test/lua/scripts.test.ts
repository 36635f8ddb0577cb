/*
 * Each script of lua/ called directly against a real Redis, in the contract of lua/common.lua:
 * KEYS[1] the meta hash, ARGV[1] the key base, ARGV[2] the fingerprint, ARGV[3] the caller's view
 * ("<epoch>:<seq>" or ""), then the script's own. The layout (schema 3): a bucket is a string of
 * packed records (a 4-byte big-endian ordinal, then the sketch), at most `cap` of them, the rest in
 * its overflow list; a reverse record is ordinal, band values and sketch; the o-map pages map
 * counted ordinals to ids (an integer id below 2^31 is its own ordinal, with no entry).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { SCRIPT_ERRORS } from '../../src/errors';
import { pageOf } from '../../src/ids';
import { LUA_SOURCES } from '../../src/redis/lua-sources.generated';
import { runScript } from '../../src/redis/scripts';
import { consistencyProblems, keysHolding, snapshot } from '../support/inspect-redis';
import { newRedis, uniqueName } from '../support/servers';

let redis: Redis;
beforeAll(() => {
  redis = newRedis();
});
afterAll(async () => {
  await redis.quit();
});

const FP = 'fp-1';
const BANDS = 2;
const WIDTH = 1; // one byte per band value (rows 8)
const ROWS = 8;
const SKETCH = 4; // bytes of a sketch
const SIZE = 4 + SKETCH; // bytes of a bucket record
const PAGES = 4;
const CAP = 4096;

type Sketch = [number, number, number, number];
const A: Sketch = [0xa1, 0xa2, 0xa3, 0xa4];
const B: Sketch = [0xb1, 0xb2, 0xb3, 0xb4];
const C: Sketch = [0xc1, 0xc2, 0xc3, 0xc4];

/** A signature as the client sends it: one byte per band value, then the sketch. */
const sig = (band0: number, band1: number, sketch: Sketch = A) => Buffer.from([band0, band1, ...sketch]);
/** The 4 big-endian bytes of an ordinal. */
const ord = (ordinal: number) => {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(ordinal);
  return bytes;
};
/** A bucket record: ordinal and sketch. */
const rec = (ordinal: number, sketch: Sketch) => Buffer.concat([ord(ordinal), Buffer.from(sketch)]);
/** A reverse record: ordinal, then the whole signature. */
const reverseRecord = (ordinal: number, signature: Buffer) => Buffer.concat([ord(ordinal), signature]);
/**
 * Most tests here write the string ids "1", "2", ...: they take counted ordinals (0, 1, ... in write
 * order) and o-map entries. Integer ids below 2^31 are their own ordinals (tested apart, below).
 */
/** The reverse page of the string id `${id}`, as the client computes it. */
const page = (id: number) => pageOf(String(id), PAGES);
/** An insert item of the string id `${id}`: id, page, signature. */
const item = (id: number, signature: Buffer): [string, number, Buffer] => [String(id), page(id), signature];
/** A remove item of the string id `${id}`: id, page. */
const gone = (id: number): [string, number] => [String(id), page(id)];

interface Tag {
  /** The prefix, as inspect-redis takes it: the key base is `{prefix}`. */
  prefix: string;
  base: string;
  meta: string;
  bucket(band: number, value: number): string;
  overflow(band: number, value: number): string;
  reverse(page: number): string;
  ordinals(page: number): string;
  ident: string;
}

/** A fresh key base and its key names (the schema of lua/common.lua). */
function tag(): Tag {
  const prefix = uniqueName('lua');
  const base = `{${prefix}}`;
  return {
    prefix,
    base,
    meta: `${base}:meta`,
    ident: `${base}:ident`,
    bucket: (band, value) => `${base}:b:${band}:${value}`,
    overflow: (band, value) => `${base}:x:${band}:${value}`,
    reverse: (p) => `${base}:r:${p}`,
    ordinals: (p) => `${base}:o:${p}`,
  };
}

type Reply = (number | string | null)[];

interface InsertOptions {
  fp?: string;
  idType?: string;
  setMeta?: string[];
  view?: string;
  epoch?: string;
  cap?: number;
}

const insert = (t: Tag, items: [string, number, Buffer][], options: InsertOptions = {}) =>
  runScript(
    redis,
    'insert',
    [t.meta],
    [
      t.base,
      options.fp ?? FP,
      options.view ?? '',
      options.idType ?? 'str',
      BANDS,
      WIDTH,
      SKETCH,
      options.cap ?? CAP,
      PAGES,
      options.epoch ?? 'e1',
      2,
      'dim',
      '4',
      'sketchBits',
      String(8 * SKETCH),
      (options.setMeta ?? []).length / 2,
      ...(options.setMeta ?? []),
      ...items.flat(),
    ],
  ) as Promise<Reply>;

const remove = (t: Tag, items: [string, number][], options: { idType?: string; view?: string; cap?: number; fp?: string } = {}) =>
  runScript(
    redis,
    'remove',
    [t.meta],
    [t.base, options.fp ?? FP, options.view ?? '', options.idType ?? 'str', BANDS, WIDTH, SKETCH, options.cap ?? CAP, PAGES, ...items.flat()],
  ) as Promise<Reply>;

const ids = (t: Tag, ordinals: number[], options: { fp?: string; view?: string } = {}) =>
  runScript(redis, 'ids', [t.meta], [t.base, options.fp ?? FP, options.view ?? '', PAGES, ...ordinals]) as Promise<Reply>;

const repair = (
  t: Tag,
  rejoin: [string, number][],
  stray: [number, number, Buffer][],
  options: { recount?: boolean; view?: string; cap?: number; fp?: string } = {},
) =>
  runScript(
    redis,
    'repair',
    [t.meta],
    [
      t.base,
      options.fp ?? FP,
      options.view ?? '',
      BANDS,
      WIDTH,
      SKETCH,
      options.cap ?? CAP,
      PAGES,
      options.recount ? 1 : 0,
      rejoin.length,
      ...rejoin.flat(),
      ...stray.flat(),
    ],
  ) as Promise<Reply>;

/** The records of a bucket string, split at record boundaries (empty for a missing key). */
async function recordsOf(key: string): Promise<Buffer[]> {
  const bytes = (await redis.getBuffer(key)) ?? Buffer.alloc(0);
  expect(bytes.length % SIZE).toBe(0);
  const records: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += SIZE) records.push(bytes.subarray(at, at + SIZE));
  return records;
}

const overflowOf = (key: string) => redis.lrangeBuffer(key, 0, -1);

/** Everything under the tag but the meta's write sequence, to show a call changed nothing else. */
async function content(t: Tag): Promise<Record<string, unknown>> {
  const picture = await snapshot(redis, t.prefix);
  const meta = { ...(picture[t.meta] as Record<string, string>) };
  delete meta.seq;
  return { ...picture, [t.meta]: meta };
}

describe('insert.lua', () => {
  test('creates the meta, the ident string, the ordinals, packed bucket records and reverse records', async () => {
    const t = tag();
    expect(await insert(t, [item(1, sig(3, 7, A)), item(2, sig(3, 8, B))])).toEqual([2, 0, 0, 1, 'e1', 1]);
    expect(await redis.hgetall(t.meta)).toEqual({
      fingerprint: FP,
      ids: '2',
      ordinals: '2',
      epoch: 'e1',
      dim: '4',
      sketchBits: '32',
      idType: 'str',
      seq: '1',
    });
    expect(await redis.get(t.ident)).toBe(`${FP}\ne1\nstr`);
    // Ordinals in write order; a bucket is its records back to back, nothing between them.
    expect(await redis.getBuffer(t.bucket(0, 3))).toEqual(Buffer.concat([rec(0, A), rec(1, B)]));
    expect(await redis.getBuffer(t.bucket(1, 7))).toEqual(rec(0, A));
    expect(await redis.getBuffer(t.bucket(1, 8))).toEqual(rec(1, B));
    expect(await redis.exists(t.overflow(0, 3))).toBe(0);
    expect(await redis.hgetBuffer(t.reverse(page(1)), '1')).toEqual(reverseRecord(0, sig(3, 7, A)));
    expect(await redis.hgetBuffer(t.reverse(page(2)), '2')).toEqual(reverseRecord(1, sig(3, 8, B)));
    expect(await redis.hgetall(t.ordinals(0))).toEqual({ '0': '1' });
    expect(await redis.hgetall(t.ordinals(1))).toEqual({ '1': '2' });
    expect(await consistencyProblems(redis, t.prefix, BANDS, ROWS)).toEqual([]);
  });

  test('ordinals count on across calls, each in the o-map page of its ordinal mod the pages', async () => {
    const t = tag();
    await insert(t, [item(10, sig(1, 1)), item(11, sig(1, 1)), item(12, sig(1, 1))]);
    expect(await insert(t, [item(13, sig(1, 1)), item(14, sig(1, 1))])).toEqual([2, 0, 0, 0, 'e1', 2]);
    expect(await redis.hget(t.meta, 'ordinals')).toBe('5');
    expect(await redis.hgetall(t.ordinals(0))).toEqual({ '0': '10', '4': '14' });
    expect(await redis.hgetall(t.ordinals(3))).toEqual({ '3': '13' });
    expect(await redis.getBuffer(t.bucket(0, 1))).toEqual(Buffer.concat([0, 1, 2, 3, 4].map((o) => rec(o, A))));
  });

  test('string ids: the id type is written to the meta and the ident string', async () => {
    const t = tag();
    expect(await insert(t, [['doc-1', pageOf('doc-1', PAGES), sig(3, 7)]], { idType: 'str' })).toEqual([1, 0, 0, 1, 'e1', 1]);
    expect(await redis.get(t.ident)).toBe(`${FP}\ne1\nstr`);
    expect(await redis.hgetBuffer(t.reverse(pageOf('doc-1', PAGES)), 'doc-1')).toEqual(reverseRecord(0, sig(3, 7)));
    await expect(insert(t, [[String(2), 2, sig(3, 7)]], { idType: 'int' })).rejects.toThrow('LSHRS_IDTYPE str');
  });

  test('a meta without an epoch or id type gets both, and the ident string, from the first insert', async () => {
    const t = tag();
    await redis.hset(t.meta, 'fingerprint', FP, 'ids', '0');
    expect(await insert(t, [item(1, sig(3, 7))], { epoch: 'e9' })).toEqual([1, 0, 0, 0, 'e9', 1]);
    expect(await redis.hmget(t.meta, 'epoch', 'idType')).toEqual(['e9', 'str']);
    expect(await redis.get(t.ident)).toBe(`${FP}\ne9\nstr`);
  });

  test('an unchanged id is left alone', async () => {
    const t = tag();
    await insert(t, [item(1, sig(3, 7)), item(2, sig(3, 8, B))]);
    const before = await content(t);
    expect(await insert(t, [item(1, sig(3, 7))])).toEqual([0, 0, 1, 0, 'e1', 2]);
    expect(await content(t)).toEqual(before);
  });

  test('an id upserted with the same band values and a new sketch has one record in each bucket, with the new sketch', async () => {
    const t = tag();
    await insert(t, [item(1, sig(3, 7, A)), item(2, sig(3, 8, B))]);
    expect(await insert(t, [item(1, sig(3, 7, C))])).toEqual([0, 1, 0, 0, 'e1', 2]);
    // Its old record left, its new one (same ordinal) was appended.
    expect(await redis.getBuffer(t.bucket(0, 3))).toEqual(Buffer.concat([rec(1, B), rec(0, C)]));
    expect(await redis.getBuffer(t.bucket(1, 7))).toEqual(rec(0, C));
    expect(await redis.hgetBuffer(t.reverse(page(1)), '1')).toEqual(reverseRecord(0, sig(3, 7, C)));
    expect(await redis.hmget(t.meta, 'ids', 'ordinals')).toEqual(['2', '2']);
    expect(await redis.hgetall(t.ordinals(0))).toEqual({ '0': '1' });
    expect(await consistencyProblems(redis, t.prefix, BANDS, ROWS)).toEqual([]);
  });

  test('an id moved to other buckets keeps its ordinal and leaves only the buckets it no longer names', async () => {
    const t = tag();
    await insert(t, [item(1, sig(3, 7, A)), item(2, sig(3, 8, B))]);
    expect(await insert(t, [item(1, sig(3, 9, A))], { epoch: 'not used: the meta has one' })).toEqual([0, 1, 0, 0, 'e1', 2]);
    expect(await redis.exists(t.bucket(1, 7))).toBe(0);
    expect(await redis.getBuffer(t.bucket(1, 9))).toEqual(rec(0, A));
    // The bucket it still names is untouched: its record stays first.
    expect(await redis.getBuffer(t.bucket(0, 3))).toEqual(Buffer.concat([rec(0, A), rec(1, B)]));
    expect(await redis.hgetBuffer(t.reverse(page(1)), '1')).toEqual(reverseRecord(0, sig(3, 9, A)));
    expect(await redis.hmget(t.meta, 'ids', 'ordinals')).toEqual(['2', '2']);
    expect(await consistencyProblems(redis, t.prefix, BANDS, ROWS)).toEqual([]);
  });

  test('sets the batch meta pairs in the same call', async () => {
    const t = tag();
    await insert(t, [item(5, sig(1, 1))], { setMeta: ['buildCursor', '5', 'buildState', 'running'] });
    expect(await redis.hmget(t.meta, 'buildCursor', 'buildState')).toEqual(['5', 'running']);
    await insert(t, [item(6, sig(1, 1))], { setMeta: ['buildCursor', '6'] });
    expect(await redis.hmget(t.meta, 'buildCursor', 'buildState')).toEqual(['6', 'running']);
  });

  test('refuses another fingerprint and another id type with its error replies, writing nothing (not even the batch meta pairs)', async () => {
    const t = tag();
    await insert(t, [item(1, sig(3, 7))]);
    const before = await snapshot(redis, t.prefix);
    await expect(insert(t, [item(2, sig(3, 7))], { fp: 'other', setMeta: ['buildCursor', '2'] })).rejects.toThrow(`LSHRS_PARAMS ${FP}`);
    await expect(insert(t, [['2', 2, sig(3, 7)]], { idType: 'int', setMeta: ['buildCursor', '2'] })).rejects.toThrow('LSHRS_IDTYPE str');
    expect(await snapshot(redis, t.prefix)).toEqual(before);
  });
});

describe('remove.lua', () => {
  test('removes ids through their reverse records and o-map entries, and counts unknown ones', async () => {
    const t = tag();
    await insert(t, [item(1, sig(3, 7, A)), item(2, sig(3, 8, B))]);
    expect(await remove(t, [gone(1), gone(9)])).toEqual([1, 1, 'e1', 2, 0]);
    expect(await redis.getBuffer(t.bucket(0, 3))).toEqual(rec(1, B));
    expect(await redis.exists(t.bucket(1, 7))).toBe(0); // its last record left: the key is gone
    expect(await redis.hexists(t.reverse(page(1)), '1')).toBe(0);
    expect(await redis.hexists(t.ordinals(0), '0')).toBe(0);
    expect(await redis.hget(t.meta, 'ids')).toBe('1');
    expect(await redis.hget(t.meta, 'ordinals')).toBe('2'); // ordinals are never reused
    expect(await keysHolding(redis, t.prefix, '1')).toEqual([]);
    expect(await consistencyProblems(redis, t.prefix, BANDS, ROWS)).toEqual([]);
    await expect(remove(t, [gone(2)], { idType: 'int' })).rejects.toThrow('LSHRS_IDTYPE str');
    await expect(remove(t, [gone(2)], { fp: 'other' })).rejects.toThrow(`LSHRS_PARAMS ${FP}`);
    expect(await remove(t, [gone(2)])).toEqual([1, 0, 'e1', 3, 0]);
    expect(await redis.exists(t.bucket(0, 3), t.bucket(1, 8), t.reverse(page(2)), t.ordinals(1))).toBe(0);
  });

  test("an ordinal's bytes inside another record's sketch are not taken for that ordinal's record", async () => {
    const t = tag();
    // Ordinal 2 is 00 00 00 02; the sketches of ordinals 0 and 1 hold those bytes too.
    const holdsTwo: Sketch = [0, 0, 0, 2];
    await insert(t, [item(1, sig(3, 7, holdsTwo)), item(2, sig(3, 8, holdsTwo)), item(3, sig(3, 9, B))]);
    expect(await remove(t, [gone(3)])).toEqual([1, 0, 'e1', 2, 0]);
    expect(await redis.getBuffer(t.bucket(0, 3))).toEqual(Buffer.concat([rec(0, holdsTwo), rec(1, holdsTwo)]));
    expect(await consistencyProblems(redis, t.prefix, BANDS, ROWS)).toEqual([]);
  });

  test('a record missing from its bucket is not found inside another record: the bucket is left alone, the id counted damaged', async () => {
    const t = tag();
    const holdsOne: Sketch = [0, 0, 0, 1];
    await insert(t, [item(1, sig(3, 7, holdsOne)), item(2, sig(3, 8, B))]);
    await redis.set(t.bucket(0, 3), rec(0, holdsOne)); // id 2's record lost behind the script's back
    expect(await remove(t, [gone(2)])).toEqual([1, 0, 'e1', 2, 1]);
    expect(await redis.getBuffer(t.bucket(0, 3))).toEqual(rec(0, holdsOne));
  });

  test('damaged counts an id once, however many of its buckets were deleted behind its back', async () => {
    const t = tag();
    await insert(t, [item(1, sig(3, 7, A)), item(2, sig(3, 8, B))]);
    await redis.del(t.bucket(1, 7), t.bucket(0, 3)); // evicted buckets: both of id 1's
    expect(await remove(t, [gone(1)])).toEqual([1, 0, 'e1', 2, 1]);
    expect(await redis.getBuffer(t.bucket(1, 8))).toEqual(rec(1, B));
    expect(await redis.exists(t.bucket(0, 3))).toBe(0);
    expect(await redis.hget(t.meta, 'ids')).toBe('1');
  });

  test('on a tag without a meta, counts every id unknown and writes nothing', async () => {
    const t = tag();
    expect(await remove(t, [gone(1)])).toEqual([0, 1, '', 0, 0]);
    expect(await snapshot(redis, t.prefix)).toEqual({});
  });
});

describe('the bucket cap', () => {
  const CAP2 = 2;
  // Ids 1..5 in one bucket per band; ordinal i - 1, a sketch of their own.
  const sketches: Sketch[] = [1, 2, 3, 4, 5].map((i) => [i, i, i, i]);
  const five = sketches.map((sketch, i) => item(i + 1, sig(3, 7, sketch)));
  const r = (ordinal: number) => rec(ordinal, sketches[ordinal]);

  /** Inserts ids 1..n (at most 5) in calls of these sizes. */
  async function fill(t: Tag, ...calls: number[]) {
    let from = 0;
    for (const n of calls) {
      await insert(t, five.slice(from, from + n), { cap: CAP2 });
      from += n;
    }
  }

  test.each([
    ['in one call', [5]],
    ['over two calls', [3, 2]],
    ['one by one', [1, 1, 1, 1, 1]],
  ])('the first cap records fill the bucket string, the rest go to its overflow list in order (%s)', async (_how, calls) => {
    const t = tag();
    await fill(t, ...calls);
    for (const band of [0, 1]) {
      const value = band === 0 ? 3 : 7;
      expect(await redis.getBuffer(t.bucket(band, value))).toEqual(Buffer.concat([r(0), r(1)]));
      expect(await overflowOf(t.overflow(band, value))).toEqual([r(2), r(3), r(4)]);
    }
    expect(await consistencyProblems(redis, t.prefix, BANDS, ROWS)).toEqual([]);
  });

  test('removing a record from the bucket string refills it from the head of the overflow', async () => {
    const t = tag();
    await fill(t, 5);
    expect(await remove(t, [gone(1)], { cap: CAP2 })).toEqual([1, 0, 'e1', 2, 0]);
    expect(await redis.getBuffer(t.bucket(0, 3))).toEqual(Buffer.concat([r(1), r(2)]));
    expect(await overflowOf(t.overflow(0, 3))).toEqual([r(3), r(4)]);
    expect(await consistencyProblems(redis, t.prefix, BANDS, ROWS)).toEqual([]);
  });

  test('removing a record that sits in the overflow takes it out of the list, the string unchanged', async () => {
    const t = tag();
    await fill(t, 5);
    expect(await remove(t, [gone(4)], { cap: CAP2 })).toEqual([1, 0, 'e1', 2, 0]);
    expect(await redis.getBuffer(t.bucket(0, 3))).toEqual(Buffer.concat([r(0), r(1)]));
    expect(await overflowOf(t.overflow(0, 3))).toEqual([r(2), r(4)]);
    expect(await keysHolding(redis, t.prefix, '4')).toEqual([]);
    expect(await consistencyProblems(redis, t.prefix, BANDS, ROWS)).toEqual([]);
  });

  test('an overflow drained by refills is deleted; the bucket key goes with its last record', async () => {
    const t = tag();
    await fill(t, 3);
    expect(await remove(t, [gone(1)], { cap: CAP2 })).toEqual([1, 0, 'e1', 2, 0]);
    expect(await redis.getBuffer(t.bucket(0, 3))).toEqual(Buffer.concat([r(1), r(2)]));
    expect(await redis.exists(t.overflow(0, 3))).toBe(0);
    expect(await remove(t, [gone(2), gone(3)], { cap: CAP2 })).toEqual([2, 0, 'e1', 3, 0]);
    expect(await redis.exists(t.bucket(0, 3), t.bucket(1, 7), t.overflow(0, 3), t.overflow(1, 7))).toBe(0);
  });

  test('removing several records in one call refills as many from the overflow', async () => {
    const t = tag();
    await fill(t, 5);
    expect(await remove(t, [gone(1), gone(2)], { cap: CAP2 })).toEqual([2, 0, 'e1', 2, 0]);
    expect(await redis.getBuffer(t.bucket(0, 3))).toEqual(Buffer.concat([r(2), r(3)]));
    expect(await overflowOf(t.overflow(0, 3))).toEqual([r(4)]);
    expect(await consistencyProblems(redis, t.prefix, BANDS, ROWS)).toEqual([]);
  });

  test('an id in the overflow upserted with a new sketch has one record, with the new sketch, in the overflow', async () => {
    const t = tag();
    await fill(t, 5);
    expect(await insert(t, [item(4, sig(3, 7, C))], { cap: CAP2 })).toEqual([0, 1, 0, 0, 'e1', 2]);
    expect(await redis.getBuffer(t.bucket(0, 3))).toEqual(Buffer.concat([r(0), r(1)]));
    expect(await overflowOf(t.overflow(0, 3))).toEqual([r(2), r(4), rec(3, C)]);
    expect(await consistencyProblems(redis, t.prefix, BANDS, ROWS)).toEqual([]);
  });
});

describe('direct ordinals: an integer id below 2^31 is its own ordinal', () => {
  const DIRECT_LIMIT = 2 ** 31;
  /** An insert item of an integer id. */
  const intItem = (id: number, signature: Buffer): [string, number, Buffer] => [String(id), pageOf(id, PAGES), signature];
  const intGone = (id: number): [string, number] => [String(id), pageOf(id, PAGES)];
  const big = DIRECT_LIMIT + 7;

  test('records carry the id itself, with no o-map entry; a larger id takes a counted ordinal from 2^31', async () => {
    const t = tag();
    expect(await insert(t, [intItem(5, sig(3, 7, A)), intItem(big, sig(3, 8, B)), intItem(3, sig(3, 7, C))], { idType: 'int' })).toEqual([
      3,
      0,
      0,
      1,
      'e1',
      1,
    ]);
    expect(await redis.getBuffer(t.bucket(0, 3))).toEqual(Buffer.concat([rec(5, A), rec(DIRECT_LIMIT, B), rec(3, C)]));
    expect(await redis.hgetBuffer(t.reverse(pageOf(5, PAGES)), '5')).toEqual(reverseRecord(5, sig(3, 7, A)));
    expect(await redis.hgetBuffer(t.reverse(pageOf(big, PAGES)), String(big))).toEqual(reverseRecord(DIRECT_LIMIT, sig(3, 8, B)));
    expect(await redis.hmget(t.meta, 'ids', 'ordinals')).toEqual(['3', String(DIRECT_LIMIT + 1)]);
    // The one o-map entry is the counted ordinal's, in the page of that ordinal.
    const entries: Record<string, string> = {};
    for (let p = 0; p < PAGES; p++) Object.assign(entries, await redis.hgetall(t.ordinals(p)));
    expect(entries).toEqual({ [String(DIRECT_LIMIT)]: String(big) });
    expect(await consistencyProblems(redis, t.prefix, BANDS, ROWS)).toEqual([]);
  });

  test('ids.lua gives a direct ordinal back as its id, a counted one through its entry', async () => {
    const t = tag();
    await insert(t, [intItem(5, sig(3, 7)), intItem(big, sig(3, 8))], { idType: 'int' });
    expect(await ids(t, [5, DIRECT_LIMIT, DIRECT_LIMIT + 1])).toEqual(['int', 'e1', 1, '5', String(big), null]);
  });

  test('remove and upsert keep the records and the o-map exact', async () => {
    const t = tag();
    await insert(t, [intItem(5, sig(3, 7, A)), intItem(big, sig(3, 8, B)), intItem(6, sig(3, 8, C))], { idType: 'int' });
    expect(await insert(t, [intItem(6, sig(3, 9, C))], { idType: 'int' })).toEqual([0, 1, 0, 0, 'e1', 2]);
    expect(await redis.getBuffer(t.bucket(1, 9))).toEqual(rec(6, C));
    expect(await remove(t, [intGone(5), intGone(big)], { idType: 'int' })).toEqual([2, 0, 'e1', 3, 0]);
    expect(await redis.getBuffer(t.bucket(0, 3))).toEqual(rec(6, C));
    for (let p = 0; p < PAGES; p++) expect(await redis.exists(t.ordinals(p))).toBe(0);
    expect(await redis.hget(t.meta, 'ids')).toBe('1');
    expect(await consistencyProblems(redis, t.prefix, BANDS, ROWS)).toEqual([]);
  });

  test('repair keeps a direct record whose id names it and removes one whose id has no reverse record', async () => {
    const t = tag();
    await insert(t, [intItem(5, sig(3, 7, A))], { idType: 'int' });
    await redis.append(t.bucket(0, 3), rec(9, B));
    expect(
      (
        await repair(
          t,
          [],
          [
            [0, 3, rec(5, A)],
            [0, 3, rec(9, B)],
          ],
        )
      ).slice(0, 2),
    ).toEqual([0, 1]);
    expect(await redis.getBuffer(t.bucket(0, 3))).toEqual(rec(5, A));
    expect(await consistencyProblems(redis, t.prefix, BANDS, ROWS)).toEqual([]);
  });
});

describe('ids.lua', () => {
  test('maps ordinals to ids, false (null) for an ordinal removed or never given, with the id type and the view', async () => {
    const t = tag();
    await insert(t, [item(1, sig(3, 7)), item(2, sig(3, 8)), item(3, sig(3, 9))]);
    await remove(t, [gone(2)]);
    expect(await ids(t, [0, 1, 2, 7])).toEqual(['str', 'e1', 2, '1', null, '3', null]);
    expect(await ids(t, [2, 0], { view: 'e1:2' })).toEqual(['str', 'e1', 2, '3', '1']);
  });

  test('on a tag without a meta: an empty id type and view, null for every ordinal', async () => {
    expect(await ids(tag(), [0])).toEqual(['', '', 0, null]);
  });

  test('refuses another fingerprint (LSHRS_PARAMS) and a view it no longer matches (LSHRS_LOST)', async () => {
    const t = tag();
    await insert(t, [item(1, sig(3, 7))]);
    await expect(ids(t, [0], { fp: 'other' })).rejects.toThrow(`LSHRS_PARAMS ${FP}`);
    await expect(ids(t, [0], { view: 'e2:0' })).rejects.toThrow('LSHRS_LOST e1:1');
    await expect(ids(t, [0], { view: 'e1:2' })).rejects.toThrow('LSHRS_LOST e1:1');
  });

  test('writes nothing: Redis runs it as a read-only script (EVAL_RO), and it counts no write', async () => {
    const t = tag();
    await insert(t, [item(1, sig(3, 7))]);
    const reply = await redis.call('EVAL_RO', LUA_SOURCES.ids, 1, t.meta, t.base, FP, '', PAGES, 0);
    expect(reply).toEqual(['str', 'e1', 1, '1']);
    expect(await redis.hget(t.meta, 'seq')).toBe('1');
  });
});

describe('repair.lua', () => {
  test('puts missing records back, removes stray ones (an ordinal without an id, a bucket the reverse record does not name), keeps legitimate ones, recounts', async () => {
    const t = tag();
    await insert(t, [item(1, sig(3, 7, A)), item(2, sig(3, 8, B))]);
    await redis.del(t.bucket(1, 7)); // id 1's record lost
    await redis.set(t.bucket(1, 9), Buffer.concat([rec(1, B), rec(9, C)])); // id 2 where it does not belong; ordinal 9 has no id
    await redis.hset(t.meta, 'ids', '40');
    expect(
      await repair(
        t,
        [gone(1), gone(2), gone(77)],
        [
          [1, 9, rec(1, B)],
          [1, 9, rec(9, C)],
          [1, 8, rec(1, B)], // where its reverse record says it belongs: kept
        ],
        { recount: true },
      ),
    ).toEqual([1, 2, 2, 'e1', 2]);
    expect(await redis.getBuffer(t.bucket(1, 7))).toEqual(rec(0, A));
    expect(await redis.exists(t.bucket(1, 9))).toBe(0);
    expect(await redis.getBuffer(t.bucket(1, 8))).toEqual(rec(1, B));
    expect(await redis.getBuffer(t.bucket(0, 3))).toEqual(Buffer.concat([rec(0, A), rec(1, B)]));
    expect(await redis.hget(t.meta, 'ids')).toBe('2');
    expect(await consistencyProblems(redis, t.prefix, BANDS, ROWS)).toEqual([]);
  });

  test('is idempotent: run again, it changes nothing and reports no record added or removed', async () => {
    const t = tag();
    await insert(t, [item(1, sig(3, 7, A)), item(2, sig(3, 8, B))]);
    await redis.del(t.bucket(1, 7));
    await redis.append(t.bucket(1, 8), rec(9, C));
    const rejoin = [gone(1)];
    const stray: [number, number, Buffer][] = [[1, 8, rec(9, C)]];
    expect(await repair(t, rejoin, stray)).toEqual([1, 1, -1, 'e1', 2]);
    const after = await content(t);
    const again = await repair(t, rejoin, stray);
    expect(await content(t)).toEqual(after);
    expect(await consistencyProblems(redis, t.prefix, BANDS, ROWS)).toEqual([]);
    // The stray it was given again is no longer there: nothing was removed.
    expect(again).toEqual([0, 0, -1, 'e1', 3]);
  });

  test('re-checks each stray: a record made legitimate by a write since the verify stays', async () => {
    const t = tag();
    await insert(t, [item(1, sig(3, 7, A)), item(2, sig(3, 8, B))]);
    await redis.append(t.bucket(1, 9), rec(1, B)); // a verify sees id 2 where it does not belong ...
    await insert(t, [item(2, sig(3, 9, B))]); // ... then id 2 moves there
    expect(await redis.getBuffer(t.bucket(1, 9))).toEqual(Buffer.concat([rec(1, B), rec(1, B)]));
    expect(await repair(t, [], [[1, 9, rec(1, B)]])).toEqual([0, 0, -1, 'e1', 3]);
    expect((await recordsOf(t.bucket(1, 9)))[0]).toEqual(rec(1, B));
  });

  test('a stray record is removed itself, not the legitimate record of the same ordinal before it', async () => {
    const t = tag();
    await insert(t, [item(1, sig(3, 7, A))]);
    await redis.append(t.bucket(1, 7), rec(0, C)); // a stale record of ordinal 0, after its current one
    const reply = await repair(t, [], [[1, 7, rec(0, C)]]);
    // The id's current record (same ordinal, its reverse record's sketch) stays; the stale one goes.
    expect(await redis.getBuffer(t.bucket(1, 7))).toEqual(rec(0, A));
    expect(reply).toEqual([0, 1, -1, 'e1', 2]);
    expect(await consistencyProblems(redis, t.prefix, BANDS, ROWS)).toEqual([]);
  });

  test("a stale record of an id's ordinal does not count as its record: the id is put back", async () => {
    const t = tag();
    await insert(t, [item(1, sig(3, 7, A))]);
    await redis.set(t.bucket(1, 7), rec(0, C)); // its record lost, a stale one of its ordinal in its place
    const reply = await repair(t, [gone(1)], [[1, 7, rec(0, C)]]);
    expect(await redis.getBuffer(t.bucket(1, 7))).toEqual(rec(0, A));
    expect(reply).toEqual([1, 1, -1, 'e1', 2]);
    expect(await consistencyProblems(redis, t.prefix, BANDS, ROWS)).toEqual([]);
  });

  test('a record in the overflow counts as held; a stray in the overflow is taken out of the list', async () => {
    const t = tag();
    await insert(t, [item(1, sig(3, 7, A)), item(2, sig(3, 7, B)), item(3, sig(3, 7, C))], { cap: 2 });
    await redis.rpush(t.overflow(0, 3), rec(9, C));
    expect(await repair(t, [gone(3)], [[0, 3, rec(9, C)]], { cap: 2 })).toEqual([0, 1, -1, 'e1', 2]);
    expect(await overflowOf(t.overflow(0, 3))).toEqual([rec(2, C)]);
    expect(await redis.getBuffer(t.bucket(0, 3))).toEqual(Buffer.concat([rec(0, A), rec(1, B)]));
  });

  test('a record put back goes to the overflow when its bucket string is full', async () => {
    const t = tag();
    await insert(t, [item(1, sig(3, 7, A)), item(2, sig(3, 7, B)), item(3, sig(3, 7, C))], { cap: 2 });
    await redis.del(t.overflow(0, 3));
    expect(await repair(t, [gone(3)], [], { cap: 2 })).toEqual([1, 0, -1, 'e1', 2]);
    expect(await overflowOf(t.overflow(0, 3))).toEqual([rec(2, C)]);
    expect(await consistencyProblems(redis, t.prefix, BANDS, ROWS)).toEqual([]);
  });

  test('refuses another fingerprint, writing nothing', async () => {
    const t = tag();
    await insert(t, [item(1, sig(3, 7))]);
    await redis.del(t.bucket(1, 7));
    const before = await snapshot(redis, t.prefix);
    await expect(repair(t, [gone(1)], [], { fp: 'other', recount: true })).rejects.toThrow(`LSHRS_PARAMS ${FP}`);
    expect(await snapshot(redis, t.prefix)).toEqual(before);
  });
});

describe("the caller's view (ARGV[3])", () => {
  test('every script refuses a meta that is gone or carries another epoch, and writes nothing', async () => {
    const t = tag();
    await insert(t, [item(1, sig(3, 7))]);
    await redis.del(t.meta); // a restart without persistence, an eviction, a clear elsewhere
    const before = await snapshot(redis, t.prefix);
    await expect(insert(t, [item(2, sig(3, 7))], { view: 'e1:0' })).rejects.toThrow('LSHRS_LOST :0');
    await expect(remove(t, [gone(1)], { view: 'e1:0' })).rejects.toThrow('LSHRS_LOST :0');
    await expect(ids(t, [0], { view: 'e1:0' })).rejects.toThrow('LSHRS_LOST :0');
    await expect(repair(t, [gone(1)], [], { view: 'e1:0', recount: true })).rejects.toThrow('LSHRS_LOST :0');
    expect(await snapshot(redis, t.prefix)).toEqual(before);
    // A handle that saw nothing creates it anew, with a new epoch in the meta and the ident string.
    expect(await insert(t, [item(2, sig(3, 7))], { epoch: 'e2' })).toEqual([1, 0, 0, 1, 'e2', 1]);
    expect(await redis.get(t.ident)).toBe(`${FP}\ne2\nstr`);
    await expect(insert(t, [item(3, sig(3, 7))], { view: 'e1:0' })).rejects.toThrow('LSHRS_LOST e2:1');
    await expect(remove(t, [gone(2)], { view: 'e1:0' })).rejects.toThrow('LSHRS_LOST e2:1');
    await expect(repair(t, [], [], { view: 'e1:0' })).rejects.toThrow('LSHRS_LOST e2:1');
  });

  test('a sequence behind the view is refused (a restored snapshot), seq 0 checks the epoch only', async () => {
    const t = tag();
    await insert(t, [item(1, sig(3, 7))]);
    await insert(t, [item(2, sig(3, 7))]);
    await expect(insert(t, [item(3, sig(3, 7))], { view: 'e1:5' })).rejects.toThrow('LSHRS_LOST e1:2');
    await expect(remove(t, [gone(1)], { view: 'e1:5' })).rejects.toThrow('LSHRS_LOST e1:2');
    expect(await insert(t, [item(3, sig(3, 7))], { view: 'e1:0' })).toEqual([1, 0, 0, 0, 'e1', 3]);
    expect(await insert(t, [item(4, sig(3, 7))], { view: 'e1:3' })).toEqual([1, 0, 0, 0, 'e1', 4]);
  });

  test('every write call counts one in the sequence, refused calls and id lookups none', async () => {
    const t = tag();
    expect((await insert(t, [item(1, sig(3, 7))])).slice(4)).toEqual(['e1', 1]);
    expect((await insert(t, [item(1, sig(3, 7))])).slice(4)).toEqual(['e1', 2]); // unchanged, still a write call
    expect((await remove(t, [gone(9)])).slice(2, 4)).toEqual(['e1', 3]);
    expect((await repair(t, [], [])).slice(3)).toEqual(['e1', 4]);
    await expect(insert(t, [item(2, sig(3, 7))], { fp: 'other' })).rejects.toThrow('LSHRS_PARAMS');
    await expect(remove(t, [gone(1)], { view: 'e1:9' })).rejects.toThrow('LSHRS_LOST');
    expect((await ids(t, [0])).slice(0, 3)).toEqual(['str', 'e1', 4]);
    expect(await redis.hget(t.meta, 'seq')).toBe('4');
  });
});

describe('the shared contract', () => {
  const files = readdirSync(join(__dirname, '..', '..', 'lua')).filter((f) => f.endsWith('.lua') && f !== 'common.lua');

  test('the scripts are insert, remove, ids and repair', () => {
    expect(files.sort()).toEqual(['ids.lua', 'insert.lua', 'remove.lua', 'repair.lua']);
    expect(Object.keys(LUA_SOURCES).sort()).toEqual(['ids', 'insert', 'remove', 'repair']);
  });

  test('every script opens with a header that names the shared KEYS/ARGV positions and its reply', () => {
    for (const file of files) {
      const text = readFileSync(join(__dirname, '..', '..', 'lua', file), 'utf8');
      expect(text.startsWith(`--[[\n${file}:`)).toBe(true);
      expect(text).toContain('KEYS[1], ARGV[1] (key base), ARGV[2] (fingerprint), ARGV[3] (view): as in common.lua');
      expect(text).toMatch(/\nReturns /);
      expect(text).toMatch(/\nErrors: "LSHRS_PARAMS", "LSHRS_LOST"/);
    }
  });

  test('every error reply a script can give has a code in the table of src/errors.ts', () => {
    const replies = new Set(Object.values(LUA_SOURCES).flatMap((lua) => [...lua.matchAll(/'(LSHRS_[A-Z]+) '/g)].map((m) => m[1])));
    expect(replies.size).toBeGreaterThan(0);
    expect([...replies].sort()).toEqual(Object.keys(SCRIPT_ERRORS).sort());
  });
});
