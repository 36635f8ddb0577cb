import calculateSlot from 'cluster-key-slot';
import { indexLayout } from '../../src/redis/keys';
import { CLUSTER_SLOTS, shardOf, shardTagContents, tagSlot } from '../../src/redis/shards';

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
