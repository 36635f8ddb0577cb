/*
 * One index's hashing: its hyperplanes from (dim, seed) — the bucket planes (bands x rows) and
 * then the sketch planes — and, once known, the mean it centres on. Every vector, written or
 * queried, goes through the same projection kernel, so a query's bits are the index's bits.
 */
import type { IndexShape } from '../params/shape';
import { hyperplanes } from './hyperplanes';
import { bucketValues, packSketches, planeOffsets, projectAll } from './projection';
import { bytesPerBand, packSignature } from './signatures';

/** A batch hashed: band values, sketches, and the centred projections they came from. */
export interface HashedVectors {
  count: number;
  /** count x bands bucket values. */
  values: Uint32Array;
  /** count x sketchBits/8 bytes. */
  sketches: Uint8Array;
  /** count x planes centred projections. */
  projections: Float64Array;
}

export class Hasher {
  readonly planes: Float32Array;
  readonly planeCount: number;
  /** Bucket planes come first; the sketch's start here. */
  readonly sketchStart: number;
  private offsets: Float64Array | null = null;
  private mean: Float32Array | null = null;

  constructor(private readonly shape: IndexShape) {
    this.sketchStart = shape.bands * shape.rows;
    this.planeCount = this.sketchStart + shape.sketchBits;
    this.planes = hyperplanes(shape.dim, this.planeCount, shape.seed);
  }

  /** Centres on `mean` from now on (null: raw vectors). */
  useMean(mean: Float32Array | null): void {
    if (mean === this.mean) return;
    this.mean = mean;
    this.offsets = planeOffsets(this.planes, this.shape.dim, mean);
  }

  hash(vectors: Float32Array, count: number): HashedVectors {
    const { bands, rows, sketchBits, dim } = this.shape;
    const projections = projectAll(vectors, count, this.planes, dim, this.offsets);
    return {
      count,
      values: bucketValues(projections, count, this.planeCount, bands, rows),
      sketches: packSketches(projections, count, this.planeCount, this.sketchStart, sketchBits),
      projections,
    };
  }

  /** Vector i's signature as stored: its band values (big-endian, bytesPerBand each), then its sketch. */
  signature(hashed: HashedVectors, i: number): Buffer {
    const { bands, rows, sketchBits } = this.shape;
    const bytes = sketchBits / 8;
    const values = packSignature(hashed.values, i * bands, bands, rows);
    const out = Buffer.allocUnsafe(values.length + bytes);
    values.copy(out, 0);
    out.set(hashed.sketches.subarray(i * bytes, (i + 1) * bytes), values.length);
    return out;
  }

  /** Bytes of the band values at the start of a signature. */
  get valueBytes(): number {
    return this.shape.bands * bytesPerBand(this.shape.rows);
  }
}
