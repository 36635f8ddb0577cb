/*
 * The meta hash, `<tag>:meta`: the index's parameters (written once, by the insert script that
 * creates the index), its id type, id count and a build's state. Encoded, decoded and
 * fingerprinted here only.
 */
import { LshrsError } from '../errors';
import type { IdType } from '../ids';
import type { IndexShape, ShapeOptions } from '../params/shape';

/**
 * Version of the Redis layout; stored in the meta hash. 2: buckets are strings of packed records
 * (ordinal and sketch) ranked in the client, ordinals map to ids, the mean is stored.
 */
export const SCHEMA_VERSION = 3;

/** A meta hash as HGETALL returns it. */
export type MetaHash = Record<string, string>;

/**
 * The meta fields that describe a shape, in the order they are stored. `shards` only when there are
 * several: a one-shard index keeps the fields (and the fingerprint) it had before shards existed.
 */
export function encodeShape(shape: IndexShape, planes: string, mean: Float32Array | null): MetaHash {
  return {
    schema: String(SCHEMA_VERSION),
    dim: String(shape.dim),
    seed: typeof shape.seed === 'string' ? `s:${shape.seed}` : String(shape.seed),
    bands: String(shape.bands),
    rows: String(shape.rows),
    reversePages: String(shape.reversePages),
    ...(shape.shards > 1 ? { shards: String(shape.shards) } : {}),
    sketchBits: String(shape.sketchBits),
    bucketCap: String(shape.bucketCap),
    planes,
    mean: mean ? encodeMean(mean) : 'none',
  };
}

/** A mean vector as meta text: its float32 little-endian bytes in base64. */
export function encodeMean(mean: Float32Array): string {
  return Buffer.from(mean.buffer, mean.byteOffset, mean.byteLength).toString('base64');
}

/** The stored mean (null: the index hashes raw vectors). */
export function decodeMean(meta: MetaHash): Float32Array | null {
  if (!meta.mean || meta.mean === 'none') return null;
  const bytes = Buffer.from(meta.mean, 'base64');
  const mean = new Float32Array(bytes.length / 4);
  for (let i = 0; i < mean.length; i++) mean[i] = bytes.readFloatLE(4 * i);
  return mean;
}

/** FNV-1a of a meta field's text, as 8 hex digits: long fields (the mean) enter the fingerprint by it. */
function digest(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** The shape options a stored meta hash was written with (how `LSHRS.open` rebuilds a handle). */
export function decodeShape(meta: MetaHash): ShapeOptions {
  return {
    dim: Number(meta.dim),
    seed: meta.seed.startsWith('s:') ? meta.seed.slice(2) : Number(meta.seed),
    numBands: Number(meta.bands),
    rowsPerBand: Number(meta.rows),
    reversePages: Number(meta.reversePages),
    shards: Number(meta.shards ?? 1),
    sketchBits: Number(meta.sketchBits),
    bucketCap: Number(meta.bucketCap),
    centre: decodeMean(meta) ?? false,
  };
}

/** One readable string that differs whenever anything that changes hashing or key layout differs. */
export function fingerprint(fields: MetaHash): string {
  const parts = [fields.schema, fields.dim, fields.seed, `${fields.bands}x${fields.rows}`, fields.reversePages, fields.planes];
  if (fields.shards !== undefined) parts.push(`shards=${fields.shards}`);
  parts.push(`sketch=${fields.sketchBits}`, `cap=${fields.bucketCap}`, `mean=${fields.mean === 'none' ? 'none' : digest(fields.mean ?? '')}`);
  return parts.join('/');
}

/** The error for an index stored with other parameters, naming every field that differs. */
export function mismatchError(prefix: string, storedFields: MetaHash, myFields: MetaHash): LshrsError {
  // A meta without `shards` is a one-shard index's.
  const stored: MetaHash = { ...storedFields, shards: storedFields.shards ?? '1' };
  const mine: MetaHash = { ...myFields, shards: myFields.shards ?? '1' };
  const differences = Object.keys(mine)
    .filter((field) => stored[field] !== mine[field])
    .map((field) =>
      field === 'planes'
        ? `hyperplane fingerprint ${stored.planes} in Redis, ${mine.planes} here (the same seed gives other planes: another lshrs or Node version?)`
        : field === 'mean'
          ? `centre ${describeMean(stored.mean)} in Redis, ${describeMean(mine.mean)} here`
          : `${field} ${stored[field] ?? '(none)'} in Redis, ${mine[field]} here`,
    );
  return new LshrsError('PARAMS_MISMATCH', `index "${prefix}" was created with other parameters: ${differences.join('; ') || 'fingerprint differs'}`);
}

function describeMean(mean: string | undefined): string {
  if (mean === undefined) return '(none)';
  return mean === 'none' ? 'none' : `a mean vector (digest ${digest(mean)})`;
}

/** The stored id type, if any meta names one. */
export function storedIdType(...metas: Partial<MetaHash>[]): IdType | undefined {
  const type = metas.map((m) => m.idType).find((t) => t);
  return type === 'int' || type === 'str' ? type : undefined;
}

/** Ids indexed, per shard, from the shards' metas. */
export function shardIdCounts(shardMetas: readonly Partial<MetaHash>[]): number[] {
  return shardMetas.map((m) => Number(m.ids ?? 0));
}

/**
 * Which store an index is built from, as a tool recorded it with `recordStore` (the command line
 * records its table there, so later commands need only the prefix). Descriptive: no query or write
 * reads it, and it changes nothing about hashing or keys.
 */
export interface StoreInfo {
  /** The store's kind, e.g. "postgres". */
  kind: string;
  /** Its table, optionally schema-qualified. */
  table?: string;
  idColumn?: string;
  vectorColumn?: string;
  /** `null`: no text column. */
  textColumn?: string | null;
}

/** The `store` field (JSON) that `recordStore` wrote, or null when there is none or it is unreadable. */
export function storeOf(meta: MetaHash): StoreInfo | null {
  if (!meta.store) return null;
  try {
    const parsed: unknown = JSON.parse(meta.store);
    return parsed && typeof parsed === 'object' && typeof (parsed as StoreInfo).kind === 'string' ? (parsed as StoreInfo) : null;
  } catch {
    return null;
  }
}

/** What `describe()` reports of a build: its state, the last id it wrote, and the rows it skipped. */
export function buildOf(meta: MetaHash): { state: string; cursor: string; skipped: number } | null {
  return meta.buildState ? { state: meta.buildState, cursor: meta.buildCursor ?? '', skipped: Number(meta.buildSkipped ?? 0) } : null;
}
