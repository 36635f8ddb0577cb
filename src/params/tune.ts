import { falseNegativeRate, falsePositiveRate, MAX_ROWS_PER_BAND, optimalParams, sCurve, sqrtParams } from './scurve';

/** How similar random pairs of the corpus are: a normal model of their cosine. */
export interface PairModel {
  /** @defaultValue 0.17 (measured on real sentence embeddings) */
  mean?: number;
  /** @defaultValue 0.14 */
  sd?: number;
}

export interface TuneCandidate {
  bands: number;
  rows: number;
  falsePositive: number;
  falseNegative: number;
  /** Probability that a random pair shares a bucket, under the pair model. */
  randomPairCollision: number;
  /** Ids a query shares a bucket with, in a corpus of `size` (null without a size). */
  expectedCandidates: number | null;
  /** Why it is listed: the planner's choice, the square-root heuristic, or a full-budget option. */
  label: 'optimal' | 'sqrt' | 'option';
}

/** Mean of P(s) when s ~ Normal(mean, sd) clipped to [-1, 1] (midpoint rule over +-6 sd). */
export function randomPairCollision(bands: number, rows: number, model: PairModel = {}): number {
  const mean = model.mean ?? 0.17;
  const sd = model.sd ?? 0.14;
  const steps = 600;
  let total = 0;
  let weight = 0;
  for (let i = 0; i < steps; i++) {
    const z = -6 + (12 * (i + 0.5)) / steps;
    const w = Math.exp(-0.5 * z * z);
    total += w * sCurve(Math.max(-1, Math.min(1, mean + z * sd)), bands, rows);
    weight += w;
  }
  return total / weight;
}

/**
 * The (bands, rows) configurations worth a look for a hyperplane budget: each row count with as
 * many bands as the budget allows, plus the planner's choice and the square-root heuristic,
 * best balanced error first. What `lshrs tune` prints.
 */
export function tuneCandidates(numPerm: number, threshold: number, size: number | null = null, model: PairModel = {}): TuneCandidate[] {
  const optimal = optimalParams(numPerm, threshold);
  const sqrt = sqrtParams(numPerm, threshold);
  const seen = new Set<string>();
  const out: TuneCandidate[] = [];
  const add = (bands: number, rows: number, label: TuneCandidate['label']) => {
    const key = `${bands}x${rows}`;
    if (seen.has(key) || bands < 1 || rows < 1) return;
    seen.add(key);
    const randomPair = randomPairCollision(bands, rows, model);
    out.push({
      bands,
      rows,
      falsePositive: falsePositiveRate(threshold, bands, rows),
      falseNegative: falseNegativeRate(threshold, bands, rows),
      randomPairCollision: randomPair,
      expectedCandidates: size === null ? null : size * randomPair,
      label,
    });
  };
  add(optimal.bands, optimal.rows, 'optimal');
  add(sqrt.bands, sqrt.rows, 'sqrt');
  for (let rows = 1; rows <= Math.min(MAX_ROWS_PER_BAND, numPerm); rows++) add(Math.floor(numPerm / rows), rows, 'option');
  const score = (c: TuneCandidate) => c.falsePositive + c.falseNegative;
  return out.sort((a, b) => (a.label === 'optimal' ? -1 : b.label === 'optimal' ? 1 : score(a) - score(b)));
}
