/*
 * lshrs measured as a user runs it, through its public API only: rows go into a PostgreSQL table
 * and the index with `lsh.index` on a stream; the index is rebuilt from that table for each
 * configuration; queries rerank candidates fetched from the table.
 * Where a query's time goes is measured from inside, through the library's tracing channel
 * (`lshrs:query`, node:diagnostics_channel): one extra pass over the queries reads each query's
 * phases (hashing, Redis round trips, ranking by sketch, store fetch, rerank) and what it read
 * (bucket records, bytes). The same pass reads Redis' own account of the time its commands took
 * (INFO commandstats before and after each query, outside the timed region).
 */
import { tracingChannel } from 'node:diagnostics_channel';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { LSHRS, PostgresVectorStore, sizedRows, TRACE_CHANNELS, type IndexItem, type QueryTrace, type VectorStore } from '../../src';
import { float32FromLE, float32ToLE } from '../../src/float32';
import type { Dataset, Neighbours } from './dataset';
import { recallAt } from './ground-truth';
import { usedMemory } from './redis-memory';
import { mean, median, medianPercentiles, now, percentiles, progress, quantile, type Percentiles } from './timing';

export interface Servers {
  redis: Redis;
  pool: pg.Pool;
}

/**
 * An index shape to try. No bands: lshrs' own defaults for the size (`expectedSize: n`, i.e.
 * SIZED_BANDS x sizedRows(n)); bands without rows: that many bands of sizedRows(n) rows.
 */
export interface Shape {
  bands?: number;
  rows?: number;
}

export interface QuerySetting {
  rerankCandidates: number;
  topP: number;
  /** Buckets read in each band; undefined: the index's default, defaultProbes(rows, bands). */
  probes?: number;
}

export const shapeLabel = (shape: Shape, resolved?: { bands: number; rows: number }) =>
  shape.bands === undefined
    ? `defaults (${resolved ? `${resolved.bands} x ${resolved.rows}` : 'sized'})`
    : `${shape.bands} x ${shape.rows ?? resolved?.rows ?? 'sized'}`;

/** A setting in words; `defaultProbes` (the index's default) is printed beside "default" when given. */
export const settingLabel = (s: QuerySetting, defaultProbes?: number) =>
  [
    `probes ${s.probes ?? `default${defaultProbes === undefined ? '' : ` (${defaultProbes})`}`}`,
    `rerankCandidates ${s.rerankCandidates}`,
    ...(s.topP < 1 ? [`topP ${s.topP}`] : []),
  ].join(', ');

/** The data set's rows as a user streams them: `{ id, vector, text }`, one chunk in memory at a time. */
export async function* datasetItems(data: Dataset): AsyncIterable<IndexItem> {
  for (const chunk of data.chunks()) {
    for (let r = 0; r < chunk.count; r++) {
      const id = chunk.start + r;
      yield { id, vector: chunk.data.subarray(r * data.dim, (r + 1) * data.dim), text: data.text(id) };
    }
  }
}

/** The table's rows by id order (keyset pages, the next page requested while this one is indexed). */
export async function* tableItems(pool: pg.Pool, table: string, pageRows = 5000): AsyncIterable<IndexItem> {
  const page = (after: number) =>
    pool.query<{ id: string; embedding: Buffer }>(`SELECT id, embedding FROM "${table}" WHERE id > $1 ORDER BY id LIMIT ${pageRows}`, [after]);
  let pending = page(-1);
  for (;;) {
    const { rows } = await pending;
    if (rows.length === 0) return;
    pending = page(Number(rows[rows.length - 1].id));
    for (const row of rows) {
      yield { id: Number(row.id), vector: float32FromLE(row.embedding) };
    }
  }
}

/** The user's real store, counting the ids each fetch asks for (the candidates a query reranks). */
export class CountingStore implements VectorStore {
  lastFetchIds = 0;
  constructor(private readonly inner: VectorStore) {}
  fetch(ids: Parameters<VectorStore['fetch']>[0]) {
    this.lastFetchIds = ids.length;
    return this.inner.fetch(ids);
  }
  reset(): void {
    this.lastFetchIds = 0;
  }
}

export interface BuildFigures {
  seconds: number[];
  vectorsPerSecond: number;
}

export interface MemoryFigures {
  /** INFO memory used_memory after the build minus before it. */
  usedMemoryDelta: number;
  usedMemoryPerId: number;
  /** lsh.stats(): MEMORY USAGE summed over the index's keys. */
  statsBytes: number;
  statsBytesPerId: number;
  buckets: number;
  /** Buckets at their cap (lsh.stats().giantBuckets.count): queries read only their first bucketCap records. */
  giantBuckets: number;
  reversePagesUsed: number;
}

export interface IngestResult {
  table: string;
  ingest: BuildFigures;
}

/**
 * Loads the data set into a fresh table and the default index for its size, end to end, `repeats` times
 * (the table truncated and the index cleared before each), and keeps the last load.
 */
export async function ingest(data: Dataset, servers: Servers, table: string, prefix: string, repeats: number, reuse = false): Promise<IngestResult> {
  const { redis, pool } = servers;
  if (reuse) {
    // A table an earlier run loaded (DATABASE_URL given) is kept: no ingest is timed.
    const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${table}"`).catch(() => ({ rows: [{ n: '0' }] }));
    if (Number(rows[0].n) === data.n) {
      progress(`  reusing table ${table} (${data.n} rows): ingest not timed`);
      return { table, ingest: { seconds: [], vectorsPerSecond: Number.NaN } };
    }
    await loadTable(data, pool, table);
    return { table, ingest: { seconds: [], vectorsPerSecond: Number.NaN } };
  }
  await pool.query(`DROP TABLE IF EXISTS "${table}"`);
  await PostgresVectorStore.createTable(pool, { table });
  // The index a user gets who states the corpus size (the same shape as the defaults' build).
  const lsh = new LSHRS({ redis, dim: data.dim, prefix, expectedSize: data.n, store: new PostgresVectorStore({ pool, table }) });
  const seconds: number[] = [];
  for (let r = 0; r < repeats; r++) {
    await pool.query(`TRUNCATE "${table}"`);
    await lsh.clear();
    const started = now();
    const result = await lsh.index(datasetItems(data));
    seconds.push((now() - started) / 1000);
    if (result.added !== data.n) throw new Error(`ingest added ${result.added} of ${data.n} rows`);
    progress(`  ingest ${r + 1}/${repeats}: ${data.n} rows in ${seconds[r].toFixed(1)} s`);
  }
  await pool.query(`VACUUM ANALYZE "${table}"`);
  await lsh.clear();
  return { table, ingest: { seconds, vectorsPerSecond: data.n / median(seconds) } };
}

/**
 * Loads the rows into a fresh table with plain batched INSERTs and no index, untimed: for
 * --reuse-table, where only the build from the table is measured and later runs reuse the table.
 */
async function loadTable(data: Dataset, pool: pg.Pool, table: string): Promise<void> {
  progress(`  loading table ${table} (${data.n} rows, not indexed, not timed)`);
  await pool.query(`DROP TABLE IF EXISTS "${table}"`);
  await PostgresVectorStore.createTable(pool, { table });
  const batch = 5000;
  for (const chunk of data.chunks()) {
    for (let r = 0; r < chunk.count; r += batch) {
      const count = Math.min(batch, chunk.count - r);
      const ids = Array.from({ length: count }, (_, i) => chunk.start + r + i);
      const vectors = ids.map((_, i) => float32ToLE(chunk.data.subarray((r + i) * data.dim, (r + i + 1) * data.dim)));
      await pool.query(`INSERT INTO "${table}" (id, embedding, text) SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::text[])`, [
        ids,
        vectors,
        ids.map((id) => data.text(id)),
      ]);
    }
  }
  await pool.query(`VACUUM ANALYZE "${table}"`);
}

export interface BuiltIndex {
  lsh: LSHRS;
  /** The connection the index uses (its Redis busy time is read on it). */
  redis: Redis;
  store: CountingStore;
  shape: Shape;
  bands: number;
  rows: number;
  /** The index's default probes per band, defaultProbes(rows, bands). */
  probes: number;
  build: BuildFigures;
  memory: MemoryFigures;
}

/**
 * Builds the index of one shape from the rows already in the table (a read-only store: Redis only),
 * `repeats` times, measuring Redis memory around the last build.
 */
export async function buildFromTable(
  data: Dataset,
  servers: Servers,
  table: string,
  prefix: string,
  shape: Shape,
  repeats: number,
): Promise<BuiltIndex> {
  const { redis, pool } = servers;
  const store = new CountingStore(new PostgresVectorStore({ pool, table, readOnly: true }));
  // lshrs' defaults for the size: what a user who states the corpus size gets.
  const sizing = shape.bands === undefined ? { expectedSize: data.n } : { numBands: shape.bands, rowsPerBand: shape.rows ?? sizedRows(data.n) };
  const lsh = new LSHRS({ redis, dim: data.dim, prefix, store, ...sizing });
  const seconds: number[] = [];
  let before = 0;
  for (let r = 0; r < repeats; r++) {
    await lsh.clear();
    before = await usedMemory(redis);
    const started = now();
    const result = await lsh.index(tableItems(pool, table));
    seconds.push((now() - started) / 1000);
    if (result.added !== data.n) throw new Error(`build added ${result.added} of ${data.n} ids`);
  }
  const after = await usedMemory(redis);
  const stats = await lsh.stats();
  const { bands, rows } = lsh.shape;
  progress(
    `  built ${shapeLabel(shape, { bands, rows })} from the table: ${(data.n / median(seconds)).toFixed(0)} vectors/s, ${stats.bytesPerId?.toFixed(0)} B/id`,
  );
  return {
    lsh,
    redis,
    store,
    shape,
    bands,
    rows,
    probes: lsh.probes,
    build: { seconds, vectorsPerSecond: data.n / median(seconds) },
    memory: {
      usedMemoryDelta: after - before,
      usedMemoryPerId: (after - before) / data.n,
      statsBytes: stats.redisBytes,
      statsBytesPerId: stats.bytesPerId ?? Number.NaN,
      buckets: stats.buckets,
      giantBuckets: stats.giantBuckets.count,
      reversePagesUsed: stats.reversePagesUsed,
    },
  };
}

export interface Recall {
  at1: number;
  at10: number;
  at100: number;
}

/** Where a query's time goes and what it reads, from the tracing pass over every query (ms unless named). */
export interface Breakdown {
  /** Means of the traced phases (QueryTrace.phases). */
  hashMs: number;
  /** The bucket MGET (and the ids call, for ids that are not their own ordinals), client-side round trips. */
  redisMs: number;
  rankMs: number;
  fetchMs: number;
  rerankMs: number;
  /** Mean of the whole query, timed around `lsh.query` in the same pass. */
  totalMs: number;
  /** Bucket records read per query (QueryTrace.membersRead). */
  recordsRead: { mean: number; p95: number };
  /** Bucket bytes the MGETs returned per query, in MB (10^6 bytes). */
  mbRead: number;
  /** Buckets read per query, over all bands. */
  buckets: number;
  /** Share of queries that read a bucket at its cap (its overflow unread). */
  truncatedShare: number;
  /** Redis busy time per query (INFO commandstats: usec of the commands the query sent), ms. */
  redisBusy: { p50: number; p95: number; mean: number };
}

export interface QueryFigures {
  setting: QuerySetting;
  /** Buckets read per band in this setting (the index's default when the setting gives none). */
  probes: number;
  /** One client, queries one after another: medians over repeats of each repeat's percentiles (ms). */
  latency: Percentiles;
  recall: Recall;
  /** Candidates fetched from the store and reranked, per query. */
  reranked: { mean: number; p50: number; max: number };
  /** Queries answered with no candidate at all. */
  empty: number;
  /** With 8 queries in flight on one Redis connection and the pool (median over repeats). */
  qps8?: number;
  /** Where the time goes and what a query reads, from one traced pass (headline point only). */
  breakdown?: Breakdown;
}

const query = (data: Dataset, q: number) => data.queries.subarray(q * data.dim, (q + 1) * data.dim);

/** Server-side microseconds of each command so far (INFO commandstats), by command name (lower case). */
export async function commandUsec(redis: Redis): Promise<Map<string, number>> {
  const usec = new Map<string, number>();
  for (const match of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):.*?\busec=(\d+)/gm)) usec.set(match[1], Number(match[2]));
  return usec;
}

/**
 * Redis busy time between two INFO commandstats snapshots: the usec deltas of the commands the
 * query sent (a subcommand such as `script|load` counts under its command). The commands a script
 * runs inside Redis appear in commandstats too, and again inside their EVALSHA's usec: only what
 * the client sent is summed, so nothing is counted twice; INFO itself is never among them.
 */
export function busyMs(before: Map<string, number>, after: Map<string, number>, sent: ReadonlySet<string>): number {
  let usec = 0;
  for (const [name, total] of after) {
    if (sent.has(name.split('|')[0])) usec += total - (before.get(name) ?? 0);
  }
  return usec / 1000;
}

/**
 * Records the names of the commands an ioredis client sends while recording: every command
 * (single, pipelined, a script's EVALSHA and its EVAL fallback) passes through `sendCommand`.
 */
function commandRecorder(redis: Redis) {
  const sent = new Set<string>();
  let recording = false;
  const original = redis.sendCommand;
  redis.sendCommand = function (this: Redis, ...args: Parameters<Redis['sendCommand']>) {
    if (recording) sent.add(args[0].name.toLowerCase());
    return original.apply(this, args);
  } as Redis['sendCommand'];
  return {
    start(): void {
      sent.clear();
      recording = true;
    },
    stop(): ReadonlySet<string> {
      recording = false;
      return new Set(sent);
    },
    restore(): void {
      redis.sendCommand = original;
    },
  };
}

/**
 * One pass over the queries with the `lshrs:query` tracing channel subscribed: each query's
 * traced phases and reads, its time around `lsh.query`, and Redis' busy time for it (INFO
 * commandstats before and after, outside the timed region).
 */
async function tracedPass(data: Dataset, index: BuiltIndex, ask: Parameters<LSHRS['query']>[1]): Promise<Breakdown> {
  const { lsh, redis } = index;
  const Q = data.queryCount;
  const channel = tracingChannel<unknown, QueryTrace>(TRACE_CHANNELS.query);
  let last: QueryTrace | undefined;
  const keep = (context: QueryTrace) => {
    last = context;
  };
  const subscribers = { start: () => {}, end: () => {}, asyncStart: () => {}, asyncEnd: keep, error: keep };
  const phases = {
    hashMs: new Float64Array(Q),
    redisMs: new Float64Array(Q),
    rankMs: new Float64Array(Q),
    fetchMs: new Float64Array(Q),
    rerankMs: new Float64Array(Q),
  };
  const totalMs = new Float64Array(Q);
  const records = new Float64Array(Q);
  const bytes = new Float64Array(Q);
  const buckets = new Float64Array(Q);
  const busy = new Float64Array(Q);
  let truncated = 0;
  const recorder = commandRecorder(redis);
  channel.subscribe(subscribers);
  try {
    for (let q = 0; q < Q; q++) {
      const before = await commandUsec(redis);
      last = undefined;
      recorder.start();
      const started = now();
      await lsh.query(query(data, q), ask);
      totalMs[q] = now() - started;
      const sent = recorder.stop();
      busy[q] = busyMs(before, await commandUsec(redis), sent);
      if (!last) throw new Error('the lshrs:query tracing channel published no context for a query');
      const trace: QueryTrace = last;
      for (const phase of Object.keys(phases) as (keyof typeof phases)[]) phases[phase][q] = trace.phases[phase];
      records[q] = trace.membersRead;
      bytes[q] = trace.bytesRead;
      buckets[q] = trace.buckets;
      if (trace.truncated) truncated++;
    }
  } finally {
    channel.unsubscribe(subscribers);
    recorder.restore();
  }
  return {
    hashMs: mean(phases.hashMs),
    redisMs: mean(phases.redisMs),
    rankMs: mean(phases.rankMs),
    fetchMs: mean(phases.fetchMs),
    rerankMs: mean(phases.rerankMs),
    totalMs: mean(totalMs),
    recordsRead: { mean: mean(records), p95: quantile(records, 0.95) },
    mbRead: mean(bytes) / 1e6,
    buckets: mean(buckets),
    truncatedShare: truncated / Q,
    redisBusy: { p50: quantile(busy, 0.5), p95: quantile(busy, 0.95), mean: mean(busy) },
  };
}

/** Recall, latency and candidate counts of one query setting over all held-out queries. */
export async function measureQueries(
  data: Dataset,
  truth: Neighbours,
  index: BuiltIndex,
  setting: QuerySetting,
  options: { repeats: number; warmup: number; concurrency?: number; breakdown?: boolean },
): Promise<QueryFigures> {
  const { lsh, store } = index;
  const Q = data.queryCount;
  const ask = { topK: 100, rerankCandidates: setting.rerankCandidates, topP: setting.topP, probes: setting.probes };
  for (let q = 0; q < Math.min(options.warmup, Q); q++) await lsh.query(query(data, q), ask);

  const repeats: Percentiles[] = [];
  const recall = { at1: 0, at10: 0, at100: 0 };
  const reranked = new Float64Array(Q);
  let empty = 0;
  for (let r = 0; r < options.repeats; r++) {
    const latencies = new Float64Array(Q);
    for (let q = 0; q < Q; q++) {
      store.reset();
      const started = now();
      const hits = await lsh.query(query(data, q), ask);
      latencies[q] = now() - started;
      if (r === 0) {
        const ids = hits.map((h) => Number(h.id));
        recall.at1 += recallAt(truth, q, ids, 1);
        recall.at10 += recallAt(truth, q, ids, 10);
        recall.at100 += recallAt(truth, q, ids, 100);
        reranked[q] = store.lastFetchIds;
        if (hits.length === 0) empty++;
      }
    }
    repeats.push(percentiles(latencies));
  }
  const figures: QueryFigures = {
    setting,
    probes: setting.probes ?? index.probes,
    latency: medianPercentiles(repeats),
    recall: { at1: recall.at1 / Q, at10: recall.at10 / Q, at100: recall.at100 / Q },
    reranked: { mean: mean(reranked), p50: median(reranked), max: Math.max(...reranked) },
    empty,
  };

  if (options.concurrency) {
    const rates: number[] = [];
    for (let r = 0; r < options.repeats; r++) {
      let next = 0;
      const started = now();
      const worker = async () => {
        for (let q = next++; q < Q; q = next++) await lsh.query(query(data, q), ask);
      };
      await Promise.all(Array.from({ length: options.concurrency }, worker));
      rates.push(Q / ((now() - started) / 1000));
    }
    figures.qps8 = median(rates);
  }

  if (options.breakdown) figures.breakdown = await tracedPass(data, index, ask);
  return figures;
}
