/* The figures of stats(): what the meta hashes say, and what a walk over the keys measured. */
import type { IndexDescription, IndexStats } from '../options';
import type { IndexFootprint } from './ops';

/** Buckets over 32 times the mean size (and over 1,024), counted from the power-of-two histogram. */
function giantBuckets(histogram: readonly [number, number][], memberships: number, buckets: number): IndexStats['giantBuckets'] {
  const mean = buckets > 0 ? memberships / buckets : 0;
  let over = 1024;
  while (over < 32 * mean) over *= 2;
  return { over, count: histogram.filter(([upTo]) => upTo > over).reduce((sum, [, n]) => sum + n, 0) };
}

export function indexStats(description: Omit<IndexDescription, 'lshrs'>, footprint: IndexFootprint): IndexStats {
  return {
    ...description,
    buckets: footprint.buckets,
    giantBuckets: giantBuckets(footprint.histogram, description.ids * description.bands, footprint.buckets),
    reversePagesUsed: footprint.reversePagesUsed,
    redisBytes: footprint.bytes,
    bytesPerId: description.ids > 0 ? footprint.bytes / description.ids : null,
    bucketHistogram: footprint.histogram,
    largestBuckets: footprint.largest,
    nodes: footprint.nodes,
  };
}
