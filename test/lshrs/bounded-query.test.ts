/*
 * No query holds the host's Redis for long, whatever its options or its data: absurd option values
 * are refused, and a giant bucket is sampled, not read whole (the bound itself is pinned in
 * test/lua); giant buckets show in stats().
 */
import { tracingChannel } from 'node:diagnostics_channel';
import type { Redis } from 'ioredis';
import { BUCKET_READS, LSHRS, LshrsError, TRACE_CHANNELS, type QueryTrace } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import { newRedis, uniqueName } from '../support/servers';

const DIM = 16;
let redis: Redis;

beforeAll(() => {
  redis = newRedis();
});
afterAll(async () => {
  await redis.quit();
});

test.each([
  ['maxCandidates', { maxCandidates: 1_000_000 }],
  ['rerankCandidates', { rerankCandidates: 100_000 }],
  ['probes', { probes: 1024 }],
  ['topK', { topK: 1e9 }],
])('%s out of bounds is BAD_OPTION, for the handle and for one query', async (name, options) => {
  const vector = Array.from({ length: DIM }, gaussianStream(name));
  if (name !== 'topK') expect(() => new LSHRS({ redis, dim: DIM, prefix: uniqueName('caps'), ...options })).toThrow(LshrsError);
  const lsh = new LSHRS({ redis, dim: DIM, prefix: uniqueName('caps') });
  await expect(lsh.query(vector, { rerank: false, ...options })).rejects.toMatchObject({
    code: 'BAD_OPTION',
    message: expect.stringContaining(name),
  });
});

test('20,000 identical vectors: queries still answer, and stats() shows the 16 giant buckets', async () => {
  const prefix = uniqueName('giant');
  const lsh = new LSHRS({ redis, dim: DIM, prefix });
  const same = Array.from({ length: DIM }, gaussianStream('same'));
  const other = gaussianStream('other');
  const items = Array.from({ length: 20_000 }, (_, id) => ({ id, vector: same }));
  items.push(...Array.from({ length: 500 }, (_, k) => ({ id: 20_000 + k, vector: Array.from({ length: DIM }, other) })));
  await lsh.index(items);

  await redis.config('RESETSTAT');
  const traces: QueryTrace[] = [];
  const channel = tracingChannel<unknown, QueryTrace>(TRACE_CHANNELS.query);
  const ignore = () => undefined;
  const subscriber = { start: ignore, end: ignore, asyncStart: ignore, error: ignore, asyncEnd: (trace: QueryTrace) => void traces.push(trace) };
  channel.subscribe(subscriber);
  let hits: Awaited<ReturnType<typeof lsh.query>> = [];
  try {
    hits = await lsh.query(same, { rerank: false });
  } finally {
    channel.unsubscribe(subscriber);
  }
  expect(hits).toHaveLength(10);
  // 16 buckets of over 20,000 ids: the script read its budget, not 320,000 members, and says so.
  expect(traces[0]).toMatchObject({ membersRead: BUCKET_READS, truncated: true, missingRecords: 0 });
  const stats = (await redis.info('commandstats')).split('\n').filter((line) => line.startsWith('cmdstat_eval'));
  // For the record, not a bound: this query's script time on this machine.
  process.stderr.write(`[giant bucket] a query of 20,000 identical vectors: ${stats.map((line) => line.trim()).join('; ')}\n`);

  const described = await lsh.stats();
  expect(described.giantBuckets.count).toBe(16);
  expect(described.giantBuckets.over).toBeGreaterThanOrEqual(1024);
  expect(described.largestBuckets[0].size).toBeGreaterThanOrEqual(20_000);
  await lsh.clear();
}, 60_000);
