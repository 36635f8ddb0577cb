/** Clocks and order statistics for the benchmark: every time is in milliseconds unless named. */

export const now = (): number => performance.now();

/** The q-quantile (0..1) of the values, by linear interpolation between order statistics. */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export const median = (values: ArrayLike<number>): number => quantile(values, 0.5);

export function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return values.length === 0 ? Number.NaN : sum / values.length;
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  mean: number;
}

export function percentiles(values: ArrayLike<number>): Percentiles {
  return { p50: quantile(values, 0.5), p95: quantile(values, 0.95), p99: quantile(values, 0.99), mean: mean(values) };
}

/** Field-wise median of several repeats' percentiles. */
export function medianPercentiles(repeats: Percentiles[]): Percentiles {
  return {
    p50: median(repeats.map((r) => r.p50)),
    p95: median(repeats.map((r) => r.p95)),
    p99: median(repeats.map((r) => r.p99)),
    mean: median(repeats.map((r) => r.mean)),
  };
}

/** Runs `fn` `repeats` times and returns the median of the values it reports. */
export async function medianOf(repeats: number, fn: (repeat: number) => Promise<number> | number): Promise<number> {
  const values: number[] = [];
  for (let r = 0; r < repeats; r++) values.push(await fn(r));
  return median(values);
}

/** Progress lines go to stderr, so stdout stays clean. */
export function progress(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}
