/*
 * Each script of lua/ called directly against a real Redis, in the contract of lua/common.lua:
 * KEYS[1] the meta hash, ARGV[1] the key base, ARGV[2] the fingerprint, ARGV[3] the caller's view
 * ("<epoch>:<seq>" or ""), then the script's own.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { SCRIPT_ERRORS } from '../../src/errors';
import { LUA_SOURCES } from '../../src/redis/lua-sources.generated';
import { runScript } from '../../src/redis/scripts';
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
const WIDTH = 1; // one byte per band value
const sig = (...values: number[]) => Buffer.from(values);

/** A fresh key base and its meta key. */
function tag() {
  const base = `{${uniqueName('lua')}}`;
  return { base, meta: `${base}:meta` };
}

const insert = (
  t: ReturnType<typeof tag>,
  items: [string, number, Buffer][],
  options: { fp?: string; idType?: string; setMeta?: string[]; view?: string; epoch?: string } = {},
) =>
  runScript(
    redis,
    'insert',
    [t.meta],
    [
      t.base,
      options.fp ?? FP,
      options.view ?? '',
      options.idType ?? 'int',
      BANDS,
      WIDTH,
      options.epoch ?? 'e1',
      1,
      'dim',
      '4',
      (options.setMeta ?? []).length / 2,
      ...(options.setMeta ?? []),
      ...items.flat(),
    ],
  ) as Promise<(number | string)[]>;

const remove = (t: ReturnType<typeof tag>, items: [string, number][], idType = 'int', view = '') =>
  runScript(redis, 'remove', [t.meta], [t.base, FP, view, idType, BANDS, WIDTH, ...items.flat()]) as Promise<(number | string)[]>;

const query = (
  t: ReturnType<typeof tag>,
  buckets: string[],
  maxCandidates: number,
  rerankCandidates: number,
  signature: Buffer,
  fp = FP,
  view = '',
  budget = 1000,
) =>
  runScript(
    redis,
    'query',
    [t.meta, ...buckets.map((b) => `${t.base}${b}`)],
    [t.base, fp, view, maxCandidates, rerankCandidates, signature, 4, budget],
  ) as Promise<(string | number)[]>;

const repair = (t: ReturnType<typeof tag>, rejoin: [string, number][], stray: [number, number, string, number][], pages: number) =>
  runScript(redis, 'repair', [t.meta], [t.base, FP, '', BANDS, WIDTH, pages, rejoin.length, ...rejoin.flat(), ...stray.flat()]) as Promise<
    (number | string)[]
  >;

describe('insert.lua', () => {
  test('creates the meta with its fields, fills buckets and reverse records, and counts', async () => {
    const t = tag();
    expect(
      await insert(t, [
        ['1', 1, sig(3, 7)],
        ['2', 2, sig(3, 8)],
      ]),
    ).toEqual([2, 0, 0, 1, 'e1', 1]);
    expect(await redis.hgetall(t.meta)).toEqual({ fingerprint: FP, ids: '2', epoch: 'e1', dim: '4', idType: 'int', seq: '1' });
    expect((await redis.smembers(`${t.base}:b:0:3`)).sort()).toEqual(['1', '2']);
    expect(await redis.smembers(`${t.base}:b:1:8`)).toEqual(['2']);
    expect(await redis.hgetBuffer(`${t.base}:r:1`, '1')).toEqual(sig(3, 7));
  });

  test('an unchanged id is left alone, a moved one leaves only the buckets it no longer names', async () => {
    const t = tag();
    await insert(t, [['1', 1, sig(3, 7)]]);
    expect(await insert(t, [['1', 1, sig(3, 7)]])).toEqual([0, 0, 1, 0, 'e1', 2]);
    expect(await insert(t, [['1', 1, sig(3, 9)]], { epoch: 'not used: the meta has one' })).toEqual([0, 1, 0, 0, 'e1', 3]);
    expect(await redis.exists(`${t.base}:b:1:7`)).toBe(0);
    expect(await redis.smembers(`${t.base}:b:1:9`)).toEqual(['1']);
    expect(await redis.hget(t.meta, 'ids')).toBe('1');
  });

  test('sets the batch meta pairs in the same call', async () => {
    const t = tag();
    await insert(t, [['5', 1, sig(1, 1)]], { setMeta: ['buildCursor', '5', 'buildState', 'running'] });
    expect(await redis.hmget(t.meta, 'buildCursor', 'buildState')).toEqual(['5', 'running']);
  });

  test('refuses another fingerprint and another id type with its error replies, writing nothing', async () => {
    const t = tag();
    await insert(t, [['1', 1, sig(3, 7)]]);
    await expect(insert(t, [['2', 2, sig(3, 7)]], { fp: 'other' })).rejects.toThrow(`LSHRS_PARAMS ${FP}`);
    await expect(insert(t, [['x', 2, sig(3, 7)]], { idType: 'str' })).rejects.toThrow('LSHRS_IDTYPE int');
    expect(await redis.smembers(`${t.base}:b:0:3`)).toEqual(['1']);
  });
});

describe('remove.lua', () => {
  test('removes ids through their reverse records and counts unknown ones', async () => {
    const t = tag();
    await insert(t, [
      ['1', 1, sig(3, 7)],
      ['2', 2, sig(3, 8)],
    ]);
    expect(
      await remove(t, [
        ['1', 1],
        ['9', 1],
      ]),
    ).toEqual([1, 1, 'e1', 2, 0]);
    expect(await redis.smembers(`${t.base}:b:0:3`)).toEqual(['2']);
    expect(await redis.exists(`${t.base}:b:1:7`)).toBe(0);
    expect(await redis.hexists(`${t.base}:r:1`, '1')).toBe(0);
    expect(await redis.hget(t.meta, 'ids')).toBe('1');
    await expect(remove(t, [['2', 2]], 'str')).rejects.toThrow('LSHRS_IDTYPE int');
  });
});

describe('query.lua', () => {
  test('counts collisions over the probed buckets, then ranks by Hamming distance', async () => {
    const t = tag();
    await insert(t, [
      ['1', 1, sig(3, 7)],
      ['2', 2, sig(3, 8)],
      ['3', 3, sig(4, 8)],
    ]);
    // Stage 1 alone: id 2 shares both buckets, ids 1 and 3 one each (ties by id).
    expect(await query(t, [':b:0:3', ':b:1:8'], 10, 0, sig(3, 8))).toEqual(['int', 'e1', 1, 3, 4, 0, 0, '2', 2, -1, '1', 1, -1, '3', 1, -1]);
    // Stage 2: Hamming distance of whole signatures to (3, 8): 0, then 3 (=0b11 vs 0b100: 3 bits) and 1 (0b111 vs 0b1000: 4 bits).
    expect(await query(t, [':b:0:3', ':b:1:8'], 10, 2, sig(3, 8))).toEqual(['int', 'e1', 1, 3, 4, 0, 0, '2', 2, 0, '3', 1, 3]);
    await expect(query(t, [':b:0:3'], 10, 0, sig(3, 8), 'other')).rejects.toThrow(`LSHRS_PARAMS ${FP}`);
  });

  test('reads at most its budget of bucket members: a giant bucket is sampled, the buckets after it skipped', async () => {
    const t = tag();
    const items: [string, number, Buffer][] = Array.from({ length: 300 }, (_, i) => [String(i), i % 4, sig(1, i === 0 ? 9 : 2)]);
    await insert(t, items);
    // Band 0 holds all 300 ids in bucket 1; band 1 holds 299 in bucket 2 and id 0 in bucket 9.
    const reply = await query(t, [':b:0:1', ':b:1:9', ':b:1:2'], 1000, 0, sig(1, 9), FP, '', 120);
    expect(reply.slice(3, 7)).toEqual([120, 120, 1, 0]);
    expect((reply.length - 7) / 3).toBe(120);
    // With room for everything, every member of every bucket is read.
    expect((await query(t, [':b:0:1', ':b:1:9', ':b:1:2'], 1000, 0, sig(1, 9), FP, '', 1000)).slice(3, 7)).toEqual([300, 600, 0, 0]);
  });

  test('writes nothing: Redis runs it as a read-only script (EVAL_RO)', async () => {
    const t = tag();
    await insert(t, [['1', 1, sig(3, 7)]]);
    const reply = await redis.call('EVAL_RO', LUA_SOURCES.query, 2, t.meta, `${t.base}:b:0:3`, t.base, FP, '', 10, 0, sig(3, 7), 4, 1000);
    expect(reply).toEqual(['int', 'e1', 1, 1, 1, 0, 0, '1', 1, -1]);
  });
});

describe('what a script finds missing is reported', () => {
  test('remove counts ids a bucket of their record no longer held; query counts members without a record', async () => {
    const t = tag();
    await insert(t, [
      ['1', 1, sig(3, 7)],
      ['2', 2, sig(3, 8)],
    ]);
    await redis.del(`${t.base}:b:1:7`); // an evicted bucket
    await redis.hdel(`${t.base}:r:2`, '2'); // an evicted reverse record
    const reply = await query(t, [':b:0:3'], 10, 5, sig(3, 7));
    expect(reply.slice(3, 7)).toEqual([2, 2, 0, 1]);
    expect(reply.slice(7)).toEqual(['1', 1, 0]);
    expect(await remove(t, [['1', 1]])).toEqual([1, 0, 'e1', 2, 1]);
  });
});

describe('repair.lua', () => {
  test('puts ids back into their buckets, removes stray members it re-checks, recounts', async () => {
    const t = tag();
    await insert(t, [
      ['1', 1, sig(3, 7)],
      ['2', 2, sig(3, 8)],
    ]);
    await redis.srem(`${t.base}:b:1:7`, '1');
    await redis.sadd(`${t.base}:b:1:9`, '2', '1');
    await redis.hset(t.meta, 'ids', '40');
    // Stray: 2 in (1, 9) is removed; 2 in (1, 8) is where its record says it belongs, so it stays.
    expect(
      await repair(
        t,
        [['1', 1]],
        [
          [1, 9, '2', 2],
          [1, 8, '2', 2],
        ],
        4,
      ),
    ).toEqual([1, 1, 2, 'e1', 2]);
    expect(await redis.smembers(`${t.base}:b:1:7`)).toEqual(['1']);
    expect(await redis.smembers(`${t.base}:b:1:9`)).toEqual(['1']);
    expect(await redis.smembers(`${t.base}:b:1:8`)).toEqual(['2']);
    expect(await redis.hget(t.meta, 'ids')).toBe('2');
  });
});

describe("the caller's view (ARGV[3])", () => {
  test('every script refuses a meta that is gone or carries another epoch, and writes nothing', async () => {
    const t = tag();
    await insert(t, [['1', 1, sig(3, 7)]]);
    await redis.del(t.meta); // a restart without persistence, an eviction, a clear elsewhere
    await expect(insert(t, [['2', 2, sig(3, 7)]], { view: 'e1:0' })).rejects.toThrow('LSHRS_LOST :0');
    await expect(remove(t, [['1', 1]], 'int', 'e1:0')).rejects.toThrow('LSHRS_LOST');
    await expect(query(t, [':b:0:3'], 10, 0, sig(3, 7), FP, 'e1:0')).rejects.toThrow('LSHRS_LOST');
    expect(await redis.exists(t.meta)).toBe(0);
    expect(await redis.smembers(`${t.base}:b:0:3`)).toEqual(['1']);
    await insert(t, [['2', 2, sig(3, 7)]], { epoch: 'e2' }); // a handle that saw nothing creates it anew
    await expect(insert(t, [['3', 3, sig(3, 7)]], { view: 'e1:0' })).rejects.toThrow('LSHRS_LOST e2:1');
  });

  test('a sequence behind the view is refused (a restored snapshot), seq 0 checks the epoch only', async () => {
    const t = tag();
    await insert(t, [['1', 1, sig(3, 7)]]);
    await insert(t, [['2', 2, sig(3, 7)]]);
    await expect(insert(t, [['3', 3, sig(3, 7)]], { view: 'e1:5' })).rejects.toThrow('LSHRS_LOST e1:2');
    expect(await insert(t, [['3', 3, sig(3, 7)]], { view: 'e1:0' })).toEqual([1, 0, 0, 0, 'e1', 3]);
    expect(await insert(t, [['4', 4, sig(3, 7)]], { view: 'e1:3' })).toEqual([1, 0, 0, 0, 'e1', 4]);
  });
});

describe('the shared contract', () => {
  const files = readdirSync(join(__dirname, '..', '..', 'lua')).filter((f) => f.endsWith('.lua') && f !== 'common.lua');

  test('every script opens with a header that names the shared KEYS/ARGV positions', () => {
    for (const file of files) {
      const text = readFileSync(join(__dirname, '..', '..', 'lua', file), 'utf8');
      expect(text.startsWith(`--[[\n${file}:`)).toBe(true);
      expect(text).toContain('KEYS[1], ARGV[1] (key base), ARGV[2] (fingerprint), ARGV[3] (view): as in common.lua');
    }
  });

  test('every error reply a script can give has a code in the table of src/errors.ts', () => {
    const replies = new Set(Object.values(LUA_SOURCES).flatMap((lua) => [...lua.matchAll(/'(LSHRS_[A-Z]+) '/g)].map((m) => m[1])));
    expect(replies.size).toBeGreaterThan(0);
    expect([...replies].sort()).toEqual(Object.keys(SCRIPT_ERRORS).sort());
  });
});
