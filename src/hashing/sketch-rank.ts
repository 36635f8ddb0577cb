import { sketchBytes } from './projection';

/** Bits set in each byte value. */
const POPCOUNT = new Uint8Array(256);
for (let v = 1; v < 256; v++) POPCOUNT[v] = (v & 1) + POPCOUNT[v >> 1];

/**
 * Scores stored sketches against a query's projections on the sketch planes. A sketch bit that
 * disagrees with the query's sign costs the query's |projection| on that plane: disagreeing where the
 * query is near the plane says little, disagreeing where it is far from it says the item is on the
 * other side of a plane the query clearly is not near (asymmetric distance: the query keeps its
 * magnitudes, items are bits). Scoring goes a byte at a time through a table of all 256 byte values.
 */
export class SketchScorer {
  /** Sketch bytes per item. */
  readonly bytes: number;
  /** table[byte*256 + v]: the cost of an item whose sketch byte `byte` is v. */
  readonly table: Float32Array;
  /** The query's own sketch (its sign bits, packed as packSketches packs them). */
  readonly sketch: Uint8Array;

  constructor(queryProj: ArrayLike<number>, first: number, sketchBits: number) {
    this.bytes = sketchBytes(sketchBits);
    this.table = new Float32Array(this.bytes * 256);
    this.sketch = new Uint8Array(this.bytes);
    const weight = new Float64Array(8);
    for (let byte = 0; byte < this.bytes; byte++) {
      let own = 0;
      for (let j = 0; j < 8; j++) {
        const x = queryProj[first + 8 * byte + j];
        if (x > 0) own |= 1 << j;
        weight[j] = Math.abs(x);
      }
      this.sketch[byte] = own;
      for (let v = 0; v < 256; v++) {
        const differ = v ^ own;
        let s = 0;
        for (let j = 0; j < 8; j++) if (differ & (1 << j)) s += weight[j];
        this.table[byte * 256 + v] = s;
      }
    }
  }

  /**
   * Distance of the sketch at buf[offset ..] to the query, lower is closer: the table entries of its
   * bytes summed in byte order, rounded to float32 (the table's precision) so that the value ranked
   * on is the value reported.
   */
  score(buf: Uint8Array, offset: number): number {
    const table = this.table;
    let s = 0;
    for (let byte = 0, t = 0; byte < this.bytes; byte++, t += 256) s += table[t + buf[offset + byte]];
    return Math.fround(s);
  }

  /** Plain Hamming distance of the sketch at buf[offset ..] to the query's sign bits. */
  hamming(buf: Uint8Array, offset: number): number {
    let d = 0;
    for (let byte = 0; byte < this.bytes; byte++) d += POPCOUNT[buf[offset + byte] ^ this.sketch[byte]];
    return d;
  }
}

/** The candidates kept by {@link rankRecords}, best first. */
export interface RankedCandidates {
  shard: Uint16Array;
  ordinal: Uint32Array;
  /** {@link SketchScorer.score} of each candidate's sketch. */
  score: Float32Array;
  /** How many records named the candidate: the number of probed buckets it is in. */
  collisions: number[];
  /** Records read over all buckets, repeats included. */
  recordsRead: number;
}

/**
 * The `keep` best distinct (shard, ordinal) pairs of the records in `sources` (per shard, the bucket
 * strings read; null for a missing key), each record a 4-byte big-endian ordinal then its sketch.
 * A bounded max-heap by (score, first sighting) admits a pair only when it beats the worst kept, so
 * ties go to the pair seen first; a map of the kept pairs makes a repeat count a collision instead
 * of a second entry. Collisions are exact: once the heap is full its worst only improves, so a pair
 * not admitted (or evicted) at one sighting is never admitted later, and a kept pair was kept from
 * its first sighting on. Sorted by score, ties by shard then ordinal.
 */
export function rankRecords(sources: readonly (Buffer | null)[][], recordSize: number, scorer: SketchScorer, keep: number): RankedCandidates {
  if (recordSize !== 4 + scorer.bytes)
    throw new RangeError(`recordSize ${recordSize} does not fit a 4-byte ordinal and a ${scorer.bytes}-byte sketch`);
  if (sources.length > 65536) throw new RangeError(`at most 65536 shards, got ${sources.length}`);
  let total = 0;
  for (const buckets of sources) {
    for (const buf of buckets) {
      if (buf === null) continue;
      if (buf.length % recordSize !== 0) throw new Error(`bucket string of ${buf.length} bytes is not a whole number of ${recordSize}-byte records`);
      total += buf.length / recordSize;
    }
  }
  const cap = Math.max(0, Math.min(Math.floor(keep), total));
  // Slots hold the kept pairs; heap[0] is the worst (highest score, then latest first sighting).
  const slotScore = new Float64Array(cap);
  const slotSeen = new Float64Array(cap);
  const slotKey = new Float64Array(cap);
  const slotHits = new Float64Array(cap);
  const heap = new Int32Array(cap);
  const kept = new Map<number, number>();
  let size = 0;
  let worst = Number.POSITIVE_INFINITY;
  // The float32 after `worst`: a sum that reaches it scores above `worst` however it rounds.
  let bound = Number.POSITIVE_INFINITY;
  const table = scorer.table;
  const bytes = scorer.bytes;
  let seen = 0;

  if (cap > 0) {
    for (let shard = 0; shard < sources.length; shard++) {
      const high = shard * 4294967296;
      for (const buf of sources[shard]) {
        if (buf === null) continue;
        for (let o = 0; o < buf.length; o += recordSize) {
          const sighting = seen++;
          // The score as SketchScorer.score sums it, abandoned once it reaches `bound`: it can then
          // only round above the worst kept, so it is neither kept nor admitted.
          let sum = 0;
          let j = 0;
          for (let t = 0, at = o + 4; j < bytes; j++, t += 256) {
            sum += table[t + buf[at + j]];
            if (sum >= bound) break;
          }
          if (j < bytes) continue;
          const s = Math.fround(sum);
          // Every kept pair scores at most the worst, so anything above it is neither kept nor admitted.
          if (s > worst) continue;
          const key = high + buf[o] * 16777216 + ((buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]);
          const slot = kept.get(key);
          if (slot !== undefined) {
            slotHits[slot]++;
            continue;
          }
          if (size < cap) {
            const fresh = size++;
            slotScore[fresh] = s;
            slotSeen[fresh] = sighting;
            slotKey[fresh] = key;
            slotHits[fresh] = 1;
            kept.set(key, fresh);
            heapUp(heap, size - 1, fresh, slotScore, slotSeen);
            if (size === cap) {
              worst = slotScore[heap[0]];
              bound = nextFloat32(worst);
            }
          } else if (s < worst) {
            const out = heap[0];
            kept.delete(slotKey[out]);
            slotScore[out] = s;
            slotSeen[out] = sighting;
            slotKey[out] = key;
            slotHits[out] = 1;
            kept.set(key, out);
            heapDown(heap, size, out, slotScore, slotSeen);
            worst = slotScore[heap[0]];
            bound = nextFloat32(worst);
          }
        }
      }
    }
  } else {
    seen = total;
  }

  const order = Array.from({ length: size }, (_, i) => i);
  order.sort((a, b) => slotScore[a] - slotScore[b] || slotKey[a] - slotKey[b]);
  const result: RankedCandidates = {
    shard: new Uint16Array(size),
    ordinal: new Uint32Array(size),
    score: new Float32Array(size),
    collisions: new Array<number>(size),
    recordsRead: seen,
  };
  for (let i = 0; i < size; i++) {
    const slot = order[i];
    const key = slotKey[slot];
    const shard = Math.floor(key / 4294967296);
    result.shard[i] = shard;
    result.ordinal[i] = key - shard * 4294967296;
    result.score[i] = slotScore[slot];
    result.collisions[i] = slotHits[slot];
  }
  return result;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float32 after a non-negative float32 `x` (Infinity stays). */
function nextFloat32(x: number): number {
  if (x === Number.POSITIVE_INFINITY) return x;
  f32[0] = x;
  u32[0]++;
  return f32[0];
}

/** Whether slot a ranks after slot b: a higher score, or the same score first seen later. */
function worse(a: number, b: number, score: Float64Array, seen: Float64Array): boolean {
  return score[a] > score[b] || (score[a] === score[b] && seen[a] > seen[b]);
}

/** Places slot `s` at heap position `i` (the new last) and moves it up the max-heap. */
function heapUp(heap: Int32Array, i: number, s: number, score: Float64Array, seen: Float64Array): void {
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!worse(s, heap[parent], score, seen)) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = s;
}

/** Puts slot `s` (the new contents of the root) down the max-heap of `size` entries. */
function heapDown(heap: Int32Array, size: number, s: number, score: Float64Array, seen: Float64Array): void {
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= size) break;
    const r = l + 1;
    const c = r < size && worse(heap[r], heap[l], score, seen) ? r : l;
    if (!worse(heap[c], s, score, seen)) break;
    heap[i] = heap[c];
    i = c;
  }
  heap[i] = s;
}
