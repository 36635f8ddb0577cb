/*
 * lshrs measured as a user runs it, through its public API only: rows go into a PostgreSQL table
 * and the index with `lsh.index` on a stream; the index is rebuilt from that table for each
 * configuration; queries rerank candidates fetched from the table.
 * Where a query's time goes is measured from outside: `query(v, { rerank: false })` times hashing
 * plus the script round trip, a wrapping store times the fetch inside the real query, and the rest
 * of the query is the rerank.
 */
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { bandValues, hyperplanes, LSHRS, PostgresVectorStore, type IndexItem, type VectorStore } from '../../src';
import { float32FromLE } from '../../src/float32';
import type { Dataset, Neighbours } from './dataset';
import { recallAt } from './ground-truth';
import { usedMemory } from './redis-memory';
import { mean, median, medianPercentiles, now, percentiles, progress, type Percentiles } from './timing';

export interface Servers {
  redis: Redis;
  pool: pg.Pool;
}

/** An index shape to try; no bands/rows means lshrs' own defaults (the planner). */
export interface Shape {
  bands?: number;
  rows?: number;
}

export interface QuerySetting {
  rerankCandidates: number;
  topP: number;
  /** Buckets read per band; undefined: the index's default for its rows. */
  probes?: number;
  /** Stage-1 candidates; undefined: the index's default (4000). */
  maxCandidates?: number;
}

export const shapeLabel = (shape: Shape, resolved?: { bands: number; rows: number }) =>
  shape.bands === undefined ? `defaults (${resolved ? `${resolved.bands} x ${resolved.rows}` : 'planned'})` : `${shape.bands} x ${shape.rows}`;

export const settingLabel = (s: QuerySetting) =>
  [
    `probes ${s.probes ?? 'default'}`,
    ...(s.maxCandidates !== undefined ? [`maxCandidates ${s.maxCandidates}`] : []),
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

/** A store that times each fetch and counts the ids asked for, around the user's real store. */
export class TimedStore implements VectorStore {
  lastFetchMs = 0;
  lastFetchIds = 0;
  constructor(private readonly inner: VectorStore) {}
  async fetch(ids: Parameters<VectorStore['fetch']>[0]) {
    const started = now();
    const rows = await this.inner.fetch(ids);
    this.lastFetchMs = now() - started;
    this.lastFetchIds = ids.length;
    return rows;
  }
  reset(): void {
    this.lastFetchMs = 0;
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

export interface BuiltIndex {
  lsh: LSHRS;
  store: TimedStore;
  shape: Shape;
  bands: number;
  rows: number;
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
  const store = new TimedStore(new PostgresVectorStore({ pool, table, readOnly: true }));
  // lshrs' defaults for the size: what a user who states the corpus size gets.
  const sizing = shape.bands === undefined ? { expectedSize: data.n } : { numBands: shape.bands, rowsPerBand: shape.rows };
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
  const { bands, rows } = lsh.toJSON();
  progress(
    `  built ${shapeLabel(shape, { bands, rows })} from the table: ${(data.n / median(seconds)).toFixed(0)} vectors/s, ${stats.bytesPerId?.toFixed(0)} B/id`,
  );
  return {
    lsh,
    store,
    shape,
    bands,
    rows,
    build: { seconds, vectorsPerSecond: data.n / median(seconds) },
    memory: {
      usedMemoryDelta: after - before,
      usedMemoryPerId: (after - before) / data.n,
      statsBytes: stats.redisBytes,
      statsBytesPerId: stats.bytesPerId ?? Number.NaN,
      buckets: stats.buckets,
      reversePagesUsed: stats.reversePagesUsed,
    },
  };
}

export interface Recall {
  at1: number;
  at10: number;
  at100: number;
}

export interface QueryFigures {
  setting: QuerySetting;
  /** One client, queries one after another: medians over repeats of each repeat's percentiles (ms). */
  latency: Percentiles;
  recall: Recall;
  /** Candidates fetched from the store and reranked, per query. */
  reranked: { mean: number; p50: number; max: number };
  /** Queries answered with no candidate at all. */
  empty: number;
  /** With 8 queries in flight on one Redis connection and the pool (median over repeats). */
  qps8?: number;
  /** Where the time goes, means over the queries of one pass (ms): they add up to the mean total. */
  breakdown?: { hashing: number; script: number; fetch: number; rerank: number; total: number; medianFetch: number; medianScript: number };
}

const query = (data: Dataset, q: number) => data.queries.subarray(q * data.dim, (q + 1) * data.dim);

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
  const ask = {
    topK: 100,
    rerankCandidates: setting.rerankCandidates,
    topP: setting.topP,
    probes: setting.probes,
    maxCandidates: setting.maxCandidates,
  };
  for (let q = 0; q < Math.min(options.warmup, Q); q++) await lsh.query(query(data, q), ask);

  const repeats: Percentiles[] = [];
  const recall = { at1: 0, at10: 0, at100: 0 };
  const reranked = new Float64Array(Q);
  const fetchMs = new Float64Array(Q);
  const totalMs = new Float64Array(Q);
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
        fetchMs[q] = store.lastFetchMs;
        totalMs[q] = latencies[q];
        if (hits.length === 0) empty++;
      }
    }
    repeats.push(percentiles(latencies));
  }
  const figures: QueryFigures = {
    setting,
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

  if (options.breakdown) {
    // Hashing alone, with the index's own hyperplanes (public hyperplanes + bandValues).
    const state = lsh.toJSON();
    const planes = hyperplanes(state.dim, state.bands * state.rows, state.seed);
    const layout = { dim: state.dim, bands: state.bands, rows: state.rows };
    let started = now();
    for (let q = 0; q < Q; q++) bandValues(query(data, q), 1, planes, layout);
    const hashing = (now() - started) / Q;
    // Hashing + the script round trip: the same query without the rerank.
    const scriptMs = new Float64Array(Q);
    for (let q = 0; q < Q; q++) {
      started = now();
      await lsh.query(query(data, q), { ...ask, rerank: false });
      scriptMs[q] = now() - started;
    }
    const total = mean(totalMs);
    const hashAndScript = mean(scriptMs);
    const fetch = mean(fetchMs);
    figures.breakdown = {
      hashing,
      script: hashAndScript - hashing,
      fetch,
      rerank: total - hashAndScript - fetch,
      total,
      medianFetch: median(fetchMs),
      medianScript: median(scriptMs) - hashing,
    };
  }
  return figures;
}
