/*
 * Exact cosine top-k by brute force over Float32Array chunks: the ground truth, and the exact-scan
 * peer. Rows are scanned in small blocks against every query, so a block stays in cache while the
 * queries pass over it; four rows share each load of a query value.
 */
import type { Neighbours, VectorChunk } from './dataset';

const BLOCK_ROWS = 64;

/** Unit-normalises `count` rows of `data` in place (zero rows stay zero). */
export function normaliseRows(data: Float32Array, count: number, dim: number): void {
  for (let r = 0; r < count; r++) {
    const base = r * dim;
    let norm = 0;
    for (let i = 0; i < dim; i++) norm += data[base + i] * data[base + i];
    if (norm === 0) continue;
    const scale = 1 / Math.sqrt(norm);
    for (let i = 0; i < dim; i++) data[base + i] *= scale;
  }
}

/** 1 / |row| of every row of a chunk (0 for a zero row). */
export function inverseNorms(chunk: VectorChunk, dim: number): Float32Array {
  const out = new Float32Array(chunk.count);
  for (let r = 0; r < chunk.count; r++) {
    let norm = 0;
    for (let i = 0; i < dim; i++) norm += chunk.data[r * dim + i] ** 2;
    out[r] = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  }
  return out;
}

/** Best-k list per query as a min-heap: the worst kept score sits at the root. */
class TopK {
  readonly scores: Float32Array;
  readonly ids: Int32Array;
  private size = 0;

  constructor(readonly k: number) {
    this.scores = new Float32Array(k);
    this.ids = new Int32Array(k);
  }

  /** The score a newcomer must beat. */
  floor(): number {
    return this.size < this.k ? Number.NEGATIVE_INFINITY : this.scores[0];
  }

  push(score: number, id: number): void {
    const { scores, ids } = this;
    if (this.size < this.k) {
      let i = this.size++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (scores[parent] <= score) break;
        scores[i] = scores[parent];
        ids[i] = ids[parent];
        i = parent;
      }
      scores[i] = score;
      ids[i] = id;
      return;
    }
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= this.k) break;
      const right = left + 1;
      const child = right < this.k && scores[right] < scores[left] ? right : left;
      if (scores[child] >= score) break;
      scores[i] = scores[child];
      ids[i] = ids[child];
      i = child;
    }
    scores[i] = score;
    ids[i] = id;
  }

  /** Ids and scores best first (ties by smaller id). */
  sorted(): { ids: number[]; scores: number[] } {
    const order = Array.from({ length: this.size }, (_, i) => i).sort((a, b) => this.scores[b] - this.scores[a] || this.ids[a] - this.ids[b]);
    return { ids: order.map((i) => this.ids[i]), scores: order.map((i) => this.scores[i]) };
  }
}

/** Cosine top-k of each query over all chunks. Queries need not be unit-norm; rows need not be either. */
export function exactTopK(queries: Float32Array, queryCount: number, dim: number, chunks: Iterable<VectorChunk>, k: number): Neighbours {
  const q = queries.slice(0, queryCount * dim);
  normaliseRows(q, queryCount, dim);
  const heaps = Array.from({ length: queryCount }, () => new TopK(k));
  const blockNorms = new Float64Array(BLOCK_ROWS);
  for (const chunk of chunks) {
    const { data, count, start } = chunk;
    for (let b = 0; b < count; b += BLOCK_ROWS) {
      const rows = Math.min(BLOCK_ROWS, count - b);
      for (let r = 0; r < rows; r++) {
        if (chunk.inverseNorms) {
          blockNorms[r] = chunk.inverseNorms[b + r];
          continue;
        }
        const base = (b + r) * dim;
        let norm = 0;
        for (let i = 0; i < dim; i++) norm += data[base + i] * data[base + i];
        blockNorms[r] = norm > 0 ? 1 / Math.sqrt(norm) : 0;
      }
      for (let qi = 0; qi < queryCount; qi++) {
        const heap = heaps[qi];
        const qBase = qi * dim;
        let r = 0;
        for (; r + 4 <= rows; r += 4) {
          const o0 = (b + r) * dim;
          const o1 = o0 + dim;
          const o2 = o1 + dim;
          const o3 = o2 + dim;
          let d0 = 0;
          let d1 = 0;
          let d2 = 0;
          let d3 = 0;
          for (let i = 0; i < dim; i++) {
            const x = q[qBase + i];
            d0 += x * data[o0 + i];
            d1 += x * data[o1 + i];
            d2 += x * data[o2 + i];
            d3 += x * data[o3 + i];
          }
          const id = start + b + r;
          const s0 = d0 * blockNorms[r];
          const s1 = d1 * blockNorms[r + 1];
          const s2 = d2 * blockNorms[r + 2];
          const s3 = d3 * blockNorms[r + 3];
          if (s0 > heap.floor()) heap.push(s0, id);
          if (s1 > heap.floor()) heap.push(s1, id + 1);
          if (s2 > heap.floor()) heap.push(s2, id + 2);
          if (s3 > heap.floor()) heap.push(s3, id + 3);
        }
        for (; r < rows; r++) {
          const o = (b + r) * dim;
          let d = 0;
          for (let i = 0; i < dim; i++) d += q[qBase + i] * data[o + i];
          const s = d * blockNorms[r];
          if (s > heap.floor()) heap.push(s, start + b + r);
        }
      }
    }
  }
  const ids = new Int32Array(queryCount * k).fill(-1);
  const scores = new Float32Array(queryCount * k);
  heaps.forEach((heap, qi) => {
    const best = heap.sorted();
    ids.set(best.ids, qi * k);
    scores.set(best.scores, qi * k);
  });
  return { k, ids, scores };
}
