import { gaussianStream } from '../../src/hashing/gaussian';
import { tableProbes } from '../../src/hashing/table-probes';

function query(bands: number, rows: number, seed: string) {
  const next = gaussianStream(seed);
  const proj = Float64Array.from({ length: bands * rows }, next);
  const values = Array.from({ length: bands }, (_, k) => {
    let v = 0;
    for (let j = 0; j < rows; j++) if (proj[k * rows + j] > 0) v += 2 ** j;
    return v;
  });
  return { proj, values };
}

/** What a probe costs: the squared projections of the bits it differs from the own bucket in. */
function cost(proj: ArrayLike<number>, rows: number, band: number, base: number, value: number): number {
  let c = 0;
  for (let j = 0; j < rows; j++) if (Math.floor(base / 2 ** j) % 2 !== Math.floor(value / 2 ** j) % 2) c += proj[band * rows + j] ** 2;
  return c;
}

describe('per-table multi-probe', () => {
  test('each band starts with its own bucket, then goes in nondecreasing cost, without repeats', () => {
    const bands = 6;
    const rows = 10;
    const perTable = 200;
    const { proj, values } = query(bands, rows, 'order');
    const probes = tableProbes(values, proj, bands, rows, perTable);
    expect(probes).toHaveLength(bands * perTable);
    for (let k = 0; k < bands; k++) {
      const run = Array.from(probes.subarray(k * perTable, (k + 1) * perTable));
      expect(run[0]).toBe(values[k]);
      expect(new Set(run).size).toBe(perTable);
      const costs = run.map((v) => cost(proj, rows, k, values[k], v));
      for (let i = 1; i < costs.length; i++) expect(costs[i]).toBeGreaterThanOrEqual(costs[i - 1] * (1 - 1e-12));
      // The first flip is the band's bit nearest its plane.
      let nearest = 0;
      for (let j = 1; j < rows; j++) if (proj[k * rows + j] ** 2 < proj[k * rows + nearest] ** 2) nearest = j;
      expect(run[1]).toBe((values[k] ^ (2 ** nearest)) >>> 0);
    }
  });

  test('the cheapest probes of a band are the cheapest buckets of all (brute force)', () => {
    const rows = 8;
    const { proj, values } = query(3, rows, 'brute');
    const perTable = 40;
    const probes = tableProbes(values, proj, 3, rows, perTable);
    for (let k = 0; k < 3; k++) {
      const all = Array.from({ length: 256 }, (_, v) => cost(proj, rows, k, values[k], v)).sort((a, b) => a - b);
      const got = Array.from(probes.subarray(k * perTable, (k + 1) * perTable), (v) => cost(proj, rows, k, values[k], v));
      for (let i = 0; i < perTable; i++) expect(got[i]).toBeCloseTo(all[i], 12);
    }
  });

  test('asking for 2^rows or more probes covers every bucket of every band exactly once', () => {
    for (const rows of [1, 3, 9]) {
      const bands = 3;
      const { proj, values } = query(bands, rows, `cover${rows}`);
      const probes = tableProbes(values, proj, bands, rows, 5000);
      const n = 2 ** rows;
      expect(probes).toHaveLength(bands * n);
      for (let k = 0; k < bands; k++) {
        const run = Array.from(probes.subarray(k * n, (k + 1) * n)).sort((a, b) => a - b);
        expect(run).toEqual(Array.from({ length: n }, (_, v) => v));
      }
    }
  });

  test('32-row values are unsigned, with flips of bit 31 too', () => {
    const rows = 32;
    const proj = new Float64Array(rows).fill(5);
    proj[31] = 0.01; // bit 31 is the cheapest flip
    proj[3] = -0.02;
    const own = 2 ** 32 - 1 - 8; // bit 3 clear, every other bit set
    const probes = tableProbes([own], proj, 1, rows, 5);
    // Cheapest first: bit 31, bit 3, both, then bit 0 (the first of the equal-cost rest).
    expect(Array.from(probes)).toEqual([own, own - 2 ** 31, own + 8, own + 8 - 2 ** 31, own - 1]);
    for (const v of probes) expect(v).toBeGreaterThanOrEqual(0);
  });

  test('equal costs come in a fixed order and the output depends on the inputs alone', () => {
    const rows = 6;
    const proj = new Float64Array(2 * rows).fill(1);
    const a = tableProbes([5, 60], proj, 2, rows, 64);
    const b = tableProbes([5, 60], Array.from(proj), 2, rows, 64);
    expect(a).toEqual(b);
    // All single flips (bit 0 up) before any pair; all 64 buckets once.
    expect(Array.from(a.subarray(1, 7))).toEqual([0, 1, 2, 3, 4, 5].map((j) => 5 ^ (1 << j)));
    expect(new Set(a.subarray(0, 64)).size).toBe(64);
  });

  test('one probe per table is the own buckets; bad arguments throw', () => {
    const { proj, values } = query(4, 5, 'one');
    expect(Array.from(tableProbes(values, proj, 4, 5, 1))).toEqual(values);
    expect(() => tableProbes(values, proj, 4, 0, 3)).toThrow(RangeError);
    expect(() => tableProbes(values, proj, 4, 33, 3)).toThrow(RangeError);
    expect(() => tableProbes(values, proj, 4, 5, 0)).toThrow(RangeError);
  });

  test('4 bands x 4096 probes (timed, not asserted)', () => {
    const { proj, values } = query(4, 24, 'speed');
    const time = () => {
      const t0 = process.hrtime.bigint();
      const probes = tableProbes(values, proj, 4, 24, 4096);
      expect(probes).toHaveLength(4 * 4096);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const cold = time();
    for (let i = 0; i < 30; i++) time();
    process.stdout.write(`tableProbes 4 x 4096 (24 rows): first call ${cold.toFixed(2)} ms, warm ${time().toFixed(2)} ms\n`);
  });
});
