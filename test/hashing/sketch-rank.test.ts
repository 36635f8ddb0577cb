import { gaussianStream } from '../../src/hashing/gaussian';
import { packSketches } from '../../src/hashing/projection';
import { rankRecords, SketchScorer } from '../../src/hashing/sketch-rank';

const SKETCH_BITS = 64;
const RECORD = 4 + SKETCH_BITS / 8;

/** A deterministic uniform stream in [0, 1). */
function uniform(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

function queryScorer(seed: string): { scorer: SketchScorer; proj: Float64Array } {
  const next = gaussianStream(seed);
  const proj = Float64Array.from({ length: 3 + SKETCH_BITS }, next);
  return { scorer: new SketchScorer(proj, 3, SKETCH_BITS), proj };
}

function record(ordinal: number, sketch: Uint8Array): Buffer {
  const buf = Buffer.alloc(RECORD);
  buf.writeUInt32BE(ordinal, 0);
  buf.set(sketch, 4);
  return buf;
}

/**
 * Random buckets over `shards` shards: each shard has `items` ordinals with fixed sketches, each
 * bucket a random subset, so an ordinal repeats across buckets with its sketch.
 */
function randomSources(shards: number, items: number, buckets: number, seed: number): (Buffer | null)[][] {
  const rand = uniform(seed);
  const sources: (Buffer | null)[][] = [];
  for (let s = 0; s < shards; s++) {
    const sketches = Array.from({ length: items }, () => Uint8Array.from({ length: SKETCH_BITS / 8 }, () => Math.floor(rand() * 256)));
    // Sparse ordinals, some near 2^32.
    const ordinals = Array.from({ length: items }, (_, i) => (i % 7 === 0 ? 4294967295 - i : i * 13 + s));
    const list: (Buffer | null)[] = [];
    for (let b = 0; b < buckets; b++) {
      if (rand() < 0.1) {
        list.push(null);
        continue;
      }
      const parts: Buffer[] = [];
      for (let i = 0; i < items; i++) if (rand() < 0.3) parts.push(record(ordinals[i], sketches[i]));
      list.push(Buffer.concat(parts));
    }
    sources.push(list);
  }
  return sources;
}

/** The plain reference: every distinct pair scored at its first sighting, best `keep` by (score, first sighting). */
function bruteForce(sources: (Buffer | null)[][], scorer: SketchScorer, keep: number) {
  const pairs = new Map<string, { shard: number; ordinal: number; score: number; first: number; hits: number }>();
  let seen = 0;
  sources.forEach((list, shard) => {
    for (const buf of list) {
      if (!buf) continue;
      for (let o = 0; o < buf.length; o += RECORD) {
        const ordinal = buf.readUInt32BE(o);
        const key = `${shard}:${ordinal}`;
        const p = pairs.get(key);
        if (p) p.hits++;
        else pairs.set(key, { shard, ordinal, score: scorer.score(buf, o + 4), first: seen, hits: 1 });
        seen++;
      }
    }
  });
  const best = [...pairs.values()].sort((a, b) => a.score - b.score || a.first - b.first).slice(0, keep);
  best.sort((a, b) => a.score - b.score || a.shard - b.shard || a.ordinal - b.ordinal);
  return { best, seen };
}

describe('sketch scorer', () => {
  test('the table charges |projection| for each bit that disagrees with the query', () => {
    const { scorer, proj } = queryScorer('table');
    const sketches = packSketches(proj, 1, proj.length, 3, SKETCH_BITS);
    expect(scorer.sketch).toEqual(sketches);
    expect(scorer.score(sketches, 0)).toBe(0);
    expect(scorer.hamming(sketches, 0)).toBe(0);
    const rand = uniform(5);
    for (let t = 0; t < 50; t++) {
      const item = Uint8Array.from({ length: 8 }, () => Math.floor(rand() * 256));
      let expected = 0;
      let differ = 0;
      for (let b = 0; b < SKETCH_BITS; b++) {
        const bit = (item[b >> 3] >> (b & 7)) & 1;
        if (bit !== (proj[3 + b] > 0 ? 1 : 0)) {
          expected += Math.abs(proj[3 + b]);
          differ++;
        }
      }
      const buf = new Uint8Array(10);
      buf.set(item, 2);
      expect(scorer.score(buf, 2)).toBeCloseTo(expected, 4);
      expect(scorer.hamming(buf, 2)).toBe(differ);
    }
  });

  test('table entries follow the definition', () => {
    const proj = [0, 0, 0.5, -2, 0.25, 0, -1, 3, 0.125, -0.5];
    const scorer = new SketchScorer(proj, 2, 8);
    // Query bits: 1 0 1 0 0 1 1 0 (bit 0 first) = 0b01100101.
    expect(scorer.sketch[0]).toBe(0b01100101);
    expect(scorer.table[0b01100101]).toBe(0);
    expect(scorer.table[0b01100100]).toBe(0.5);
    expect(scorer.table[0b01100111]).toBe(2);
    expect(scorer.table[0b10011010]).toBe(0.5 + 2 + 0.25 + 0 + 1 + 3 + 0.125 + 0.5);
    expect(() => new SketchScorer(proj, 0, 12)).toThrow(RangeError);
  });
});

describe('rankRecords', () => {
  test.each([
    [1, 30, 8, 10],
    [3, 200, 12, 50],
    [4, 60, 6, 1],
    [2, 500, 10, 400],
  ])('%i shards of %i items in %i buckets, keep %i: equals the brute-force reference', (shards, items, buckets, keep) => {
    const { scorer } = queryScorer(`q${shards}`);
    const sources = randomSources(shards, items, buckets, shards * 1000 + items);
    const got = rankRecords(sources, RECORD, scorer, keep);
    const { best, seen } = bruteForce(sources, scorer, keep);
    expect(got.recordsRead).toBe(seen);
    expect(Array.from(got.shard)).toEqual(best.map((p) => p.shard));
    expect(Array.from(got.ordinal)).toEqual(best.map((p) => p.ordinal));
    expect(Array.from(got.score)).toEqual(best.map((p) => p.score));
    expect(got.collisions).toEqual(best.map((p) => p.hits));
    // The data does repeat pairs across buckets.
    expect(bruteForce(sources, scorer, Number.POSITIVE_INFINITY).best.some((p) => p.hits > 1)).toBe(true);
  });

  test('ties: the pair seen first is kept, output ordered by shard then ordinal', () => {
    const { scorer } = queryScorer('ties');
    const sketch = new Uint8Array(8).fill(0x5a);
    const bucket = (ordinals: number[]) => Buffer.concat(ordinals.map((o) => record(o, sketch)));
    const sources = [[bucket([9, 4, 7])], [bucket([2, 4]), bucket([9, 2])]];
    const got = rankRecords(sources, RECORD, scorer, 4);
    // Equal scores: the first four distinct pairs seen are (0,9) (0,4) (0,7) (1,2); (1,4) and (1,9) lose.
    expect(Array.from(got.shard)).toEqual([0, 0, 0, 1]);
    expect(Array.from(got.ordinal)).toEqual([4, 7, 9, 2]);
    expect(got.collisions).toEqual([1, 1, 1, 2]);
    expect(got.recordsRead).toBe(7);
  });

  test('keep larger than the distinct pairs returns them all; empty input returns nothing', () => {
    const { scorer } = queryScorer('all');
    const sources = randomSources(2, 20, 5, 7);
    const got = rankRecords(sources, RECORD, scorer, 1_000_000);
    const { best } = bruteForce(sources, scorer, Number.POSITIVE_INFINITY);
    expect(got.ordinal).toHaveLength(best.length);
    expect(got.collisions.reduce((a, b) => a + b, 0)).toBe(got.recordsRead);
    for (const empty of [[], [[]], [[null, null], [Buffer.alloc(0)]]]) {
      const none = rankRecords(empty, RECORD, scorer, 10);
      expect(none.ordinal).toHaveLength(0);
      expect(none.collisions).toEqual([]);
      expect(none.recordsRead).toBe(0);
    }
    expect(rankRecords(sources, RECORD, scorer, 0).ordinal).toHaveLength(0);
  });

  test('a bucket string that is not whole records throws, naming its length', () => {
    const { scorer } = queryScorer('bad');
    const sources = [[Buffer.alloc(RECORD * 2)], [null, Buffer.alloc(RECORD * 3 + 5)]];
    expect(() => rankRecords(sources, RECORD, scorer, 5)).toThrow(/41 bytes/);
    expect(() => rankRecords([], RECORD + 1, scorer, 5)).toThrow(RangeError);
  });

  test('200k records of 36 bytes (timed, not asserted)', () => {
    const bits = 256;
    const size = 4 + bits / 8;
    const next = gaussianStream('speed');
    const proj = Float64Array.from({ length: bits }, next);
    const scorer = new SketchScorer(proj, 0, bits);
    const rand = uniform(11);
    // 20000 ordinals per shard with a fixed sketch each, 2500 of them in each of 20 buckets.
    const pool = new Uint32Array((20000 * (size - 4)) / 4).map(() => Math.floor(rand() * 4294967296));
    const poolBytes = new Uint8Array(pool.buffer);
    const sources: Buffer[][] = [];
    for (let s = 0; s < 4; s++) {
      const list: Buffer[] = [];
      for (let b = 0; b < 20; b++) {
        const buf = Buffer.alloc(2500 * size);
        for (let r = 0; r < 2500; r++) {
          const ordinal = Math.floor(rand() * 20000);
          buf.writeUInt32BE(ordinal, r * size);
          buf.set(poolBytes.subarray(ordinal * (size - 4), (ordinal + 1) * (size - 4)), r * size + 4);
        }
        list.push(buf);
      }
      sources.push(list);
    }
    const time = () => {
      const t0 = process.hrtime.bigint();
      const got = rankRecords(sources, size, scorer, 1000);
      expect(got.recordsRead).toBe(200_000);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const cold = time();
    for (let i = 0; i < 10; i++) time();
    process.stdout.write(`rankRecords 200k x ${size} B: first call ${cold.toFixed(2)} ms, warm ${time().toFixed(2)} ms\n`);
  });
});
