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
 * Four planes per pass over a vector, accumulated in doubles; no allocation per vector.
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
  const bits = new Uint8Array(nPlanes);
  for (let v = 0; v < count; v++) {
    const base = v * dim;
    let p = 0;
    for (; p + 4 <= nPlanes; p += 4) {
      const o0 = p * dim;
      const o1 = o0 + dim;
      const o2 = o1 + dim;
      const o3 = o2 + dim;
      let d0 = 0;
      let d1 = 0;
      let d2 = 0;
      let d3 = 0;
      for (let i = 0; i < dim; i++) {
        const x = vectors[base + i];
        d0 += x * planes[o0 + i];
        d1 += x * planes[o1 + i];
        d2 += x * planes[o2 + i];
        d3 += x * planes[o3 + i];
      }
      bits[p] = d0 > 0 ? 1 : 0;
      bits[p + 1] = d1 > 0 ? 1 : 0;
      bits[p + 2] = d2 > 0 ? 1 : 0;
      bits[p + 3] = d3 > 0 ? 1 : 0;
    }
    for (; p < nPlanes; p++) {
      const o = p * dim;
      let d = 0;
      for (let i = 0; i < dim; i++) d += vectors[base + i] * planes[o + i];
      bits[p] = d > 0 ? 1 : 0;
    }
    for (let k = 0; k < bands; k++) {
      let value = 0;
      const first = k * rows;
      for (let j = 0; j < rows; j++) value += bits[first + j] * 2 ** j;
      out[v * bands + k] = value;
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
