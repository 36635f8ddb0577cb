/** Float32 values from little-endian bytes; copies, since driver buffers may be unaligned. */
export function float32FromLE(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.byteLength >>> 2);
  new Uint8Array(out.buffer).set(bytes.subarray(0, out.byteLength));
  return out;
}

/** The little-endian float32 bytes of a vector (the layout of `bytea` columns and RedisVectorStore). */
export function float32ToLE(vector: Float32Array): Buffer {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
}
