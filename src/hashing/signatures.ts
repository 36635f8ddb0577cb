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
 * Two vectors against four planes per pass (eight accumulators, each plane value loaded once for
 * both vectors), accumulated in doubles in index order, so every projection is the same sum as a
 * plain loop computes; no allocation per vector.
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
  const bits = new Uint8Array(2 * nPlanes);
  for (let v = 0; v < count; v += 2) {
    const a = v * dim;
    // An odd last vector is paired with itself; only its own bits are kept.
    const b = v + 1 < count ? a + dim : a;
    let p = 0;
    for (; p + 4 <= nPlanes; p += 4) {
      const o0 = p * dim;
      const o1 = o0 + dim;
      const o2 = o1 + dim;
      const o3 = o2 + dim;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      let b0 = 0;
      let b1 = 0;
      let b2 = 0;
      let b3 = 0;
      for (let i = 0; i < dim; i++) {
        const x = vectors[a + i];
        const y = vectors[b + i];
        const p0 = planes[o0 + i];
        const p1 = planes[o1 + i];
        const p2 = planes[o2 + i];
        const p3 = planes[o3 + i];
        a0 += x * p0;
        a1 += x * p1;
        a2 += x * p2;
        a3 += x * p3;
        b0 += y * p0;
        b1 += y * p1;
        b2 += y * p2;
        b3 += y * p3;
      }
      bits[p] = a0 > 0 ? 1 : 0;
      bits[p + 1] = a1 > 0 ? 1 : 0;
      bits[p + 2] = a2 > 0 ? 1 : 0;
      bits[p + 3] = a3 > 0 ? 1 : 0;
      bits[nPlanes + p] = b0 > 0 ? 1 : 0;
      bits[nPlanes + p + 1] = b1 > 0 ? 1 : 0;
      bits[nPlanes + p + 2] = b2 > 0 ? 1 : 0;
      bits[nPlanes + p + 3] = b3 > 0 ? 1 : 0;
    }
    for (; p < nPlanes; p++) {
      const o = p * dim;
      let da = 0;
      let db = 0;
      for (let i = 0; i < dim; i++) {
        da += vectors[a + i] * planes[o + i];
        db += vectors[b + i] * planes[o + i];
      }
      bits[p] = da > 0 ? 1 : 0;
      bits[nPlanes + p] = db > 0 ? 1 : 0;
    }
    const pair = v + 1 < count ? 2 : 1;
    for (let w = 0; w < pair; w++) {
      for (let k = 0; k < bands; k++) {
        let value = 0;
        const first = w * nPlanes + k * rows;
        for (let j = 0; j < rows; j++) value += bits[first + j] * 2 ** j;
        out[(v + w) * bands + k] = value;
      }
    }
  }
  return out;
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
