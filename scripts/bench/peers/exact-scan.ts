/*
 * The exact peer: every query scans all vectors, held in memory as Float32Array chunks, with the
 * same blocked kernel that computes the ground truth. Its recall is 1 by construction; it is the
 * latency any index has to beat. At large n it times a subset of the queries (the report says how many).
 */
import type { Dataset, Neighbours, VectorChunk } from '../dataset';
import { exactTopK, inverseNorms } from '../exact';
import { recallAt } from '../ground-truth';
import { medianPercentiles, now, percentiles, type Percentiles } from '../timing';
import type { PeerResult } from './types';

/** Multiply-adds one run of the exact peer may spend on timing (about a minute at ~1.3 G/s). */
const BUDGET = 8e10;

export function exactScanPeer(data: Dataset, truth: Neighbours, options: { repeats: number; maxQueries?: number }): PeerResult {
  const started = now();
  const chunks: VectorChunk[] = [];
  for (const chunk of data.chunks()) chunks.push({ ...chunk, inverseNorms: inverseNorms(chunk, data.dim) });
  const buildSeconds = (now() - started) / 1000;
  const budgeted = Math.max(50, Math.floor(BUDGET / (data.n * data.dim * options.repeats)));
  const queries = Math.min(data.queryCount, options.maxQueries ?? budgeted);
  const repeats: Percentiles[] = [];
  const recall = { at1: 0, at10: 0, at100: 0 };
  for (let r = 0; r < options.repeats; r++) {
    const latencies = new Float64Array(queries);
    for (let q = 0; q < queries; q++) {
      const vector = data.queries.subarray(q * data.dim, (q + 1) * data.dim);
      const t = now();
      const best = exactTopK(vector, 1, data.dim, chunks, 10);
      latencies[q] = now() - t;
      if (r === 0) {
        recall.at1 += recallAt(truth, q, best.ids, 1);
        recall.at10 += recallAt(truth, q, best.ids, 10);
      }
    }
    repeats.push(percentiles(latencies));
  }
  return {
    peer: 'exact Float32Array scan',
    build: { seconds: buildSeconds, vectorsPerSecond: data.n / buildSeconds, what: 'read the vectors into memory and compute their norms' },
    bytesPerVector: data.dim * 4 + 4,
    bytesWhat: 'float32 vectors and norms in the process',
    points: [{ setting: 'top-10', queries, latency: medianPercentiles(repeats), recall: { at1: recall.at1 / queries, at10: recall.at10 / queries } }],
    note: queries < data.queryCount ? `timed on the first ${queries} of the ${data.queryCount} queries (a time budget)` : undefined,
  };
}
