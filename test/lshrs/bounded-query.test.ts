/*
 * No query holds the host's Redis for long, whatever its options or its data: absurd option values
 * are refused, and a giant bucket holds at most `bucketCap` records where queries read (the rest
 * waits in its overflow list); giant buckets show in stats() and in the query's trace.
 */
import { tracingChannel } from 'node:diagnostics_channel';
import type { Redis } from 'ioredis';
import { LSHRS, LshrsError, TRACE_CHANNELS, type QueryTrace } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import { consistencyProblems } from '../support/inspect-redis';
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
  ['rerankCandidates', { rerankCandidates: 100_000 }],
  ['probes', { probes: 5000 }],
  ['topK', { topK: 1e9 }],
  ['maxCandidates', { maxCandidates: 100 }],
])('%s out of bounds (or no longer an option) is BAD_OPTION, for the handle and for one query', async (name, options) => {
  const vector = Array.from({ length: DIM }, gaussianStream(name));
  if (name !== 'topK') expect(() => new LSHRS({ redis, dim: DIM, prefix: uniqueName('caps'), ...options })).toThrow(LshrsError);
  const lsh = new LSHRS({ redis, dim: DIM, prefix: uniqueName('caps') });
  await expect(lsh.query(vector, { rerank: false, ...options })).rejects.toMatchObject({
    code: 'BAD_OPTION',
    message: expect.stringContaining(name),
  });
});

/** The traces of the queries `run` makes. */
async function traced(run: () => Promise<unknown>): Promise<QueryTrace[]> {
  const traces: QueryTrace[] = [];
  const channel = tracingChannel<unknown, QueryTrace>(TRACE_CHANNELS.query);
  const ignore = () => undefined;
  const subscriber = { start: ignore, end: ignore, asyncStart: ignore, error: ignore, asyncEnd: (trace: QueryTrace) => void traces.push(trace) };
  channel.subscribe(subscriber);
  try {
    await run();
  } finally {
    channel.unsubscribe(subscriber);
  }
  return traces;
}

test('20,000 identical vectors: their buckets stop at the cap, queries read only that, and deletes refill from the overflow', async () => {
  const prefix = uniqueName('giant');
  const cap = 1000;
  const lsh = new LSHRS({ redis, dim: DIM, prefix, numBands: 4, rowsPerBand: 16, bucketCap: cap, probes: 4 });
  const same = Array.from({ length: DIM }, gaussianStream('same'));
  const other = gaussianStream('other');
  const items = Array.from({ length: 20_000 }, (_, id) => ({ id, vector: same }));
  items.push(...Array.from({ length: 500 }, (_, k) => ({ id: 20_000 + k, vector: Array.from({ length: DIM }, other) })));
  await lsh.index(items);

  await redis.config('RESETSTAT');
  let hits: Awaited<ReturnType<typeof lsh.query>> = [];
  const [trace] = await traced(async () => {
    hits = await lsh.query(same, { rerank: false });
  });
  expect(hits).toHaveLength(10);
  // 4 bands of 16 buckets read, 4 of them giant: each is read up to its cap, not its 20,000 records.
  expect(trace).toMatchObject({ buckets: 16, truncated: true, missingRecords: 0 });
  expect(trace.membersRead).toBeGreaterThanOrEqual(4 * cap);
  expect(trace.membersRead).toBeLessThanOrEqual(4 * cap + 4 * 500);
  expect(trace.bytesRead).toBe(trace.membersRead * (4 + 256 / 8));
  const stats = (await redis.info('commandstats')).split('\n').filter((line) => /^cmdstat_(mget|evalsha)/.test(line));
  // For the record, not a bound: this query's Redis time on this machine.
  process.stderr.write(`[giant bucket] a query of 20,000 identical vectors: ${stats.map((line) => line.trim()).join('; ')}\n`);

  const described = await lsh.stats();
  expect(described.giantBuckets).toEqual({ over: cap, count: 4, overflowRecords: 4 * (20_000 - cap) });
  expect(described.largestBuckets[0].size).toBe(cap);

  // Half of the duplicates go: some were in the bucket strings (refilled from the overflow), most in the overflow lists.
  expect(await lsh.delete(Array.from({ length: 10_000 }, (_, id) => id * 2))).toEqual({ removed: 10_000, unknown: 0 });
  const after = await lsh.stats();
  expect(after.giantBuckets).toEqual({ over: cap, count: 4, overflowRecords: 4 * (10_000 - cap) });
  expect(after.largestBuckets[0].size).toBe(cap);
  expect(await consistencyProblems(redis, prefix, 4, 16)).toEqual([]);
  await lsh.clear();
}, 120_000);
