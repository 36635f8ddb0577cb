import { LshrsError } from '../errors';
import { intOption } from '../validate';

/** Longest band: a band value is kept in 32 bits. */
export const MAX_ROWS_PER_BAND = 32;

/** Probability that one random hyperplane puts two vectors of cosine `s` on the same side. */
export function collisionProbability(s: number): number {
  const c = Math.min(1, Math.max(-1, s));
  return 1 - Math.acos(c) / Math.PI;
}

/** Probability that two vectors of cosine `s` share at least one of `bands` buckets of `rows` bits. */
export function sCurve(s: number, bands: number, rows: number): number {
  return 1 - (1 - collisionProbability(s) ** rows) ** bands;
}

/** Composite Simpson rule; smooth integrands, so 256 intervals are plenty. */
function integrate(f: (x: number) => number, a: number, b: number, intervals = 256): number {
  if (b <= a) return 0;
  const h = (b - a) / intervals;
  let sum = f(a) + f(b);
  for (let i = 1; i < intervals; i++) sum += f(a + i * h) * (i % 2 === 1 ? 4 : 2);
  return (sum * h) / 3;
}

/**
 * Mean collision probability of pairs below the threshold: the area under the S-curve over cosine
 * [0, threshold], divided by its width. Real embeddings' unrelated pairs sit at cosine 0 to 0.4,
 * so the integral runs over non-negative cosines.
 */
export function falsePositiveRate(threshold: number, bands: number, rows: number): number {
  if (threshold <= 0) return 0;
  return integrate((s) => sCurve(s, bands, rows), 0, threshold) / threshold;
}

/** Mean probability that a pair above the threshold shares no bucket, over cosine [threshold, 1]. */
export function falseNegativeRate(threshold: number, bands: number, rows: number): number {
  if (threshold >= 1) return 0;
  return integrate((s) => 1 - sCurve(s, bands, rows), threshold, 1) / (1 - threshold);
}

export interface BandParams {
  bands: number;
  rows: number;
  falsePositive: number;
  falseNegative: number;
}

export interface OptimalParamsOptions {
  /** Weight of the false-positive rate. @defaultValue 0.5 */
  falsePositiveWeight?: number;
  /** Weight of the false-negative rate. @defaultValue 0.5 */
  falseNegativeWeight?: number;
}

function checkPlan(numPerm: number, threshold: number): void {
  intOption('numPerm', numPerm, 1, 4096);
  if (!(threshold > 0 && threshold < 1)) {
    throw new LshrsError('BAD_OPTION', `threshold must lie strictly between 0 and 1, got ${threshold}`);
  }
}

/**
 * The (bands, rows) with bands * rows <= numPerm that minimise the weighted false-positive plus
 * false-negative rates around `threshold` (cosine). Ties go to fewer hyperplanes.
 */
export function optimalParams(numPerm: number, threshold = 0.5, options: OptimalParamsOptions = {}): BandParams {
  checkPlan(numPerm, threshold);
  const wFp = options.falsePositiveWeight ?? 0.5;
  const wFn = options.falseNegativeWeight ?? 0.5;
  if (!(wFp >= 0 && wFn >= 0 && wFp + wFn > 0)) {
    throw new LshrsError('BAD_OPTION', 'the false-positive and false-negative weights must be non-negative and not both zero');
  }
  let best: BandParams | undefined;
  let bestError = Infinity;
  for (let bands = 1; bands <= numPerm; bands++) {
    const maxRows = Math.min(MAX_ROWS_PER_BAND, Math.floor(numPerm / bands));
    for (let rows = 1; rows <= maxRows; rows++) {
      const falsePositive = falsePositiveRate(threshold, bands, rows);
      const falseNegative = falseNegativeRate(threshold, bands, rows);
      const error = wFp * falsePositive + wFn * falseNegative;
      if (error < bestError - 1e-12) {
        bestError = error;
        best = { bands, rows, falsePositive, falseNegative };
      }
    }
  }
  return best as BandParams;
}

/** The square-root heuristic: bands = floor(sqrt(numPerm)), rows = floor(numPerm / bands). */
export function sqrtParams(numPerm: number, threshold = 0.5): BandParams {
  checkPlan(numPerm, threshold);
  const bands = Math.floor(Math.sqrt(numPerm));
  const rows = Math.min(MAX_ROWS_PER_BAND, Math.floor(numPerm / bands));
  return {
    bands,
    rows,
    falsePositive: falsePositiveRate(threshold, bands, rows),
    falseNegative: falseNegativeRate(threshold, bands, rows),
  };
}
