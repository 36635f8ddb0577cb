/*
 * A data set as the benchmark sees it: base vectors read in row chunks (never one JS object per
 * vector), held-out queries, a text per id, and the exact top-100 neighbours of each query.
 * Two sources: the shared real set (in memory, 27 MB) and file-backed synthetic sets.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { float32FromLE } from '../../src/float32';

/** Rows `start .. start+count-1`, row-major in `data` (count x dim). */
export interface VectorChunk {
  start: number;
  count: number;
  data: Float32Array;
  /** 1 / |row| of each row, when known ahead (the exact-scan peer computes them once, at build). */
  inverseNorms?: Float32Array;
}

/** Exact nearest neighbours of each query: `k` ids and cosines a query, best first. */
export interface Neighbours {
  k: number;
  ids: Int32Array;
  scores: Float32Array;
}

export interface Dataset {
  /** Short label for tables: "real 13,400 x 512", "synthetic 100,000 x 384". */
  label: string;
  kind: 'real' | 'synthetic';
  /** Names the data in the cache: the same key is the same vectors. */
  key: string;
  /** Where the data comes from, one sentence for the report. */
  source: string;
  n: number;
  dim: number;
  queries: Float32Array;
  queryCount: number;
  /** Base rows in id order, `rows` at a time (the last chunk may be shorter). Each chunk is a fresh array. */
  chunks(rows?: number): Iterable<VectorChunk>;
  /** The row of one id (random access, for sampling). */
  row(id: number): Float32Array;
  /** The text stored with an id. */
  text(id: number): string;
  /** Exact neighbours given with the data (the real set ships them); otherwise computed and cached. */
  shippedTruth?: Neighbours;
}

export const DEFAULT_CHUNK_ROWS = 8192;

function readFloats(path: string): Float32Array {
  return float32FromLE(readFileSync(path));
}

function readInts(path: string): Int32Array {
  const bytes = readFileSync(path);
  const out = new Int32Array(bytes.byteLength / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

/** The shared real set: ../shared/data/wikitext103-use512 (override with LSHRS_SHARED_DATA). */
export function sharedDataDir(): string {
  return process.env.LSHRS_SHARED_DATA ?? resolve(__dirname, '..', '..', '..', 'shared', 'data', 'wikitext103-use512');
}

export function loadRealSet(queryLimit?: number): Dataset {
  const dir = sharedDataDir();
  if (!existsSync(join(dir, 'vectors.f32'))) {
    throw new Error(`the real set is not at ${dir} (set LSHRS_SHARED_DATA to its folder)`);
  }
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as { dim: number; n: number };
  const dim = meta.dim;
  const vectors = readFloats(join(dir, 'vectors.f32'));
  const n = vectors.length / dim;
  const allQueries = readFloats(join(dir, 'queries.f32'));
  const queryCount = Math.min(allQueries.length / dim, queryLimit ?? Number.POSITIVE_INFINITY);
  const k = 100;
  const texts = readFileSync(join(dir, 'texts.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { text: string }).text);
  return {
    label: `real ${n.toLocaleString('en-US')} x ${dim}`,
    kind: 'real',
    key: `real-${n}x${dim}-q${queryCount}`,
    source:
      'WikiText-103 sentences embedded with Universal Sentence Encoder lite (../shared/data/wikitext103-use512), with its 1,000 held-out queries',
    n,
    dim,
    queries: allQueries.slice(0, queryCount * dim),
    queryCount,
    *chunks(rows = DEFAULT_CHUNK_ROWS) {
      for (let start = 0; start < n; start += rows) {
        const count = Math.min(rows, n - start);
        yield { start, count, data: vectors.slice(start * dim, (start + count) * dim) };
      }
    },
    row: (id) => vectors.slice(id * dim, (id + 1) * dim),
    text: (id) => texts[id] ?? '',
    shippedTruth: {
      k,
      ids: readInts(join(dir, 'gt.i32')).slice(0, queryCount * k),
      scores: readFloats(join(dir, 'gt_scores.f32')).slice(0, queryCount * k),
    },
  };
}

/** Base vectors in a little-endian float32 file, read a chunk at a time. */
export function fileChunks(path: string, n: number, dim: number, rows: number): Iterable<VectorChunk> {
  return {
    *[Symbol.iterator]() {
      const fd = openSync(path, 'r');
      try {
        for (let start = 0; start < n; start += rows) {
          const count = Math.min(rows, n - start);
          const data = new Float32Array(count * dim);
          readSync(fd, new Uint8Array(data.buffer), 0, data.byteLength, start * dim * 4);
          yield { start, count, data };
        }
      } finally {
        closeSync(fd);
      }
    },
  };
}

export function fileRow(path: string, dim: number, id: number): Float32Array {
  const fd = openSync(path, 'r');
  try {
    const out = new Float32Array(dim);
    readSync(fd, new Uint8Array(out.buffer), 0, out.byteLength, id * dim * 4);
    return out;
  } finally {
    closeSync(fd);
  }
}

export { readFloats, readInts };
