import { bucketValues, projectAll } from './projection';

/** Shape of a banded SimHash signature. */
export interface BandLayout {
  dim: number;
  bands: number;
  rows: number;
}

/** Bytes one band value takes in a stored signature (big-endian). */
export function bytesPerBand(rows: number): number {
  return Math.ceil(rows / 8);
}

/**
 * Band values of `count` vectors laid out row-major in `vectors`: for band k, the sign bits of
 * hyperplanes k*rows .. k*rows+rows-1, bit j set when the projection on plane k*rows+j is positive.
 * The projections are the index's own kernel (`projectAll`, uncentred), so these are the values an
 * uncentred index stores.
 */
export function bandValues(
  vectors: Float32Array,
  count: number,
  planes: Float32Array,
  layout: BandLayout,
  out: Uint32Array = new Uint32Array(count * layout.bands),
): Uint32Array {
  const { dim, bands, rows } = layout;
  const nPlanes = bands * rows;
  const projections = projectAll(vectors, count, planes.subarray(0, nPlanes * dim), dim, null);
  return bucketValues(projections, count, nPlanes, bands, rows, out);
}

/** Packs one vector's band values into the signature bytes stored in its reverse record. */
export function packSignature(values: Uint32Array, offset: number, bands: number, rows: number): Buffer {
  const width = bytesPerBand(rows);
  const buf = Buffer.allocUnsafe(bands * width);
  for (let k = 0; k < bands; k++) {
    let value = values[offset + k];
    for (let b = width - 1; b >= 0; b--) {
      buf[k * width + b] = value & 0xff;
      value = Math.floor(value / 256);
    }
  }
  return buf;
}

/** The band values of a stored signature (the inverse of {@link packSignature}). */
export function unpackSignature(signature: Uint8Array, bands: number, rows: number): number[] {
  const width = bytesPerBand(rows);
  const values: number[] = [];
  for (let k = 0; k < bands; k++) {
    let value = 0;
    for (let b = 0; b < width; b++) value = value * 256 + signature[k * width + b];
    values.push(value);
  }
  return values;
}
