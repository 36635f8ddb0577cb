/*
 * The statistics that say whether a data set looks like real embeddings: how far the mean
 * direction sticks out, how similar random pairs are, how many directions carry the variance, and
 * how close the true neighbours of a query are. Printed for every set so they can be compared.
 */
import type { Dataset, Neighbours } from './dataset';
import { normaliseRows } from './exact';
import { Rng } from './rng';

export interface DataStats {
  n: number;
  dim: number;
  queries: number;
  /** Length of the mean of the unit-normalised rows (0: no common direction). */
  meanNorm: number;
  /** Cosine of random pairs of base rows. */
  pairCosineMean: number;
  pairCosineSd: number;
  pairs: number;
  /** Participation ratio of the covariance, (sum of eigenvalues)^2 / sum of squared eigenvalues. */
  effectiveDim: number;
  /** Mean cosine between a query and its true 1st, 10th and 100th neighbour. */
  neighbourCosine: { at1: number; at10: number; at100: number };
  /** Rows sampled for the first four figures. */
  sample: number;
}

const SAMPLE = 3000;
const PAIR_ROWS = 1000;

export function dataStats(data: Dataset, truth: Neighbours): DataStats {
  const { dim } = data;
  const rng = new Rng(`stats:${data.key}`);
  const m = Math.min(SAMPLE, data.n);
  const picked = new Set<number>();
  while (picked.size < m) picked.add(rng.int(data.n));
  const rows = new Float32Array(m * dim);
  [...picked].forEach((id, i) => rows.set(data.row(id), i * dim));
  normaliseRows(rows, m, dim);

  const mean = new Float64Array(dim);
  for (let r = 0; r < m; r++) for (let i = 0; i < dim; i++) mean[i] += rows[r * dim + i] / m;
  const meanNorm = Math.sqrt(mean.reduce((s, x) => s + x * x, 0));

  let sum = 0;
  let sumSq = 0;
  let pairs = 0;
  const p = Math.min(PAIR_ROWS, m);
  for (let a = 0; a < p; a++) {
    for (let b = a + 1; b < p; b++) {
      let dot = 0;
      for (let i = 0; i < dim; i++) dot += rows[a * dim + i] * rows[b * dim + i];
      sum += dot;
      sumSq += dot * dot;
      pairs++;
    }
  }
  const pairCosineMean = sum / pairs;
  const pairCosineSd = Math.sqrt(Math.max(0, sumSq / pairs - pairCosineMean * pairCosineMean));

  // Covariance of the centred sample; trace and Frobenius norm give the participation ratio.
  // The sample is held column by column so each covariance entry reads two contiguous runs.
  const centred = new Float64Array(m * dim);
  for (let r = 0; r < m; r++) for (let i = 0; i < dim; i++) centred[i * m + r] = rows[r * dim + i] - mean[i];
  let trace = 0;
  let frobenius = 0;
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      let c = 0;
      for (let r = 0; r < m; r++) c += centred[i * m + r] * centred[j * m + r];
      c /= m;
      if (i === j) {
        trace += c;
        frobenius += c * c;
      } else frobenius += 2 * c * c;
    }
  }

  const at = (rank: number) => {
    if (rank > truth.k) return Number.NaN;
    let s = 0;
    const queries = truth.scores.length / truth.k;
    for (let q = 0; q < queries; q++) s += truth.scores[q * truth.k + rank - 1];
    return s / queries;
  };
  return {
    n: data.n,
    dim,
    queries: data.queryCount,
    meanNorm,
    pairCosineMean,
    pairCosineSd,
    pairs,
    effectiveDim: (trace * trace) / frobenius,
    neighbourCosine: { at1: at(1), at10: at(10), at100: at(100) },
    sample: m,
  };
}
