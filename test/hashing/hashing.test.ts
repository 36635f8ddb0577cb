import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { portableCosTurn, portableLog, gaussianStream } from '../../src/hashing/gaussian';
import { hyperplanes, planesFingerprint } from '../../src/hashing/hyperplanes';
import { bandValues, packSignature } from '../../src/hashing/signatures';

describe('portable math', () => {
  test('log agrees with Math.log to 1e-15 relative', () => {
    for (const x of [1e-300, 1e-9, 0.1, 0.5, 0.7071, 1, 1.5, 2, Math.E, 10, 12345.678, 1e300]) {
      expect(Math.abs(portableLog(x) - Math.log(x))).toBeLessThanOrEqual(1e-15 * Math.max(1, Math.abs(Math.log(x))));
    }
  });

  test('cos of a turn fraction agrees with Math.cos to 1e-15', () => {
    for (let u = 0; u < 1; u += 0.0137) {
      expect(Math.abs(portableCosTurn(u) - Math.cos(2 * Math.PI * u))).toBeLessThan(1e-15);
    }
  });

  test('the Gaussian stream has mean 0 and variance 1', () => {
    const next = gaussianStream(7);
    let sum = 0;
    let squares = 0;
    const n = 200_000;
    for (let i = 0; i < n; i++) {
      const z = next();
      sum += z;
      squares += z * z;
    }
    expect(Math.abs(sum / n)).toBeLessThan(0.01);
    expect(Math.abs(squares / n - 1)).toBeLessThan(0.01);
  });
});

describe('hyperplanes', () => {
  test('the same (dim, seed) gives the same planes; another seed or dim gives others', () => {
    const a = hyperplanes(64, 32, 42);
    expect(hyperplanes(64, 32, 42)).toEqual(a);
    expect(planesFingerprint(hyperplanes(64, 32, 43))).not.toBe(planesFingerprint(a));
    expect(planesFingerprint(hyperplanes(65, 32, 42))).not.toBe(planesFingerprint(a));
  });

  test('another process draws bit-identical planes', () => {
    const script = join(__dirname, '..', 'support', 'print-fingerprint.ts');
    const child = execFileSync(process.execPath, ['--import', 'tsx', script, '384', '128', '42'], { encoding: 'utf8' }).trim();
    expect(child).toBe(planesFingerprint(hyperplanes(384, 128, 42)));
  });

  test('golden: the planes and band values of fixed vectors never change', () => {
    // Pinned when the hashing was written; a change here silently breaks every stored index.
    expect(planesFingerprint(hyperplanes(384, 128, 42))).toBe(GOLDEN_FINGERPRINT);
    const dim = 16;
    const planes = hyperplanes(dim, 4 * 8, 42);
    const vectors = new Float32Array(3 * dim);
    for (let i = 0; i < dim; i++) {
      vectors[i] = 1;
      vectors[dim + i] = i - 7.5;
      vectors[2 * dim + i] = ((i * 7) % 5) - 2;
    }
    expect(Array.from(bandValues(vectors, 3, planes, { dim, bands: 4, rows: 8 }))).toEqual(GOLDEN_BANDS);
  });
});

describe('band values', () => {
  test('match a plain dot-product reference, and pack big-endian', () => {
    const dim = 10;
    const layout = { dim, bands: 5, rows: 3 }; // 15 planes: exercises the 4-plane loop and its tail
    const planes = hyperplanes(dim, 15, 's');
    const next = gaussianStream('vectors');
    const vectors = Float32Array.from({ length: 6 * dim }, next);
    const values = bandValues(vectors, 6, planes, layout);
    for (let v = 0; v < 6; v++) {
      for (let k = 0; k < 5; k++) {
        let expected = 0;
        for (let j = 0; j < 3; j++) {
          let dot = 0;
          for (let i = 0; i < dim; i++) dot += vectors[v * dim + i] * planes[(k * 3 + j) * dim + i];
          if (dot > 0) expected |= 1 << j;
        }
        expect(values[v * 5 + k]).toBe(expected);
      }
    }
    expect([...packSignature(Uint32Array.of(0x1234, 0xff), 0, 2, 12)]).toEqual([0x12, 0x34, 0x00, 0xff]);
  });

  test('scaling a vector does not change its bands', () => {
    const dim = 32;
    const planes = hyperplanes(dim, 64, 1);
    const v = Float32Array.from({ length: dim }, gaussianStream('x'));
    const scaled = v.map((x) => x * 1000);
    expect(bandValues(scaled, 1, planes, { dim, bands: 8, rows: 8 })).toEqual(bandValues(v, 1, planes, { dim, bands: 8, rows: 8 }));
  });
});

const GOLDEN_FINGERPRINT = '71ae2613';
const GOLDEN_BANDS = [167, 45, 153, 103, 15, 46, 22, 176, 104, 255, 167, 232];
