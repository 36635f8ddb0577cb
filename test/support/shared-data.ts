import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { float32FromLE } from '../../src/float32';

/** The real embedding set in ../shared/data (see its README): 13,400 x 512 unit vectors. */
export const SHARED_DIR = process.env.LSHRS_SHARED_DATA ?? resolve(__dirname, '..', '..', '..', 'shared', 'data', 'wikitext103-use512');
export const SHARED_DIM = 512;

function floats(file: string): Float32Array {
  return float32FromLE(readFileSync(join(SHARED_DIR, file)));
}

function ints(file: string): Int32Array {
  const bytes = readFileSync(join(SHARED_DIR, file));
  const out = new Int32Array(bytes.byteLength / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

export interface SharedSet {
  vectors: Float32Array;
  count: number;
  texts: string[];
  queries: Float32Array;
  queryCount: number;
  /** Exact top-100 neighbours of each query, best first. */
  groundTruth: Int32Array;
}

let cached: SharedSet | undefined;

export function loadSharedSet(): SharedSet {
  if (cached) return cached;
  const vectors = floats('vectors.f32');
  const queries = floats('queries.f32');
  const texts = readFileSync(join(SHARED_DIR, 'texts.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { text: string }).text);
  cached = {
    vectors,
    count: vectors.length / SHARED_DIM,
    texts,
    queries,
    queryCount: queries.length / SHARED_DIM,
    groundTruth: ints('gt.i32'),
  };
  return cached;
}

export const row = (data: Float32Array, i: number, dim = SHARED_DIM) => data.subarray(i * dim, (i + 1) * dim);
