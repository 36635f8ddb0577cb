import { collisionProbability, falseNegativeRate, falsePositiveRate, optimalParams, sCurve, sqrtParams } from '../../src/params/scurve';
import { resolveShape } from '../../src/params/shape';

describe('S-curve', () => {
  test('the bit-collision probability is 1 - angle/pi', () => {
    expect(collisionProbability(1)).toBe(1);
    expect(collisionProbability(0)).toBeCloseTo(0.5, 12);
    expect(collisionProbability(-1)).toBe(0);
    expect(collisionProbability(0.5)).toBeCloseTo(2 / 3, 12);
  });

  test('P(s) = 1 - (1 - p^r)^b rises with similarity', () => {
    let previous = -1;
    for (let s = -1; s <= 1; s += 0.05) {
      const p = sCurve(s, 16, 8);
      expect(p).toBeGreaterThanOrEqual(previous);
      previous = p;
    }
    const p = collisionProbability(0.68);
    expect(sCurve(0.68, 16, 8)).toBeCloseTo(1 - (1 - p ** 8) ** 16, 12);
  });

  test('more bands lower false negatives and raise false positives', () => {
    expect(falseNegativeRate(0.5, 32, 8)).toBeLessThan(falseNegativeRate(0.5, 8, 8));
    expect(falsePositiveRate(0.5, 32, 8)).toBeGreaterThan(falsePositiveRate(0.5, 8, 8));
  });
});

describe('optimalParams', () => {
  test('the defaults (128 hyperplanes, threshold 0.5) plan 16 bands of 8 rows', () => {
    const plan = optimalParams(128, 0.5);
    expect([plan.bands, plan.rows]).toEqual([16, 8]);
    expect(plan.falsePositive).toBeCloseTo(falsePositiveRate(0.5, 16, 8), 12);
    expect(plan.falseNegative).toBeCloseTo(falseNegativeRate(0.5, 16, 8), 12);
  });

  test('minimising false positives alone degenerates to one band of all rows; the balanced criterion does not', () => {
    const fpOnly = optimalParams(32, 0.5, { falsePositiveWeight: 1, falseNegativeWeight: 0 });
    expect([fpOnly.bands, fpOnly.rows]).toEqual([1, 32]);
    const balanced = optimalParams(32, 0.5);
    expect(balanced.bands).toBeGreaterThan(1);
    expect(balanced.rows).toBeLessThan(32);
    const weighted = (p: { falsePositive: number; falseNegative: number }) => p.falsePositive + p.falseNegative;
    expect(weighted(balanced)).toBeLessThan(weighted(fpOnly));
  });

  test('never spends more hyperplanes than numPerm', () => {
    for (const n of [7, 20, 50, 100]) {
      const plan = optimalParams(n, 0.6);
      expect(plan.bands * plan.rows).toBeLessThanOrEqual(n);
    }
  });

  test('the square-root heuristic', () => {
    expect(sqrtParams(128)).toMatchObject({ bands: 11, rows: 11 });
    expect(sqrtParams(64)).toMatchObject({ bands: 8, rows: 8 });
  });

  test('bad inputs are refused with BAD_OPTION', () => {
    expect(() => optimalParams(0)).toThrow(expect.objectContaining({ code: 'BAD_OPTION' }));
    expect(() => optimalParams(128, 1)).toThrow(/threshold/);
  });
});

describe('index shape', () => {
  test('defaults are sized for 1M ids; numPerm or threshold plan by the S-curve; explicit bands and rows win', () => {
    expect(resolveShape({ dim: 384 })).toMatchObject({
      dim: 384,
      seed: 42,
      bands: 4,
      rows: 14,
      reversePages: 65536,
      sketchBits: 256,
      bucketCap: 4096,
    });
    expect(resolveShape({ dim: 384, numPerm: 128 })).toMatchObject({ bands: 16, rows: 8 });
    expect(resolveShape({ dim: 384, expectedSize: 100_000 })).toMatchObject({ bands: 4, rows: 11 });
    expect(resolveShape({ dim: 8, numBands: 4, rowsPerBand: 3 })).toMatchObject({ bands: 4, rows: 3 });
    expect(resolveShape({ dim: 8, numPerm: 64, numBands: 4 })).toMatchObject({ bands: 4, rows: 16 });
  });

  test('rows per band above 32 are refused', () => {
    expect(() => resolveShape({ dim: 8, numBands: 2, rowsPerBand: 33 })).toThrow(/rowsPerBand/);
  });
});
