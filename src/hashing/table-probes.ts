/**
 * Query-directed multi-probe with a fixed budget per table: each band reads its own bucket and the
 * next buckets a few bit flips away, the flips the query is least sure of first (Lv et al., see
 * probes.ts). Unlike probeSequence, every band gets the same number of probes, so the reads of one
 * table are one fixed-size batch, and a flip set is three numbers, not an array, so a deep probe
 * sequence (thousands per band) costs no allocation per probe.
 */

/**
 * `bands * T` bucket values, T = min(perTable, 2^rows): entries [k*T, (k+1)*T) are band k's probes,
 * values[k] first, then the other buckets in nondecreasing cost, the cost of a bucket being the sum
 * of proj[k*rows+j]^2 over the bits j it differs from values[k] in. Each bucket appears at most once
 * per band, and all 2^rows of them when perTable allows. Equal costs go in a fixed order (by the set
 * of flipped positions in cost order, read as a binary number), so the output is a function of the
 * inputs alone.
 */
export function tableProbes(values: ArrayLike<number>, proj: ArrayLike<number>, bands: number, rows: number, perTable: number): Uint32Array {
  if (!Number.isInteger(rows) || rows < 1 || rows > 32) throw new RangeError(`rows must be an integer in 1..32, got ${rows}`);
  if (!Number.isInteger(perTable) || perTable < 1) throw new RangeError(`perTable must be a positive integer, got ${perTable}`);
  const perBand = Math.min(perTable, 2 ** rows);
  const out = new Uint32Array(bands * perBand);
  if (perBand === 1) {
    for (let k = 0; k < bands; k++) out[k] = values[k];
    return out;
  }
  // A flip set is: the cost of all its flips but the last (`prefix`), its full cost, the positions
  // it flips in the band's cost order as a bit mask (`posMask`, the tie-break), the same flips as
  // bucket bits (`bitMask`, XORed into the own bucket) and its last (largest) position. Each pop
  // pushes at most two, so 2*perBand slots hold a band's whole run; slots are reused per band.
  const slots = 2 * perBand;
  const prefix = new Float64Array(slots);
  const cost = new Float64Array(slots);
  const posMask = new Float64Array(slots);
  const bitMask = new Float64Array(slots);
  const last = new Uint8Array(slots);
  const heap = new Int32Array(slots);
  // The heap's keys (cost, posMask) beside its slot ids.
  const hCost = new Float64Array(slots);
  const hMask = new Float64Array(slots);
  const order = new Uint8Array(rows);
  const sorted = new Float64Array(rows);
  const z = new Float64Array(rows);
  const pow = new Float64Array(33);
  for (let j = 0; j <= 32; j++) pow[j] = 2 ** j;

  for (let k = 0; k < bands; k++) {
    for (let j = 0; j < rows; j++) {
      const x = proj[k * rows + j];
      z[j] = x * x;
      order[j] = j;
    }
    // Insertion sort of the bits by cost, ties by bit index (rows <= 32).
    for (let i = 1; i < rows; i++) {
      const j = order[i];
      let m = i - 1;
      while (m >= 0 && z[order[m]] > z[j]) {
        order[m + 1] = order[m];
        m--;
      }
      order[m + 1] = j;
    }
    for (let i = 0; i < rows; i++) sorted[i] = z[order[i]];

    const own = values[k];
    const base = k * perBand;
    out[base] = own;
    let used = 1;
    let size = 1;
    prefix[0] = 0;
    cost[0] = sorted[0];
    posMask[0] = 1;
    bitMask[0] = pow[order[0]];
    last[0] = 0;
    heap[0] = 0;
    hCost[0] = cost[0];
    hMask[0] = 1;

    for (let n = 1; n < perBand; n++) {
      // Pop the cheapest flip set (ties by posMask; no two sets share one).
      const top = heap[0];
      size--;
      if (size > 0) {
        const moved = heap[size];
        const mc = hCost[size];
        const mm = hMask[size];
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          if (l >= size) break;
          const r = l + 1;
          let c = l;
          let cc = hCost[l];
          let cm = hMask[l];
          if (r < size) {
            const rc = hCost[r];
            if (rc < cc || (rc === cc && hMask[r] < cm)) {
              c = r;
              cc = rc;
              cm = hMask[r];
            }
          }
          if (cc < mc || (cc === mc && cm < mm)) {
            heap[i] = heap[c];
            hCost[i] = cc;
            hMask[i] = cm;
            i = c;
          } else break;
        }
        heap[i] = moved;
        hCost[i] = mc;
        hMask[i] = mm;
      }
      out[base + n] = (own ^ bitMask[top]) >>> 0;
      const l = last[top];
      if (l + 1 < rows) {
        const next = l + 1;
        // shift: the last flip moves one position up; expand: one more flip after it. Both cost at
        // least the parent (costs are sorted and adding to a double is monotone), so pops come out
        // in nondecreasing cost; the prefix avoids a subtraction that could round below it.
        const shift = used++;
        prefix[shift] = prefix[top];
        cost[shift] = prefix[top] + sorted[next];
        posMask[shift] = posMask[top] - pow[l] + pow[next];
        bitMask[shift] = bitMask[top] - pow[order[l]] + pow[order[next]];
        last[shift] = next;
        const expand = used++;
        prefix[expand] = cost[top];
        cost[expand] = cost[top] + sorted[next];
        posMask[expand] = posMask[top] + pow[next];
        bitMask[expand] = bitMask[top] + pow[order[next]];
        last[expand] = next;
        size = siftUp(heap, hCost, hMask, size, shift, cost[shift], posMask[shift]);
        size = siftUp(heap, hCost, hMask, size, expand, cost[expand], posMask[expand]);
      }
    }
  }
  return out;
}

/**
 * Adds slot `s` of key (c, m) to the min-heap of `size` entries (keys kept beside the slots, so a
 * comparison reads no slot arrays); returns the new size.
 */
function siftUp(heap: Int32Array, hCost: Float64Array, hMask: Float64Array, size: number, s: number, c: number, m: number): number {
  let i = size;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const pc = hCost[parent];
    if (c < pc || (c === pc && m < hMask[parent])) {
      heap[i] = heap[parent];
      hCost[i] = pc;
      hMask[i] = hMask[parent];
      i = parent;
    } else break;
  }
  heap[i] = s;
  hCost[i] = c;
  hMask[i] = m;
  return size + 1;
}
