/**
 * Query-directed multi-probe (Lv et al., "Multi-Probe LSH", VLDB 2007): besides the query's own
 * bucket in each band, read the buckets a few bit flips away, the flips the query is least sure of
 * first. A bit whose projection is near zero is the one a near neighbour most likely has the other
 * way, so a set of flips costs the sum of its squared projections, and probes go cheapest first,
 * over all bands together (a band whose bits are all confident gets fewer extra probes).
 */

/** The query's projection on every hyperplane (plane p's row of `planes` dotted with `vector`). */
export function projections(vector: Float32Array, planes: Float32Array, dim: number): Float32Array {
  const count = planes.length / dim;
  const out = new Float32Array(count);
  for (let p = 0; p < count; p++) {
    const o = p * dim;
    let s = 0;
    for (let i = 0; i < dim; i++) s += vector[i] * planes[o + i];
    out[p] = s;
  }
  return out;
}

/** One bucket to read: `value` in band `band`. */
export interface Probe {
  band: number;
  value: number;
}

interface FlipSet {
  cost: number;
  band: number;
  /** Positions in the band's bits sorted by cost, ascending; the last is the largest. */
  positions: number[];
}

/** A binary min-heap of flip sets by cost (ties by band, so the order is deterministic). */
class FlipHeap {
  private readonly items: FlipSet[] = [];
  get size(): number {
    return this.items.length;
  }
  private less(a: FlipSet, b: FlipSet): boolean {
    return a.cost < b.cost || (a.cost === b.cost && a.band < b.band);
  }
  push(item: FlipSet): void {
    const h = this.items;
    h.push(item);
    for (let i = h.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i], h[parent])) break;
      [h[i], h[parent]] = [h[parent], h[i]];
      i = parent;
    }
  }
  pop(): FlipSet {
    const h = this.items;
    const top = h[0];
    const last = h.pop() as FlipSet;
    if (h.length > 0) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l], h[m])) m = l;
        if (r < h.length && this.less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

/**
 * The buckets a query reads: its own in every band (`values`, as bandValues computes them: bit j of
 * band k is plane k*rows+j), then `bands * (probesPerBand - 1)` more, cheapest flips first over all
 * bands. Each flip set is generated once, in cost order, by the shift/expand scheme of Lv et al.
 */
export function probeSequence(values: ArrayLike<number>, proj: Float32Array, bands: number, rows: number, probesPerBand: number): Probe[] {
  const probes: Probe[] = [];
  for (let band = 0; band < bands; band++) probes.push({ band, value: values[band] });
  const extra = Math.min(bands * (probesPerBand - 1), bands * (2 ** Math.min(rows, 30) - 1));
  if (extra <= 0) return probes;
  // Per band: its bits ordered by squared projection, and those costs.
  const order: number[][] = [];
  const costs: number[][] = [];
  const heap = new FlipHeap();
  for (let band = 0; band < bands; band++) {
    const bits = Array.from({ length: rows }, (_, j) => j);
    const z = bits.map((j) => proj[band * rows + j] ** 2);
    bits.sort((a, b) => z[a] - z[b] || a - b);
    order.push(bits);
    costs.push(bits.map((j) => z[j]));
    heap.push({ cost: costs[band][0], band, positions: [0] });
  }
  while (probes.length < bands + extra && heap.size > 0) {
    const set = heap.pop();
    const { band, positions } = set;
    let mask = 0;
    for (const pos of positions) mask += 2 ** order[band][pos];
    probes.push({ band, value: xorBits(values[band], mask) });
    const last = positions[positions.length - 1];
    if (last + 1 < rows) {
      const c = costs[band];
      // shift: the largest flip moves one place up; expand: one more flip after it.
      heap.push({ cost: set.cost - c[last] + c[last + 1], band, positions: [...positions.slice(0, -1), last + 1] });
      heap.push({ cost: set.cost + c[last + 1], band, positions: [...positions, last + 1] });
    }
  }
  return probes;
}

/** XOR of two non-negative integers below 2^32 (rows go up to 32, past JS's signed 32-bit ops). */
function xorBits(a: number, b: number): number {
  return (a ^ b) >>> 0;
}
