import { LshrsError } from './errors';

/** What lshrs accepts as a vector. */
export type VectorLike = Float32Array | Float64Array | readonly number[];

/**
 * Checks a vector against the index's dimension and copies it into `out` at `offset`.
 * Refuses wrong lengths, NaN/Infinity and all-zero vectors, naming the item.
 */
export function writeVector(vector: unknown, dim: number, out: Float32Array, offset: number, label: string): void {
  if (!(vector instanceof Float32Array || vector instanceof Float64Array || Array.isArray(vector))) {
    throw new LshrsError('DIMENSION', `${label}: vector must be a Float32Array, Float64Array or number[]`);
  }
  const v = vector as ArrayLike<number>;
  if (v.length !== dim) {
    throw new LshrsError('DIMENSION', `${label}: vector has ${v.length} dimensions, the index has ${dim}`);
  }
  let nonZero = false;
  if (vector instanceof Float32Array) {
    // Already float32 (rows from a store, parquet bytes): check, then copy in one block.
    for (let i = 0; i < dim; i++) {
      const x = vector[i];
      if (x - x !== 0) throw new LshrsError('NOT_FINITE', `${label}: vector[${i}] is ${x}, not a finite number`);
      if (x !== 0) nonZero = true;
    }
    if (!nonZero) throw new LshrsError('ZERO_VECTOR', `${label}: vector is all zeros and has no direction`);
    out.set(vector, offset);
    return;
  }
  for (let i = 0; i < dim; i++) {
    const x = v[i];
    if (typeof x !== 'number') throw new LshrsError('NOT_FINITE', `${label}: vector[${i}] is ${kindOf(x)}, not a number`);
    if (!Number.isFinite(x)) throw new LshrsError('NOT_FINITE', `${label}: vector[${i}] is ${x}, not a finite number`);
    const f = Math.fround(x);
    if (!Number.isFinite(f)) throw new LshrsError('NOT_FINITE', `${label}: vector[${i}] = ${x} overflows float32`);
    if (f !== 0) nonZero = true;
    out[offset + i] = f;
  }
  if (!nonZero) throw new LshrsError('ZERO_VECTOR', `${label}: vector is all zeros and has no direction`);
}

/** What a value that is not a number is, for a message: "a string" (its value may be long or private), "null". */
function kindOf(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  if (Array.isArray(x)) return 'an array';
  return typeof x === 'object' ? 'an object' : `a ${typeof x}`;
}

/** A validated float32 copy of one vector. */
export function toFloat32(vector: unknown, dim: number, label: string): Float32Array {
  const out = new Float32Array(dim);
  writeVector(vector, dim, out, 0, label);
  return out;
}
