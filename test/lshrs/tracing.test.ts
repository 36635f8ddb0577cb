import { tracingChannel } from 'node:diagnostics_channel';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { LSHRS, PostgresVectorStore, TRACE_CHANNELS, type DeleteTrace, type IndexTrace, type LshrsError, type QueryTrace } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import { newPool, newRedis, uniqueName } from '../support/servers';

const DIM = 32;
let redis: Redis;
let pool: pg.Pool;
let lsh: LSHRS;
let data: number[][];

beforeAll(async () => {
  redis = newRedis();
  pool = newPool();
  const table = uniqueName('tracing');
  await PostgresVectorStore.createTable(pool, { table });
  const next = gaussianStream('tracing');
  data = Array.from({ length: 1200 }, () => Array.from({ length: DIM }, next));
  lsh = new LSHRS({ redis, dim: DIM, prefix: uniqueName('tracing'), store: new PostgresVectorStore({ pool, table }) });
});

afterAll(async () => {
  await lsh.clear();
  await redis.quit();
  await pool.end();
});

/** Subscribes to one lshrs channel for the length of `run`, recording what each event saw. */
async function record<C extends object, T>(name: string, run: () => Promise<T>) {
  const channel = tracingChannel<unknown, C>(name);
  const seen: { event: string; context: C; snapshot: string }[] = [];
  const on = (event: string) => (context: C) => seen.push({ event, context, snapshot: JSON.stringify(context) });
  const handlers = { start: on('start'), end: on('end'), asyncStart: on('asyncStart'), asyncEnd: on('asyncEnd'), error: on('error') };
  channel.subscribe(handlers);
  const started = performance.now();
  let outcome: { value?: T; error?: unknown };
  try {
    outcome = { value: await run() };
  } catch (error) {
    outcome = { error };
  } finally {
    channel.unsubscribe(handlers);
  }
  const wallMs = performance.now() - started;
  return { ...outcome, wallMs, seen, events: seen.map((s) => s.event) };
}

const sum = (phases: object) => Object.values(phases).reduce((a: number, b: number) => a + b, 0);

test('an index (items), a build and a delete publish their phases, counts and result on lshrs:index and lshrs:delete', async () => {
  const items = data.map((vector, id) => ({ id, vector, text: `item ${id}` }));
  const indexed = await record<IndexTrace, unknown>(TRACE_CHANNELS.index, () => lsh.index(items));
  expect(indexed.events).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
  const index = indexed.seen[3].context;
  expect(indexed.seen[0].context).toBe(index); // one context object, filled in as the call runs
  expect(index).toMatchObject({ operation: 'index', resume: false, batches: 3, items: 1200, result: indexed.value });
  expect(indexed.value).toEqual({ added: 1200, moved: 0, unchanged: 0 });
  expect(index.phases.hashMs).toBeGreaterThan(0);
  expect(index.phases.storeWriteMs).toBeGreaterThan(0);
  expect(index.phases.redisMs).toBeGreaterThan(0);
  expect(index.phases.storeReadMs).toBe(0);
  expect(JSON.parse(indexed.seen[0].snapshot)).toMatchObject({ batches: 0, items: 0, phases: { hashMs: 0, redisMs: 0 } }); // at start

  const built = await record<IndexTrace, unknown>(TRACE_CHANNELS.index, () => lsh.index(undefined, { resume: false }));
  const build = built.seen[3].context;
  expect(build).toMatchObject({ operation: 'build', resume: false, batches: 3, items: 1200, result: { added: 0, moved: 0, unchanged: 1200 } });
  expect(build.phases.storeReadMs).toBeGreaterThan(0);
  expect(build.phases.storeWriteMs).toBe(0); // the rows come from the store
  expect(build.phases.redisMs).toBeGreaterThan(0);

  const deleted = await record<DeleteTrace, unknown>(TRACE_CHANNELS.delete, () => lsh.delete([1100, 1101, 99_999]));
  const del = deleted.seen[3].context;
  expect(del).toMatchObject({ operation: 'delete', ids: 3, result: { removed: 2, unknown: 1 } });
  expect(del.phases.redisMs).toBeGreaterThan(0);
  expect(del.phases.storeMs).toBeGreaterThan(0);
  expect(sum(del.phases)).toBeLessThanOrEqual(deleted.wallMs);
});

test('a query publishes where its time went (hashing, Redis, fetch, rerank), within its wall time, and its hits', async () => {
  const queried = await record<QueryTrace, unknown>(TRACE_CHANNELS.query, () => lsh.query(data[7], { topK: 5, probes: 256 }));
  expect(queried.events).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
  const trace = queried.seen[3].context;
  expect(trace.result).toBe(queried.value);
  expect((queried.value as { id: number }[])[0].id).toBe(7);
  expect(trace).toMatchObject({
    operation: 'query',
    prefix: lsh.prefix,
    plan: { topK: 5, probes: 256, topP: 1, rerank: true, rerankCandidates: 500 },
  });
  expect(trace.buckets).toBe(lsh.shape.bands * 256); // 256 buckets in each band
  expect(trace.candidates).toBeGreaterThan(5);
  expect(trace.fetched).toBe(trace.candidates);
  expect(trace.membersRead).toBeGreaterThanOrEqual(trace.candidates);
  expect(trace.bytesRead).toBe(trace.membersRead * (4 + lsh.shape.sketchBits / 8));
  expect(trace.truncated).toBe(false);
  for (const phase of ['hashMs', 'redisMs', 'rankMs', 'fetchMs', 'rerankMs'] as const) expect(trace.phases[phase]).toBeGreaterThan(0);
  expect(sum(trace.phases)).toBeLessThanOrEqual(queried.wallMs);

  // topP: fewer fetched than found; without rerank nothing is fetched.
  const cut = (await record<QueryTrace, unknown>(TRACE_CHANNELS.query, () => lsh.query(data[7], { topP: 0.5 }))).seen[3].context;
  expect(cut.fetched).toBe(Math.ceil(cut.candidates / 2));
  const bare = (await record<QueryTrace, unknown>(TRACE_CHANNELS.query, () => lsh.query(data[7], { rerank: false }))).seen[3].context;
  expect(bare).toMatchObject({ fetched: 0, phases: { fetchMs: 0, rerankMs: 0 } });
  expect(bare.phases.redisMs).toBeGreaterThan(0);

  // similar: its own row is fetched first (or, without rerank, its reverse record read).
  const similar = await record<QueryTrace, unknown>(TRACE_CHANNELS.query, () => lsh.similar(7, { topK: 3 }));
  expect(similar.seen[3].context).toMatchObject({ operation: 'similar', id: 7, result: similar.value });
  expect(sum(similar.seen[3].context.phases)).toBeLessThanOrEqual(similar.wallMs);
  const record7 = (await record<QueryTrace, unknown>(TRACE_CHANNELS.query, () => lsh.similar(7, { rerank: false }))).seen[3].context;
  expect(record7).toMatchObject({ operation: 'similar', buckets: lsh.shape.bands * lsh.probes, fetched: 0 });
});

test('a refused query publishes error and asyncEnd with the error in the context', async () => {
  const refused = await record<QueryTrace, unknown>(TRACE_CHANNELS.query, () => lsh.query([1, 2, 3]));
  expect((refused.error as LshrsError).code).toBe('DIMENSION');
  expect(refused.events).toEqual(['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
  expect(refused.seen[4].context.error).toBe(refused.error);
  expect(refused.seen[4].context.plan).toMatchObject({ topK: 10 });
});

test('with no subscriber, a query measures nothing (no performance.now) and publishes nothing', async () => {
  const channel = tracingChannel(TRACE_CHANNELS.query);
  expect(channel.hasSubscribers).toBe(false);
  const now = jest.spyOn(performance, 'now');
  try {
    const hits = await lsh.query(data[7], { topK: 5 });
    await lsh.similar(7, { topK: 3 });
    expect(hits[0].id).toBe(7);
    expect(now).not.toHaveBeenCalled();
    // The same calls with a subscriber do measure: the spy sees them.
    const traced = await record<QueryTrace, unknown>(TRACE_CHANNELS.query, () => lsh.query(data[7], { topK: 5 }));
    expect(traced.value).toEqual(hits);
    expect(now.mock.calls.length).toBeGreaterThanOrEqual(4);
  } finally {
    now.mockRestore();
  }
});
