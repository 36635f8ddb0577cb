import { toFloat32 } from '../../src/vectors';

describe('vector validation', () => {
  test.each([
    ['Float32Array', (xs: number[]) => Float32Array.from(xs)],
    ['Float64Array', (xs: number[]) => Float64Array.from(xs)],
    ['number[]', (xs: number[]) => xs],
  ])('%s: wrong length, NaN, Infinity and zeros are refused; good values pass as float32', (_kind, make) => {
    expect(() => toFloat32(make([1, 2]), 3, 'v')).toThrow(
      expect.objectContaining({ code: 'DIMENSION', message: 'v: vector has 2 dimensions, the index has 3' }),
    );
    expect(() => toFloat32(make([1, NaN, 2]), 3, 'v')).toThrow(
      expect.objectContaining({ code: 'NOT_FINITE', message: 'v: vector[1] is NaN, not a finite number' }),
    );
    expect(() => toFloat32(make([1, 2, -Infinity]), 3, 'v')).toThrow(expect.objectContaining({ code: 'NOT_FINITE' }));
    expect(() => toFloat32(make([0, 0, 0]), 3, 'v')).toThrow(expect.objectContaining({ code: 'ZERO_VECTOR' }));
    expect(Array.from(toFloat32(make([0.1, -2, 3]), 3, 'v'))).toEqual([Math.fround(0.1), -2, 3]);
  });

  test('a double too large for float32 is refused, not stored as Infinity', () => {
    expect(() => toFloat32([1e39, 1, 1], 3, 'v')).toThrow(expect.objectContaining({ code: 'NOT_FINITE' }));
  });
});
