import { gaussianStream } from '../../src/hashing/gaussian';
import { hyperplanes } from '../../src/hashing/hyperplanes';
import { bucketValues, packSketches, planeOffsets, projectAll, sketchBytes } from '../../src/hashing/projection';
import { bandValues } from '../../src/hashing/signatures';

function randomVectors(count: number, dim: number, seed: string): Float32Array {
  const next = gaussianStream(seed);
  return Float32Array.from({ length: count * dim }, next);
}

/** The plain loop projectAll must agree with bit for bit. */
function naive(vectors: Float32Array, count: number, planes: Float32Array, dim: number, mean: Float32Array | null): Float64Array {
  const nPlanes = planes.length / dim;
  const out = new Float64Array(count * nPlanes);
  for (let v = 0; v < count; v++) {
    for (let p = 0; p < nPlanes; p++) {
      let s = 0;
      for (let i = 0; i < dim; i++) s += vectors[v * dim + i] * planes[p * dim + i];
      let off = 0;
      if (mean) for (let i = 0; i < dim; i++) off += planes[p * dim + i] * mean[i];
      out[v * nPlanes + p] = s - off;
    }
  }
  return out;
}

/** FNV-1a over a typed array's bytes, as 8 hex digits. */
function fingerprint(a: ArrayBufferView): string {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

describe('projections', () => {
  test('planeOffsets is each plane dotted with the mean, null without one', () => {
    const dim = 7;
    const planes = hyperplanes(dim, 5, 1);
    const mean = randomVectors(1, dim, 'mean');
    expect(planeOffsets(planes, dim, null)).toBeNull();
    const off = planeOffsets(planes, dim, mean)!;
    expect(off).toHaveLength(5);
    for (let p = 0; p < 5; p++) {
      let s = 0;
      for (let i = 0; i < dim; i++) s += planes[p * dim + i] * mean[i];
      expect(off[p]).toBe(s);
    }
  });

  test.each([
    [1, 16, 8],
    [5, 16, 11],
    [6, 33, 13],
    [7, 3, 4],
  ])('projectAll of %i vectors (dim %i, %i planes) equals the plain loop, with and without a mean', (count, dim, nPlanes) => {
    const planes = hyperplanes(dim, nPlanes, 'p');
    const vectors = randomVectors(count, dim, `v${count}`);
    const mean = randomVectors(1, dim, 'm');
    expect(projectAll(vectors, count, planes, dim, null)).toEqual(naive(vectors, count, planes, dim, null));
    expect(projectAll(vectors, count, planes, dim, planeOffsets(planes, dim, mean))).toEqual(naive(vectors, count, planes, dim, mean));
  });

  test('a vector projects the same alone as in a batch, bit for bit', () => {
    const dim = 384;
    const nPlanes = 31; // not a multiple of four: the remainder loop too
    const planes = hyperplanes(dim, nPlanes, 3);
    const vectors = randomVectors(5, dim, 'batch');
    const offsets = planeOffsets(planes, dim, randomVectors(1, dim, 'mean'));
    for (const off of [null, offsets]) {
      const batch = projectAll(vectors, 5, planes, dim, off);
      for (let v = 0; v < 5; v++) {
        const alone = projectAll(vectors.subarray(v * dim, (v + 1) * dim), 1, planes, dim, off);
        const row = batch.subarray(v * nPlanes, (v + 1) * nPlanes);
        expect(Buffer.from(alone.buffer).equals(Buffer.from(row.slice().buffer))).toBe(true);
      }
    }
  });

  test('writes into a given buffer', () => {
    const planes = hyperplanes(4, 8, 1);
    const vectors = randomVectors(3, 4, 'out');
    const out = new Float64Array(24).fill(Number.NaN);
    expect(projectAll(vectors, 3, planes, 4, null, out)).toBe(out);
    expect(out).toEqual(naive(vectors, 3, planes, 4, null));
  });

  test('bucketValues equals bandValues on uncentred projections of the first bands*rows planes', () => {
    const dim = 24;
    for (const [bands, rows] of [
      [4, 8],
      [3, 32],
      [5, 3],
    ]) {
      const extra = 9;
      const nPlanes = bands * rows + extra;
      const planes = hyperplanes(dim, nPlanes, 'bv');
      const vectors = randomVectors(9, dim, `bv${rows}`);
      const proj = projectAll(vectors, 9, planes, dim, null);
      const expected = bandValues(vectors, 9, planes.subarray(0, bands * rows * dim), { dim, bands, rows });
      expect(bucketValues(proj, 9, nPlanes, bands, rows)).toEqual(expected);
    }
  });

  test('32-row bucket values are unsigned', () => {
    const proj = new Float64Array(32).fill(1);
    expect(bucketValues(proj, 1, 32, 1, 32)[0]).toBe(4294967295);
    proj[0] = -1;
    expect(bucketValues(proj, 1, 32, 1, 32)[0]).toBe(4294967294);
  });

  test('packSketches puts bit b of a sketch in byte b>>3 at bit b&7', () => {
    expect(sketchBytes(64)).toBe(8);
    expect(() => sketchBytes(12)).toThrow(RangeError);
    const nPlanes = 40;
    const first = 5;
    const count = 3;
    const next = gaussianStream('sk');
    const proj = Float64Array.from({ length: count * nPlanes }, next);
    const packed = packSketches(proj, count, nPlanes, first, 32);
    expect(packed).toHaveLength(count * 4);
    for (let v = 0; v < count; v++) {
      for (let b = 0; b < 32; b++) {
        const bit = (packed[v * 4 + (b >> 3)] >> (b & 7)) & 1;
        expect(bit).toBe(proj[v * nPlanes + first + b] > 0 ? 1 : 0);
      }
    }
    const out = new Uint8Array(12).fill(0xff);
    expect(packSketches(proj, count, nPlanes, first, 32, out)).toEqual(packed);
  });

  test('golden: stored hashes of fixed vectors do not move', () => {
    const dim = 16;
    const bands = 4;
    const rows = 8;
    const sketchBits = 64;
    const nPlanes = bands * rows + sketchBits;
    const planes = hyperplanes(dim, nPlanes, 42);
    const count = 3;
    const vectors = Float32Array.from({ length: count * dim }, (_, i) => (((i * 37) % 23) - 11) / 7);
    const mean = Float32Array.from({ length: dim }, (_, i) => 0.05 * (i - 7));
    const proj = projectAll(vectors, count, planes, dim, planeOffsets(planes, dim, mean));
    expect(fingerprint(planes)).toBe('ae74543b');
    expect(fingerprint(proj)).toBe('b19f39ca');
    expect(Array.from(proj.subarray(0, 3))).toEqual([-4.35114682662663, -10.857287232195496, -2.7778268953059078]);
    expect(Array.from(bucketValues(proj, count, nPlanes, bands, rows))).toEqual([192, 84, 166, 155, 167, 66, 200, 23, 59, 217, 249, 107]);
    expect(Buffer.from(packSketches(proj, count, nPlanes, bands * rows, sketchBits)).toString('hex')).toBe(
      '14dde3848663933fa5d4987a29acf74482309c5cf49944d8',
    );
  });
});
