/*
 * Ops calls over every key of an index: clear and stats. They walk the keys with SCAN on every data
 * node, so they never run on a write or query path.
 */
import type { Redis } from 'ioredis';
import { dataNodes, keyPrefixOf, nodeName, type RedisClient } from './connection';
import type { IndexLayout } from './keys';

/** Keys found on one data node: named as the index names them (no client key prefix), and as that node's connection takes them. */
export interface ScannedKeys {
  node: Redis;
  keys: string[];
  /** A key of `keys` as an argument of `node`'s commands (which add the node connection's own prefix). */
  onNode(key: string): string;
}

const escapeGlob = (text: string) => text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);

/**
 * Keys matching the patterns (written without the client's key prefix) on every data node, found
 * with SCAN. A client with `keyPrefix` sees only the keys under its prefix.
 */
export async function* scanKeys(client: RedisClient, patterns: readonly string[]): AsyncGenerator<ScannedKeys> {
  const prefix = keyPrefixOf(client);
  for (const node of await dataNodes(client)) {
    // A cluster's node connections carry the prefix only when it was given in redisOptions.
    const nodePrefix = node === client ? prefix : keyPrefixOf(node);
    const onNode = (key: string) => (prefix + key).slice(nodePrefix.length);
    for (const pattern of patterns) {
      let cursor = '0';
      do {
        const [next, found] = await node.scan(cursor, 'MATCH', escapeGlob(prefix) + pattern, 'COUNT', 1000);
        cursor = next;
        if (found.length > 0) yield { node, keys: found.map((key) => key.slice(prefix.length)), onNode };
      } while (cursor !== '0');
    }
  }
}

/** Every key of the index, of every shard, on every data node. */
export function scanIndexKeys(client: RedisClient, layout: IndexLayout) {
  return scanKeys(client, layout.patterns);
}

/** Removes every key of the index, whatever its shard count, and nothing else; returns how many keys went. */
export async function clearIndex(client: RedisClient, layout: IndexLayout): Promise<number> {
  let removed = 0;
  for await (const batch of scanIndexKeys(client, layout)) {
    // A multi-key command must stay in one slot, even sent to one node: one UNLINK per hash tag.
    const byTag = new Map<string, string[]>();
    for (const key of batch.keys) {
      const tag = key.slice(0, key.indexOf('}') + 1);
      const group = byTag.get(tag);
      if (group) group.push(batch.onNode(key));
      else byTag.set(tag, [batch.onNode(key)]);
    }
    const counts = await Promise.all([...byTag.values()].map((keys) => batch.node.unlink(...keys)));
    removed += counts.reduce((a, b) => a + b, 0);
  }
  return removed;
}

export interface BucketSize {
  band: number;
  value: number;
  size: number;
  /** The shard whose bucket this is (0 in an index of one shard). */
  shard: number;
}

/** What one data node (a master, or the one server) holds of the index. */
export interface NodeFootprint {
  /** `host:port` as the client knows the node. */
  node: string;
  keys: number;
  bytes: number;
}

export interface IndexFootprint {
  buckets: number;
  /** Buckets with an overflow list (at their cap), and the records in those lists. */
  overflowing: number;
  overflowRecords: number;
  reversePagesUsed: number;
  bytes: number;
  /** Buckets by size: `[upTo, count]` with sizes in (upTo/2, upTo], upTo a power of two. */
  histogram: [number, number][];
  /** The largest buckets, largest first. */
  largest: BucketSize[];
  /** Keys and bytes per data node, every node listed (a node without keys of the index too). */
  nodes: NodeFootprint[];
}

/**
 * Counts the index's keys on every node, adds up MEMORY USAGE over them, and sizes its buckets
 * (records of `recordSize` bytes in each bucket string, plus its overflow list's).
 */
export async function measureIndex(client: RedisClient, layout: IndexLayout, recordSize: number, largestCount = 10): Promise<IndexFootprint> {
  const footprint: IndexFootprint = {
    buckets: 0,
    overflowing: 0,
    overflowRecords: 0,
    reversePagesUsed: 0,
    bytes: 0,
    histogram: [],
    largest: [],
    nodes: [],
  };
  const bins = new Map<number, number>();
  const perNode = new Map<string, NodeFootprint>();
  for (const node of await dataNodes(client)) {
    const name = nodeName(node);
    perNode.set(name, { node: name, keys: 0, bytes: 0 });
  }
  for await (const batch of scanIndexKeys(client, layout)) {
    const name = nodeName(batch.node);
    const onNode = perNode.get(name) ?? { node: name, keys: 0, bytes: 0 };
    perNode.set(name, onNode);
    const pipeline = batch.node.pipeline();
    const buckets: { key: string; shard: number; at: number }[] = [];
    const overflows: string[] = [];
    for (const key of batch.keys) {
      pipeline.call('MEMORY', 'USAGE', batch.onNode(key), 'SAMPLES', '0');
      const shard = layout.shardOfKey(key);
      if (shard === undefined) continue; // the root meta of a sharded index
      const { tag } = layout.shards[shard];
      const kind = key.slice(tag.length, tag.length + 3);
      if (kind === ':b:') {
        footprint.buckets++;
        buckets.push({ key, shard, at: tag.length + 3 });
      } else if (kind === ':x:') overflows.push(key);
      else if (kind === ':r:') footprint.reversePagesUsed++;
    }
    for (const { key } of buckets) pipeline.strlen(batch.onNode(key));
    for (const key of overflows) pipeline.llen(batch.onNode(key));
    const replies = (await pipeline.exec()) ?? [];
    onNode.keys += batch.keys.length;
    replies.forEach(([err, reply], i) => {
      if (err) throw err;
      if (i < batch.keys.length) {
        footprint.bytes += Number(reply ?? 0);
        onNode.bytes += Number(reply ?? 0);
        return;
      }
      if (i >= batch.keys.length + buckets.length) {
        footprint.overflowing++;
        footprint.overflowRecords += Number(reply);
        return;
      }
      const size = Number(reply) / recordSize;
      const bucket = buckets[i - batch.keys.length];
      const [band, value] = bucket.key.slice(bucket.at).split(':').map(Number);
      let upTo = 1;
      while (upTo < size) upTo *= 2;
      bins.set(upTo, (bins.get(upTo) ?? 0) + 1);
      if (footprint.largest.length < largestCount || size > footprint.largest[footprint.largest.length - 1].size) {
        footprint.largest.push({ band, value, size, shard: bucket.shard });
        footprint.largest.sort((a, b) => b.size - a.size || a.band - b.band || a.value - b.value || a.shard - b.shard);
        footprint.largest.length = Math.min(footprint.largest.length, largestCount);
      }
    });
  }
  footprint.nodes = [...perNode.values()];
  footprint.histogram = [...bins.entries()].sort((a, b) => a[0] - b[0]);
  return footprint;
}
