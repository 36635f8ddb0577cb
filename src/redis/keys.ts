import { LshrsError } from '../errors';

const PREFIX_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * Every key name of one index; the only place that knows the schema (with lua/common.lua).
 * All keys share the hash tag `{prefix}`, so each script call touches one Redis Cluster slot.
 */
export interface IndexKeys {
  readonly tag: string;
  readonly meta: string;
  bucket(band: number, value: number): string;
  reverse(page: number): string;
  /** SCAN patterns of the bucket sets and of the reverse-record pages. */
  readonly bucketPattern: string;
  readonly reversePattern: string;
  /** SCAN patterns that together match every key of the index and no other. */
  readonly patterns: readonly string[];
}

export function checkPrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
    throw new LshrsError('BAD_OPTION', `prefix must be 1-64 characters of A-Z a-z 0-9 _ . : -, got ${JSON.stringify(prefix)}`);
  }
  return prefix;
}

export function indexKeys(prefix: string): IndexKeys {
  const tag = `{${checkPrefix(prefix)}}`;
  // The prefix has no glob characters, but the braces of the tag must be escaped in SCAN patterns.
  const glob = `\\{${prefix}\\}`;
  return {
    tag,
    meta: `${tag}:meta`,
    bucket: (band, value) => `${tag}:b:${band}:${value}`,
    reverse: (page) => `${tag}:r:${page}`,
    bucketPattern: `${glob}:b:*`,
    reversePattern: `${glob}:r:*`,
    patterns: [`${glob}:meta`, `${glob}:b:*`, `${glob}:r:*`],
  };
}
