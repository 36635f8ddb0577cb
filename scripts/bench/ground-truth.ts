/*
 * Exact top-100 cosine neighbours of each held-out query, by brute force, computed once per data
 * set and kept in the git-ignored cache folder. The real set ships its own; it is used as shipped,
 * and the run checks it against the brute force of the same kernel.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { float32ToLE } from '../../src/float32';
import { readFloats, readInts, type Dataset, type Neighbours } from './dataset';
import { exactTopK } from './exact';

export const TRUTH_K = 100;

export interface Truth extends Neighbours {
  /** Where it came from, for the report. */
  origin: 'shipped' | 'cached' | 'computed';
  /** Seconds the brute force took (when computed in this run). */
  seconds?: number;
}

export function groundTruth(data: Dataset, cacheDir: string): Truth {
  if (data.shippedTruth) return { ...data.shippedTruth, origin: 'shipped' };
  const dir = join(cacheDir, 'truth');
  const idsPath = join(dir, `${data.key}-top${TRUTH_K}.i32`);
  const scoresPath = join(dir, `${data.key}-top${TRUTH_K}.f32`);
  if (existsSync(idsPath) && existsSync(scoresPath)) {
    return { k: TRUTH_K, ids: readInts(idsPath), scores: readFloats(scoresPath), origin: 'cached' };
  }
  const started = performance.now();
  const truth = exactTopK(data.queries, data.queryCount, data.dim, data.chunks(), TRUTH_K);
  const seconds = (performance.now() - started) / 1000;
  mkdirSync(dir, { recursive: true });
  writeFileSync(scoresPath, float32ToLE(truth.scores));
  writeFileSync(idsPath, new Uint8Array(truth.ids.buffer));
  return { ...truth, origin: 'computed', seconds };
}

/** Fraction of the shipped top-10 lists that the brute force here reproduces (1: identical sets). */
export function agreementAt10(shipped: Neighbours, data: Dataset): number {
  const mine = exactTopK(data.queries, data.queryCount, data.dim, data.chunks(), 10);
  let same = 0;
  for (let q = 0; q < data.queryCount; q++) {
    const set = new Set(mine.ids.subarray(q * 10, q * 10 + 10));
    for (let j = 0; j < 10; j++) if (set.has(shipped.ids[q * shipped.k + j])) same++;
  }
  return same / (data.queryCount * 10);
}

/** recall@k of one answer list against a query's exact neighbours. */
export function recallAt(truth: Neighbours, query: number, answer: ArrayLike<number>, k: number): number {
  const want = new Set(truth.ids.subarray(query * truth.k, query * truth.k + k));
  let hit = 0;
  for (let i = 0; i < Math.min(k, answer.length); i++) if (want.has(answer[i])) hit++;
  return hit / k;
}
