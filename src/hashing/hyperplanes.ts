import { gaussianStream } from './gaussian';

/** `count` random hyperplanes of `dim` dimensions, row-major, drawn from `(dim, seed)`. */
export function hyperplanes(dim: number, count: number, seed: number | string): Float32Array {
  // The dimension is part of the stream's seed, so two indexes of different dim share no planes.
  const next = gaussianStream(`lshrs:${dim}:${seed}`);
  const planes = new Float32Array(dim * count);
  for (let i = 0; i < planes.length; i++) planes[i] = next();
  return planes;
}

/** FNV-1a over the planes' float32 bytes, as 8 hex digits: stored with the index, compared on use. */
export function planesFingerprint(planes: Float32Array): string {
  const bytes = new Uint8Array(planes.buffer, planes.byteOffset, planes.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}
