import calculateSlot from 'cluster-key-slot';
import { compareIds, mergeCandidates, shardBudget } from '../../src/redis/fanout';
import type { CandidateList } from '../../src/redis/script-calls';
import { indexLayout } from '../../src/redis/keys';
import { CLUSTER_SLOTS, shardOf, shardTagContents, tagSlot } from '../../src/redis/shards';
import { gaussianStream } from '../../src/hashing/gaussian';

describe('shard of an id', () => {
  test('is pinned: every process, engine and version puts an id in the same shard', () => {
    // Computed apart from lshrs (FNV-1a and MurmurHash3's finaliser in Python's integers). Changing
    // them would move the ids of existing indexes to other shards: never.
    expect([0, 1, 2, 3, 41, 42, 1e9].map((id) => shardOf(id, 16))).toEqual([1, 15, 15, 13, 10, 13, 4]);
    expect(['doc-7', 'ü', '𝄞', 'x'.repeat(512)].map((id) => shardOf(id, 16))).toEqual([15, 6, 12, 13]);
    expect(shardOf(42, 1)).toBe(0);
    // An integer id and its decimal text are one id text.
    expect(shardOf(123456, 7)).toBe(shardOf('123456', 7));
  });

  test('spreads sequential ids and string ids evenly', () => {
    for (const make of [(i: number) => i, (i: number) => `item-${i}`]) {
      const counts = new Array(16).fill(0);
      for (let i = 0; i < 160_000; i++) counts[shardOf(make(i), 16)]++;
      for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(400);
    }
  });
});

describe('shard tags', () => {
  test("lshrs' CRC16 slot agrees with Redis Cluster's", () => {
    for (const text of ['', 'a', 'lshrs', 'lshrs#7.178', 'ü𝄞', 'x'.repeat(300), 't123_4_core#15.45']) {
      expect(tagSlot(text)).toBe(calculateSlot(text));
    }
  });

  test('are evenly spaced over the slots, so 3 masters with equal ranges hold 5, 6 and 5 of 16', () => {
    for (const prefix of ['lshrs', 'a', 'items:v2', 'x'.repeat(64)]) {
      const slots = shardTagContents(prefix, 16).map(tagSlot);
      const slice = CLUSTER_SLOTS / 16;
      slots.forEach((slot, k) => expect(Math.abs(slot - (k + 0.5) * slice)).toBeLessThanOrEqual(slice / 8));
      const perMaster = [0, 0, 0];
      for (const slot of slots) perMaster[slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2]++;
      expect(perMaster).toEqual([5, 6, 5]);
    }
  });

  test('name the shard and cannot collide with another index', () => {
    const layout = indexLayout('lshrs', 16);
    expect(layout.shards[7].tag).toBe('{lshrs#7.178}');
    expect(layout.shardOfKey('{lshrs#7.178}:b:3:171')).toBe(7);
    expect(layout.shardOfKey('{lshrs}:meta')).toBeUndefined();
    expect(indexLayout('lshrs', 1).shards[0].tag).toBe('{lshrs}');
    expect(shardTagContents('lshrs', 256)).toHaveLength(256);
  });
});

describe("merging the shards' candidate lists", () => {
  /** A shard's list as query.lua ranks it: stage 1 collisions down, ties by id; stage 2 by distance. */
  const ranked = (entries: [string, number, number][], idType: 'int' | 'str', limit: number, closest: number): CandidateList => {
    let kept = [...entries].sort((a, b) => b[1] - a[1] || compareIds(a[0], b[0], idType)).slice(0, limit);
    if (closest > 0) kept = kept.sort((a, b) => a[2] - b[2] || b[1] - a[1] || compareIds(a[0], b[0], idType)).slice(0, closest);
    return {
      idType,
      total: entries.length,
      ids: kept.map((e) => e[0]),
      collisions: kept.map((e) => e[1]),
      hamming: kept.map((e) => (closest > 0 ? e[2] : -1)),
    };
  };
  const next = gaussianStream('merge');
  const candidates = (idType: 'int' | 'str'): [string, number, number][] =>
    Array.from({ length: 2000 }, (_, i) => [
      idType === 'int' ? String(i * 37) : `d${Math.floor(Math.abs(next()) * 1e6)}-${i}`,
      1 + Math.floor(Math.abs(next()) * 4),
      Math.floor(Math.abs(next()) * 40),
    ]);

  test('stage 1 alone: ranked exactly as one list over all ids, for any limit', () => {
    for (const idType of ['int', 'str'] as const) {
      const all = candidates(idType);
      for (const limit of [1, 7, 100, 5000]) {
        const budget = shardBudget(limit, 0, 16);
        expect(budget).toEqual({ maxCandidates: limit, rerankCandidates: 0 });
        const shards = Array.from({ length: 16 }, (_, k) =>
          ranked(
            all.filter((e) => shardOf(e[0], 16) === k),
            idType,
            budget.maxCandidates,
            0,
          ),
        );
        expect(mergeCandidates(shards, limit, 0)).toEqual({ ...ranked(all, idType, limit, 0), total: all.length });
      }
    }
  });

  test('stage 2: the shards rank a superset of the one-index pool, so the merged candidates are at least as close', () => {
    for (const idType of ['int', 'str'] as const) {
      const all = candidates(idType);
      for (const [limit, closest] of [
        [4000, 500],
        [400, 50],
        [40, 5],
        [10, 10],
      ]) {
        const budget = shardBudget(limit, closest, 16);
        expect(budget.maxCandidates).toBeLessThanOrEqual(Math.ceil((2 * limit) / 16) + 32);
        const shards = Array.from({ length: 16 }, (_, k) =>
          ranked(
            all.filter((e) => shardOf(e[0], 16) === k),
            idType,
            budget.maxCandidates,
            budget.rerankCandidates,
          ),
        );
        const merged = mergeCandidates(shards, limit, closest);
        const single = ranked(all, idType, limit, closest);
        expect(merged.ids).toHaveLength(single.ids.length);
        merged.hamming.forEach((h, i) => expect(h).toBeLessThanOrEqual(single.hamming[i]));
        // With every candidate within the shards' budgets, it is the one-index ranking itself.
        if (budget.maxCandidates >= all.length / 16 + 100) expect(merged).toEqual({ ...single, total: all.length });
      }
    }
  });

  test('orders string ids bytewise, as Lua compares them', () => {
    const ids = ['a', 'ab', 'b', 'é', '\uffff', '𝄞', 'z', 'Z', ''];
    const byBytes = [...ids].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect([...ids].sort((a, b) => compareIds(a, b, 'str'))).toEqual(byBytes);
    expect(['10', '9', '100', '11'].sort((a, b) => compareIds(a, b, 'int'))).toEqual(['9', '10', '11', '100']);
  });
});
