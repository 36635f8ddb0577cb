import { LshrsError } from '../errors';
import { intOption } from '../validate';
import { MAX_ROWS_PER_BAND, optimalParams } from './scurve';

/** Most shards an index may have: a query sends one script call per shard. */
export const MAX_SHARDS = 256;

/** The few numbers that fix an index: with them any process rebuilds its hyperplanes bit for bit. */
export interface IndexShape {
  readonly dim: number;
  readonly seed: number | string;
  readonly bands: number;
  readonly rows: number;
  /** Reverse-record hashes the ids are spread over (in each shard). */
  readonly reversePages: number;
  /** Shards the ids are spread over, each under its own hash tag. */
  readonly shards: number;
  /** Bits of the sketch each bucket record carries, by which a query ranks its candidates. */
  readonly sketchBits: number;
  /** The most records a bucket string holds; past it, records wait in the bucket's overflow list. */
  readonly bucketCap: number;
  /**
   * Centring (the mean subtracted before hashing): `true` estimates the mean from the first batch
   * written to a new index (or takes the one an existing index stores), `false` hashes raw
   * vectors, a vector is the mean to use.
   */
  readonly centre: boolean | Float32Array;
}

export interface ShapeOptions {
  dim: number;
  seed?: number | string;
  numPerm?: number;
  numBands?: number;
  rowsPerBand?: number;
  threshold?: number;
  reversePages?: number;
  shards?: number;
  /** Ids the index is planned for: with no bands and rows given, sets the rows per band (see sizedRows). */
  expectedSize?: number;
  sketchBits?: number;
  bucketCap?: number;
  centre?: boolean | ArrayLike<number>;
}

export const SHAPE_DEFAULTS = {
  seed: 42,
  numPerm: 128,
  threshold: 0.5,
  reversePages: 65536,
  shards: 1,
  sketchBits: 256,
  bucketCap: 4096,
  expectedSize: 1_000_000,
} as const;

// The planner integrates hundreds of S-curves; an options object with the defaults should not pay
// for that on every construction.
const plans = new Map<string, { bands: number; rows: number }>();
function plannedParams(numPerm: number, threshold: number): { bands: number; rows: number } {
  const key = `${numPerm}/${threshold}`;
  let plan = plans.get(key);
  if (!plan) {
    const { bands, rows } = optimalParams(numPerm, threshold);
    plan = { bands, rows };
    plans.set(key, plan);
  }
  return plan;
}

/**
 * Bands (hash tables) of an index planned for a size (`expectedSize`). Each band costs a bucket
 * record (4 bytes and the sketch) per id; since every candidate is ranked by its sketch, recall is
 * bought more cheaply with probes per band than with bands (BENCHMARKS.md).
 */
export const SIZED_BANDS = 4;

/**
 * Rows per band for an index of about `size` ids: buckets of about 64 ids on average (at least 8
 * rows). A bucket read costs Redis about as much per key as 64 records cost in bytes, so buckets of
 * that size balance the two; multi-probe (defaultProbes) reads as many of them as recall needs.
 */
export function sizedRows(size: number): number {
  return Math.min(MAX_ROWS_PER_BAND, Math.max(8, Math.ceil(Math.log2(size / 64))));
}

/**
 * Reverse pages for an index of about `size` ids in each shard: at most ~96 ids a page, so that a
 * page stays in Redis' compact listpack encoding (up to 128 fields by default) without a small
 * index paying a hash key for every id or two; 65536, the default, from ~6.3M ids a shard.
 */
export function sizedReversePages(size: number): number {
  return 2 ** Math.min(16, Math.max(6, Math.ceil(Math.log2(size / 96))));
}

const positiveInt = (name: string, value: unknown, max: number) => intOption(name, value, 1, max);

/** Validates the shape options and fills in the defaults (bands and rows from the S-curve planner). */
export function resolveShape(options: ShapeOptions): IndexShape {
  const dim = positiveInt('dim', options.dim, 65536);
  const seed = options.seed ?? SHAPE_DEFAULTS.seed;
  if (!(typeof seed === 'string' ? seed.length > 0 && seed.length <= 128 : Number.isSafeInteger(seed))) {
    throw new LshrsError('BAD_OPTION', `seed must be a safe integer or a string of 1-128 characters, got ${String(seed)}`);
  }
  const shards = positiveInt('shards', options.shards ?? SHAPE_DEFAULTS.shards, MAX_SHARDS);
  const sizedPages =
    options.expectedSize === undefined
      ? SHAPE_DEFAULTS.reversePages
      : sizedReversePages(positiveInt('expectedSize', options.expectedSize, 2 ** 40) / shards);
  const reversePages = positiveInt('reversePages', options.reversePages ?? sizedPages, 1 << 24);
  let bands = options.numBands;
  let rows = options.rowsPerBand;
  if (bands === undefined || rows === undefined) {
    const numPerm = positiveInt('numPerm', options.numPerm ?? SHAPE_DEFAULTS.numPerm, 4096);
    if (bands !== undefined) rows = Math.min(MAX_ROWS_PER_BAND, Math.floor(numPerm / positiveInt('numBands', bands, numPerm)));
    else if (rows !== undefined) bands = Math.floor(numPerm / positiveInt('rowsPerBand', rows, Math.min(numPerm, MAX_ROWS_PER_BAND)));
    else if (options.expectedSize !== undefined) {
      bands = SIZED_BANDS;
      rows = sizedRows(positiveInt('expectedSize', options.expectedSize, 2 ** 40));
    } else if (options.numPerm !== undefined || options.threshold !== undefined) {
      ({ bands, rows } = plannedParams(numPerm, options.threshold ?? SHAPE_DEFAULTS.threshold));
    } else {
      bands = SIZED_BANDS;
      rows = sizedRows(SHAPE_DEFAULTS.expectedSize);
    }
  }
  const sketchBits = intOption('sketchBits', options.sketchBits ?? SHAPE_DEFAULTS.sketchBits, 32, 2048);
  if (sketchBits % 32 !== 0) throw new LshrsError('BAD_OPTION', `sketchBits must be a multiple of 32, got ${sketchBits}`);
  const bucketCap = intOption('bucketCap', options.bucketCap ?? SHAPE_DEFAULTS.bucketCap, 16, 1_000_000);
  return Object.freeze({
    dim,
    seed,
    bands: positiveInt('numBands', bands, 4096),
    rows: positiveInt('rowsPerBand', rows, MAX_ROWS_PER_BAND),
    reversePages,
    shards,
    sketchBits,
    bucketCap,
    centre: resolveCentre(options.centre, dim),
  });
}

function resolveCentre(centre: ShapeOptions['centre'], dim: number): boolean | Float32Array {
  if (centre === undefined || centre === true) return true;
  if (centre === false) return false;
  if (typeof centre === 'object' && centre !== null && typeof centre.length === 'number') {
    if (centre.length !== dim) throw new LshrsError('BAD_OPTION', `centre has ${centre.length} dimensions, the index has ${dim}`);
    const mean = Float32Array.from(centre);
    for (let i = 0; i < dim; i++) {
      if (!Number.isFinite(mean[i])) throw new LshrsError('BAD_OPTION', `centre[${i}] is ${String(centre[i])}, not a finite number`);
    }
    return mean;
  }
  throw new LshrsError('BAD_OPTION', `centre must be true, false or a vector of ${dim} numbers`);
}
