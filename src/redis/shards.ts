import { fnv1a, type Id } from '../ids';

/** Redis Cluster's slot count. */
export const CLUSTER_SLOTS = 16384;

/** MurmurHash3's 32-bit finaliser: every output bit depends on every input bit. */
function avalanche(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The shard of an id: FNV-1a of its decimal or string text, finalised, modulo the shard count.
 * Integer arithmetic only, so every process and engine agrees. The finaliser matters for string
 * ids: their reverse page is FNV-1a modulo `reversePages`, and without it a shard count dividing
 * the page count would leave each shard only its own residue class of pages.
 */
export function shardOf(id: Id, shards: number): number {
  return shards === 1 ? 0 : avalanche(fnv1a(String(id))) % shards;
}

/** CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the checksum Redis Cluster slots keys by. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The Redis Cluster slot of a hash tag's content (the text between the braces). */
export function tagSlot(content: string): number {
  return crc16(Buffer.from(content, 'utf8')) % CLUSTER_SLOTS;
}

/**
 * The hash-tag contents of an index's shards: `<prefix>#<k>.<salt>` for shard k, where the salt is
 * the smallest non-negative integer that puts the tag's slot near the centre of the k-th of
 * `shards` equal slices of the 16384 slots (within an eighth of a slice). The shards' slots are
 * thus evenly spaced, so a cluster whose masters serve contiguous, near-equal slot ranges (what
 * `redis-cli --cluster create` and `rebalance` produce) gives each master within one shard of an
 * even share: 5, 6 and 5 of 16 shards on 3 masters. Plain tags would land wherever CRC16 sends
 * them: an even 5, 6, 5 split one time in seven, one as uneven as 8, 5, 3 or worse one time in
 * two. The salt is found by trying, deterministically, so every process computes the same tags.
 * `#` cannot occur in a prefix, so no other index's keys share these tags.
 */
export function shardTagContents(prefix: string, shards: number): string[] {
  const key = `${shards}/${prefix}`;
  let contents = tagCache.get(key);
  if (!contents) {
    contents = findShardTags(prefix, shards);
    tagCache.set(key, contents);
  }
  return contents;
}

// Finding the salts of 256 shards takes tens of milliseconds; a process pays it once per index.
const tagCache = new Map<string, string[]>();

function findShardTags(prefix: string, shards: number): string[] {
  const slice = CLUSTER_SLOTS / shards;
  const halfWidth = Math.max(0, Math.floor(slice / 8));
  return Array.from({ length: shards }, (_, k) => {
    const centre = Math.floor((k + 0.5) * slice);
    for (let salt = 0; salt < 10_000_000; salt++) {
      const content = `${prefix}#${k}.${salt}`;
      if (Math.abs(tagSlot(content) - centre) <= halfWidth) return content;
    }
    throw new Error(`no shard tag found for shard ${k} of ${shards}`); // unreachable: CRC16 covers every slot
  });
}
