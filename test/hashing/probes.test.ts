import { gaussianStream } from '../../src/hashing/gaussian';
import { hyperplanes } from '../../src/hashing/hyperplanes';
import { probeSequence, projections } from '../../src/hashing/probes';
import { bandValues } from '../../src/hashing/signatures';

function setup(dim: number, bands: number, rows: number, seed: string) {
  const next = gaussianStream(seed);
  const q = Float32Array.from({ length: dim }, next);
  const planes = hyperplanes(dim, bands * rows, 9);
  const values = bandValues(q, 1, planes, { dim, bands, rows });
  return { q, planes, values, proj: projections(q, planes, dim) };
}

/** What a probe costs: the squared projections of the bits it flips against the query's own bucket. */
function cost(proj: Float32Array, rows: number, band: number, base: number, value: number): number {
  let c = 0;
  for (let j = 0; j < rows; j++) if (Math.floor(base / 2 ** j) % 2 !== Math.floor(value / 2 ** j) % 2) c += proj[band * rows + j] ** 2;
  return c;
}

describe('multi-probe sequence', () => {
  test('projections agree in sign with the band values', () => {
    const { values, proj } = setup(40, 6, 5, 'signs');
    for (let band = 0; band < 6; band++) {
      let v = 0;
      for (let j = 0; j < 5; j++) if (proj[band * 5 + j] > 0) v += 2 ** j;
      expect(v).toBe(values[band]);
    }
  });

  test("starts with the query's own bucket in every band, then goes cheapest flip first over all bands", () => {
    const bands = 8;
    const rows = 6;
    const { values, proj } = setup(48, bands, rows, 'order');
    const probes = probeSequence(values, proj, bands, rows, 5);
    expect(probes).toHaveLength(bands * 5);
    expect(probes.slice(0, bands)).toEqual(Array.from(values, (value, band) => ({ band, value })));
    const costs = probes.slice(bands).map((p) => cost(proj, rows, p.band, values[p.band], p.value));
    for (let i = 1; i < costs.length; i++) expect(costs[i]).toBeGreaterThanOrEqual(costs[i - 1]);
    // The first extra probe flips the one bit, of all bands, whose projection is closest to zero.
    let least = 0;
    for (let p = 1; p < proj.length; p++) if (Math.abs(proj[p]) < Math.abs(proj[least])) least = p;
    const band = Math.floor(least / rows);
    expect(probes[bands]).toEqual({ band, value: values[band] ^ (1 << (least % rows)) });
    expect(new Set(probes.map((p) => `${p.band}:${p.value}`)).size).toBe(probes.length);
  });

  test('asked for every bucket, it lists each bucket of each band exactly once', () => {
    const bands = 3;
    const rows = 4;
    const { values, proj } = setup(16, bands, rows, 'all');
    const probes = probeSequence(values, proj, bands, rows, 2 ** rows + 5);
    expect(probes).toHaveLength(bands * 2 ** rows);
    for (let band = 0; band < bands; band++) {
      const seen = probes
        .filter((p) => p.band === band)
        .map((p) => p.value)
        .sort((a, b) => a - b);
      expect(seen).toEqual(Array.from({ length: 2 ** rows }, (_, v) => v));
    }
  });

  test('32-row bands stay unsigned', () => {
    const { values, proj } = setup(64, 2, 32, 'wide');
    for (const p of probeSequence(values, proj, 2, 32, 40)) {
      expect(Number.isInteger(p.value)).toBe(true);
      expect(p.value).toBeGreaterThanOrEqual(0);
      expect(p.value).toBeLessThan(2 ** 32);
    }
  });
});
