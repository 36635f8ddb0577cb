/**
 * Projections of vectors on the hyperplanes, once, and what the query engine derives from them: the
 * bucket value of each table (the sign bits of its planes, as bandValues computes them) and the
 * sketch stored beside each ordinal (the sign bits of further planes, packed). One pass of dot
 * products serves both, and centring on a mean is one subtraction per plane.
 */

/**
 * What centring on `mean` subtracts from each plane's projection: plane p dotted with the mean, so
 * (x - mean)·plane = x·plane - offset[p] without a centred copy of every vector. Null when there is
 * no mean. Accumulated in a double, i ascending.
 */
export function planeOffsets(planes: Float32Array, dim: number, mean: Float32Array | null): Float64Array | null {
  if (mean === null) return null;
  const nPlanes = planes.length / dim;
  const out = new Float64Array(nPlanes);
  for (let p = 0; p < nPlanes; p++) {
    const o = p * dim;
    let s = 0;
    for (let i = 0; i < dim; i++) s += planes[o + i] * mean[i];
    out[p] = s;
  }
  return out;
}

/**
 * Projections of `count` vectors (row-major in `vectors`) on every plane, less the plane's offset:
 * out[v*nPlanes + p]. The hot loop of every write and query (and of bandValues): two vectors against
 * four planes per pass (eight double accumulators, each plane value loaded once for both vectors),
 * in index order, so every projection is the sum a plain loop computes and a vector projects the
 * same alone or in any batch; no allocation per vector.
 */
export function projectAll(
  vectors: Float32Array,
  count: number,
  planes: Float32Array,
  dim: number,
  offsets: Float64Array | null,
  out: Float64Array = new Float64Array(count * (planes.length / dim)),
): Float64Array {
  const nPlanes = planes.length / dim;
  for (let v = 0; v < count; v += 2) {
    const a = v * dim;
    // An odd last vector is paired with itself; only its own row is written.
    const pair = v + 1 < count;
    const b = pair ? a + dim : a;
    const ra = v * nPlanes;
    const rb = pair ? ra + nPlanes : ra;
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
      if (offsets !== null) {
        const f0 = offsets[p];
        const f1 = offsets[p + 1];
        const f2 = offsets[p + 2];
        const f3 = offsets[p + 3];
        a0 -= f0;
        a1 -= f1;
        a2 -= f2;
        a3 -= f3;
        b0 -= f0;
        b1 -= f1;
        b2 -= f2;
        b3 -= f3;
      }
      // For an unpaired vector rb === ra and both writes hold the same values.
      out[rb + p] = b0;
      out[rb + p + 1] = b1;
      out[rb + p + 2] = b2;
      out[rb + p + 3] = b3;
      out[ra + p] = a0;
      out[ra + p + 1] = a1;
      out[ra + p + 2] = a2;
      out[ra + p + 3] = a3;
    }
    for (; p < nPlanes; p++) {
      const o = p * dim;
      let da = 0;
      let db = 0;
      for (let i = 0; i < dim; i++) {
        const q = planes[o + i];
        da += vectors[a + i] * q;
        db += vectors[b + i] * q;
      }
      const f = offsets === null ? 0 : offsets[p];
      out[rb + p] = db - f;
      out[ra + p] = da - f;
    }
  }
  return out;
}

/**
 * Bucket value of each of `bands` tables for `count` projected vectors: bit j of table k is set
 * when the projection on plane k*rows+j is positive (bandValues' layout, so uncentred projections on
 * the same planes give the same values). Rows go up to 32, so bits are added as powers of two, never
 * shifted into the sign bit.
 */
export function bucketValues(
  proj: Float64Array,
  count: number,
  nPlanes: number,
  bands: number,
  rows: number,
  out: Uint32Array = new Uint32Array(count * bands),
): Uint32Array {
  for (let v = 0; v < count; v++) {
    for (let k = 0; k < bands; k++) {
      const first = v * nPlanes + k * rows;
      let value = 0;
      let bit = 1;
      for (let j = 0; j < rows; j++) {
        if (proj[first + j] > 0) value += bit;
        bit *= 2;
      }
      out[v * bands + k] = value;
    }
  }
  return out;
}

/** Bytes of one packed sketch of `sketchBits` sign bits (a whole number of bytes). */
export function sketchBytes(sketchBits: number): number {
  if (sketchBits % 8 !== 0) throw new RangeError(`sketchBits must be a multiple of 8, got ${sketchBits}`);
  return sketchBits / 8;
}

/**
 * The sketches of `count` projected vectors, `sketchBits / 8` bytes each, back to back: bit b of a
 * sketch is the sign of the projection on plane first+b, in byte b>>3 at bit b&7 (LSB first), the
 * layout the sketch scorer's byte tables index.
 */
export function packSketches(
  proj: Float64Array,
  count: number,
  nPlanes: number,
  first: number,
  sketchBits: number,
  out: Uint8Array = new Uint8Array(count * sketchBytes(sketchBits)),
): Uint8Array {
  const width = sketchBytes(sketchBits);
  for (let v = 0; v < count; v++) {
    const row = v * nPlanes + first;
    for (let byte = 0; byte < width; byte++) {
      const o = row + 8 * byte;
      let acc = 0;
      for (let j = 0; j < 8; j++) if (proj[o + j] > 0) acc |= 1 << j;
      out[v * width + byte] = acc;
    }
  }
  return out;
}
