import { LshrsError } from '../errors';
import type { Id } from '../ids';
import { shardOf, shardTagContents, tagSlot } from './shards';

const PREFIX_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * Every key name of one hash tag of an index (the only place that knows the schema, with
 * lua/common.lua). All its keys share the tag, so each script call touches one Redis Cluster slot.
 */
export interface IndexKeys {
  readonly tag: string;
  /** The Redis Cluster slot of every key of the tag. */
  readonly slot: number;
  readonly meta: string;
  /** The meta's identity string, read by a query's MGET (see lua/common.lua). */
  readonly ident: string;
  bucket(band: number, value: number): string;
  /** The overflow list of a full bucket. */
  overflow(band: number, value: number): string;
  reverse(page: number): string;
  /** The ordinal -> id hash of a page (counted ordinals only: see DIRECT_ORDINAL_LIMIT). */
  ordinals(page: number): string;
}

/**
 * The keys of an index of one or more shards. With one shard, its keys are the root's,
 * `{prefix}:...`, as before shards existed. With more, shard k's keys share the tag
 * `{prefix#k.salt}` (see shardTagContents), and the root holds only the meta hash: the
 * parameters, the id type and the build's state, for every shard count (see lshrs.ts).
 */
export interface IndexLayout {
  readonly prefix: string;
  readonly root: IndexKeys;
  /** One entry per shard; `[root]` for an index of one shard. */
  readonly shards: readonly IndexKeys[];
  /** The shard number of an id. */
  shardOf(id: Id): number;
  /** The shard number of a key of this index, or undefined for the root's or another index's key. */
  shardOfKey(key: string): number | undefined;
  /**
   * SCAN patterns that together match every key of the index, whatever its shard count, and no
   * key of another index: clear() removes what an index of another shard count left too.
   */
  readonly patterns: readonly string[];
  /** SCAN patterns of the reverse-record pages, of the bucket strings and of their overflow lists, of every shard. */
  readonly reversePatterns: readonly string[];
  readonly bucketPatterns: readonly string[];
  readonly overflowPatterns: readonly string[];
}

export function checkPrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
    throw new LshrsError('BAD_OPTION', `prefix must be 1-64 characters of A-Z a-z 0-9 _ . : -, got ${JSON.stringify(prefix)}`);
  }
  return prefix;
}

function keysOfTag(tag: string): IndexKeys {
  return {
    tag,
    slot: tagSlot(tag.slice(1, -1)),
    meta: `${tag}:meta`,
    ident: `${tag}:ident`,
    bucket: (band, value) => `${tag}:b:${band}:${value}`,
    overflow: (band, value) => `${tag}:x:${band}:${value}`,
    reverse: (page) => `${tag}:r:${page}`,
    ordinals: (page) => `${tag}:o:${page}`,
  };
}

/** The keys of the root tag `{prefix}`: every key of a one-shard index, the meta of any. */
export function indexKeys(prefix: string): IndexKeys {
  return keysOfTag(`{${checkPrefix(prefix)}}`);
}

export function indexLayout(prefix: string, shards: number): IndexLayout {
  const root = indexKeys(prefix);
  const shardKeys = shards === 1 ? [root] : shardTagContents(prefix, shards).map((content) => keysOfTag(`{${content}}`));
  const byTag = new Map(shardKeys.map((keys, k) => [keys.tag, k]));
  // The prefix has no glob characters, but braces must be escaped in SCAN patterns. A sharded
  // tag is the prefix, '#' and digits: '#' cannot occur in a prefix, so the patterns are exact.
  const rootGlob = `\\{${prefix}\\}`;
  const shardGlob = `\\{${prefix}#[0-9]*\\}`;
  return {
    prefix,
    root,
    shards: shardKeys,
    shardOf: (id) => shardOf(id, shards),
    shardOfKey: (key) => byTag.get(key.slice(0, key.indexOf('}') + 1)),
    patterns: [`${rootGlob}:meta`, `${rootGlob}:ident`, `${rootGlob}:b:*`, `${rootGlob}:x:*`, `${rootGlob}:r:*`, `${rootGlob}:o:*`, `${shardGlob}:*`],
    reversePatterns: shards === 1 ? [`${rootGlob}:r:*`] : [`${shardGlob}:r:*`],
    bucketPatterns: shards === 1 ? [`${rootGlob}:b:*`] : [`${shardGlob}:b:*`],
    overflowPatterns: shards === 1 ? [`${rootGlob}:x:*`] : [`${shardGlob}:x:*`],
  };
}

/**
 * An integer id below this is its own ordinal (the 4-byte field of its bucket records) and has no
 * ordinal -> id entry; other ids take counted ordinals (from 0 in a string index, from this in an
 * integer one). lua/common.lua says the same (DIRECT_LIMIT).
 */
export const DIRECT_ORDINAL_LIMIT = 2 ** 31;
