/* The figures of stats(): what the meta hashes say, and what a walk over the keys measured. */
import type { IndexDescription, IndexStats } from '../options';
import type { IndexFootprint } from './ops';

export function indexStats(description: Omit<IndexDescription, 'lshrs'>, footprint: IndexFootprint): IndexStats {
  return {
    ...description,
    buckets: footprint.buckets,
    giantBuckets: { over: description.bucketCap, count: footprint.overflowing, overflowRecords: footprint.overflowRecords },
    reversePagesUsed: footprint.reversePagesUsed,
    redisBytes: footprint.bytes,
    bytesPerId: description.ids > 0 ? footprint.bytes / description.ids : null,
    bucketHistogram: footprint.histogram,
    largestBuckets: footprint.largest,
    nodes: footprint.nodes,
  };
}
