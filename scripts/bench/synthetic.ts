/*
 * Seeded synthetic embeddings for any n and dim, shaped like real sentence embeddings:
 *   row = normalise(a * mean + b * centre[cluster] + s * sub[cluster, j] + c * noise)
 * - `mean` is one random direction shared by every row (real embeddings are anisotropic: random
 *   pairs of the real set have cosine 0.17, not 0),
 * - `centre[k]` is the cluster's direction (clusters of ~clusterSize rows, like the sentences of
 *   one article), drawn from a power-law spectrum so a few dozen directions carry most variance,
 * - `sub` is one of the cluster's sub-topics (a few close rows: the real set's best neighbour is
 *   much closer than its 10th),
 * - `noise` is each row's own offset, from a flatter power-law spectrum.
 * The number of clusters grows with n, so the neighbour cosines stay near those of the real set at
 * any size. The defaults were fitted to the real set's statistics (data-stats.ts prints both).
 * Queries are fresh rows of the same process (their own stream), so none is in the base set.
 * Every chunk of rows has its own seeded stream: a chunk is generated without the ones before it.
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { float32ToLE } from '../../src/float32';
import { DEFAULT_CHUNK_ROWS, fileChunks, fileRow, readFloats, type Dataset } from './dataset';
import { Rng } from './rng';

export interface SyntheticModel {
  /** Weight of the shared mean direction. */
  meanWeight: number;
  /** Weight of the cluster centre. */
  centreWeight: number;
  /** Weight of the row's own noise. */
  noiseWeight: number;
  /** Power-law exponent of the centres' spectrum (variance of direction i ~ (i+1)^-alpha). */
  centreAlpha: number;
  /** Power-law exponent of the noise spectrum. */
  noiseAlpha: number;
  /** Weight of the sub-cluster offset (a few rows on one sub-topic inside a cluster). */
  subWeight: number;
  /** Power-law exponent of the sub-cluster offsets' spectrum. */
  subAlpha: number;
  /** Mean rows per cluster. */
  clusterSize: number;
  /** Sub-clusters per cluster. */
  subClusters: number;
  /** Log-normal spread of cluster sizes (sigma of the log weight). */
  clusterSpread: number;
}

/** Bump when the model or the generator changes, so cached data and ground truth are rebuilt. */
export const GENERATOR_VERSION = 1;

export const DEFAULT_MODEL: SyntheticModel = {
  meanWeight: 0.44,
  centreWeight: 0.72,
  noiseWeight: 0.56,
  centreAlpha: 1.1,
  noiseAlpha: 0.5,
  subWeight: 0.4,
  subAlpha: 0.6,
  clusterSize: 110,
  subClusters: 12,
  clusterSpread: 0.5,
};

const WORDS = (
  'the of and in to was a his for on as with by he from at which that were is first an it her also after ' +
  'but had their its one are not two this they new or she city time has been who war during be album game ' +
  'species year river season when team later only against other into between most song north first built'
).split(' ');

/** Standard deviations of a power-law spectrum whose variances sum to 1. */
function spectrum(dim: number, alpha: number): Float64Array {
  const scales = new Float64Array(dim);
  let total = 0;
  for (let i = 0; i < dim; i++) {
    scales[i] = (i + 1) ** (-alpha / 2);
    total += scales[i] * scales[i];
  }
  for (let i = 0; i < dim; i++) scales[i] /= Math.sqrt(total);
  return scales;
}

/** The fixed parts of one synthetic set: mean direction, cluster centres and their sampling weights. */
export class SyntheticGenerator {
  readonly clusters: number;
  private readonly mean: Float64Array;
  private readonly centres: Float32Array;
  private readonly cumulative: Float64Array;
  private readonly noiseScales: Float64Array;
  private readonly subScales: Float64Array;

  constructor(
    readonly n: number,
    readonly dim: number,
    readonly seed: string,
    readonly model: SyntheticModel = DEFAULT_MODEL,
  ) {
    this.clusters = Math.max(1, Math.round(n / model.clusterSize));
    const rng = new Rng(`synthetic:${seed}:${dim}:fixed`);
    this.mean = new Float64Array(dim);
    let norm = 0;
    for (let i = 0; i < dim; i++) {
      this.mean[i] = rng.gaussian();
      norm += this.mean[i] ** 2;
    }
    for (let i = 0; i < dim; i++) this.mean[i] /= Math.sqrt(norm);
    const centreScales = spectrum(dim, model.centreAlpha);
    this.noiseScales = spectrum(dim, model.noiseAlpha);
    this.subScales = spectrum(dim, model.subAlpha);
    this.centres = new Float32Array(this.clusters * dim);
    this.cumulative = new Float64Array(this.clusters);
    let weight = 0;
    for (let k = 0; k < this.clusters; k++) {
      for (let i = 0; i < dim; i++) this.centres[k * dim + i] = rng.gaussian() * centreScales[i];
      weight += Math.exp(model.clusterSpread * rng.gaussian());
      this.cumulative[k] = weight;
    }
    for (let k = 0; k < this.clusters; k++) this.cumulative[k] /= weight;
  }

  private pickCluster(rng: Rng): number {
    const u = rng.uniform();
    let lo = 0;
    let hi = this.clusters - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cumulative[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** `count` unit rows from `rng` into `out` (row-major). */
  fill(rng: Rng, count: number, out: Float32Array): void {
    const { dim, model, mean, centres, noiseScales, subScales } = this;
    const row = new Float64Array(dim);
    for (let r = 0; r < count; r++) {
      const k = this.pickCluster(rng);
      // The sub-cluster's offset is regenerated from its own stream: no table of them is kept.
      const sub = new Rng(`synthetic:${this.seed}:${dim}:sub:${k}:${rng.int(model.subClusters)}`);
      let norm = 0;
      for (let i = 0; i < dim; i++) {
        const x =
          model.meanWeight * mean[i] +
          model.centreWeight * centres[k * dim + i] +
          model.subWeight * subScales[i] * sub.gaussian() +
          model.noiseWeight * noiseScales[i] * rng.gaussian();
        row[i] = x;
        norm += x * x;
      }
      const scale = 1 / Math.sqrt(norm);
      for (let i = 0; i < dim; i++) out[r * dim + i] = row[i] * scale;
    }
  }

  /** Rows `start .. start+count-1` of chunk `index` (chunks of DEFAULT_CHUNK_ROWS rows). */
  chunk(index: number): Float32Array {
    const start = index * DEFAULT_CHUNK_ROWS;
    const count = Math.min(DEFAULT_CHUNK_ROWS, this.n - start);
    const out = new Float32Array(count * this.dim);
    this.fill(new Rng(`synthetic:${this.seed}:${this.dim}:chunk:${index}`), count, out);
    return out;
  }

  queries(count: number): Float32Array {
    const out = new Float32Array(count * this.dim);
    this.fill(new Rng(`synthetic:${this.seed}:${this.dim}:queries`), count, out);
    return out;
  }
}

/** A short sentence-like text for a synthetic id (users' rows carry text; it travels with each fetch). */
export function syntheticText(id: number): string {
  const rng = new Rng(`text:${id}`);
  const words = Array.from({ length: 18 }, () => WORDS[rng.int(WORDS.length)]);
  return `Item ${id}: ${words.join(' ')}.`;
}

export interface SyntheticOptions {
  n: number;
  dim: number;
  queries: number;
  seed: string;
  cacheDir: string;
  onProgress?: (rowsWritten: number) => void;
}

/**
 * The synthetic set, generated once into the cache folder (base rows streamed to a float32 file a
 * chunk at a time) and read back in chunks afterwards.
 */
export function syntheticSet(options: SyntheticOptions): Dataset {
  const { n, dim, queries: queryCount, seed, cacheDir } = options;
  const key = `synthetic-v${GENERATOR_VERSION}-n${n}-d${dim}-s${seed}`;
  const dir = join(cacheDir, key);
  const basePath = join(dir, 'base.f32');
  const queryPath = join(dir, `queries-${queryCount}.f32`);
  if (!existsSync(basePath) || !existsSync(queryPath)) {
    mkdirSync(dir, { recursive: true });
    const generator = new SyntheticGenerator(n, dim, seed);
    if (!existsSync(basePath)) {
      const partial = `${basePath}.partial`;
      const fd = openSync(partial, 'w');
      try {
        for (let c = 0, written = 0; written < n; c++) {
          const rows = generator.chunk(c);
          writeSync(fd, float32ToLE(rows));
          written += rows.length / dim;
          options.onProgress?.(written);
        }
      } finally {
        closeSync(fd);
      }
      renameSync(partial, basePath);
    }
    const q = generator.queries(queryCount);
    writeFileSync(queryPath, float32ToLE(q));
  }
  const clusters = Math.max(1, Math.round(n / DEFAULT_MODEL.clusterSize));
  return {
    label: `synthetic ${n.toLocaleString('en-US')} x ${dim}`,
    kind: 'synthetic',
    key: `${key}-q${queryCount}`,
    source:
      `seeded generator (seed "${seed}", generator v${GENERATOR_VERSION}): ${clusters.toLocaleString('en-US')} clusters of ` +
      `~${DEFAULT_MODEL.clusterSize} rows around a shared mean direction, power-law spectra; held-out queries from the same process`,
    n,
    dim,
    queries: readFloats(queryPath),
    queryCount,
    chunks: (rows = DEFAULT_CHUNK_ROWS) => fileChunks(basePath, n, dim, rows),
    row: (id) => fileRow(basePath, dim, id),
    text: syntheticText,
  };
}
