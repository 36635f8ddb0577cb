/*
 * npm run bench:filtered [-- options]: filtered queries on the synthetic set (1M by default) with a
 * `category` column of 1,000 values, at selectivities 50%, 10%, 1% and 0.1%: recall@10 among the
 * matching rows against the exact answer, latency, the path lshrs took (candidates or an exact
 * scan), Redis busy time, and the exact scan of the matching rows through PostgreSQL at each
 * selectivity (the other side of the crossover). Writes the section "bench-filtered" of BENCHMARKS.md.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { Redis } from 'ioredis';
import pg from 'pg';
import { startPostgres, startRedis, type Throwaway } from '../../dev/servers';
import { type Filter, LSHRS, PostgresVectorStore, type QueryTrace, TRACE_CHANNELS } from '../../src';
import { ExactTopK } from '../../src/query/rerank';
import { float32ToLE } from '../../src/float32';
import { withSection } from '../lib/report-sections';
import type { Dataset, VectorChunk } from './dataset';
import { exactTopK } from './exact';
import { busyMs, commandUsec, tableItems } from './lshrs-runner';
import { machine } from './machine';
import { syntheticSet } from './synthetic';
import { percentiles, progress } from './timing';

const positiveInt = (value: string) => {
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got ${value}`);
  return n;
};

const o = new Command()
  .name('npm run bench:filtered --')
  .option('--n <rows>', 'synthetic rows', positiveInt, 1_000_000)
  .option('--queries <count>', 'queries per filter', positiveInt, 200)
  .option('--scan-queries <count>', 'queries per filter for the forced exact scan', positiveInt, 20)
  .option('--out <file>', 'the report to write', 'BENCHMARKS.md')
  .option('--shared <what>', 'say what else ran on the machine meanwhile')
  .parse()
  .opts<{ n: number; queries: number; scanQueries: number; out: string; shared?: string }>();

const DIM = 384;
const CATEGORIES = 1000;
/** A row's category: its id mixed (so that it is unrelated to where the generator put the row), mod 1,000. */
const categoryOf = (id: number) => (Math.imul(id ^ (id >>> 15), 0x2c1b3c6d) >>> 0) % CATEGORIES;

const FILTERS: { label: string; filter: Filter; matches: (c: number) => boolean }[] = [
  { label: '50%', filter: { category: { $lt: 500 } }, matches: (c) => c < 500 },
  { label: '10%', filter: { category: { $lt: 100 } }, matches: (c) => c < 100 },
  { label: '1%', filter: { category: { $in: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] } }, matches: (c) => c < 10 },
  { label: '0.1%', filter: { category: 0 }, matches: (c) => c === 0 },
];

/** The base rows that match, compacted, with the real id of each compacted row. */
function matchingChunks(data: Dataset, matches: (c: number) => boolean, realIds: number[]): Iterable<VectorChunk> {
  return (function* () {
    for (const chunk of data.chunks()) {
      const keep: number[] = [];
      for (let r = 0; r < chunk.count; r++) if (matches(categoryOf(chunk.start + r))) keep.push(r);
      const out = new Float32Array(keep.length * DIM);
      keep.forEach((r, i) => out.set(chunk.data.subarray(r * DIM, (r + 1) * DIM), i * DIM));
      const start = realIds.length;
      for (const r of keep) realIds.push(chunk.start + r);
      yield { start, count: keep.length, data: out };
    }
  })();
}

/** Exact top-10 among the matching rows of each query, cached. */
function filteredTruth(data: Dataset, index: number, queries: number): Int32Array {
  const dir = resolve(__dirname, '..', '..', '.bench-cache', 'truth');
  const path = join(dir, `${data.key}-filtered${index}-cat${CATEGORIES}-q${queries}-top10.i32`);
  if (existsSync(path)) return new Int32Array(new Uint8Array(readFileSync(path)).buffer);
  const realIds: number[] = [];
  const found = exactTopK(data.queries, queries, DIM, matchingChunks(data, FILTERS[index].matches, realIds), 10);
  const ids = Int32Array.from(found.ids, (i) => (i < 0 ? -1 : realIds[i]));
  mkdirSync(dir, { recursive: true });
  writeFileSync(path, new Uint8Array(ids.buffer));
  return ids;
}

async function loadTable(data: Dataset, pool: pg.Pool, table: string): Promise<void> {
  const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM pg_tables WHERE tablename = $1', [table]);
  if (Number(rows[0].n) > 0 && Number((await pool.query(`SELECT count(*) AS n FROM "${table}"`)).rows[0].n) === data.n) return;
  progress(`loading ${table} (${data.n} rows with a category column; not timed)`);
  await pool.query(`DROP TABLE IF EXISTS "${table}"`);
  await pool.query(`CREATE TABLE "${table}" (id bigint PRIMARY KEY, embedding bytea NOT NULL, text text, category int NOT NULL)`);
  for (const chunk of data.chunks()) {
    for (let r = 0; r < chunk.count; r += 5000) {
      const count = Math.min(5000, chunk.count - r);
      const ids = Array.from({ length: count }, (_, i) => chunk.start + r + i);
      await pool.query(`INSERT INTO "${table}" SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::text[], $4::int[])`, [
        ids,
        ids.map((_, i) => float32ToLE(chunk.data.subarray((r + i) * DIM, (r + i + 1) * DIM))),
        ids.map((id) => data.text(id)),
        ids.map(categoryOf),
      ]);
    }
  }
  await pool.query(`CREATE INDEX ON "${table}" (category)`);
  await pool.query(`VACUUM ANALYZE "${table}"`);
}

interface FilterFigures {
  label: string;
  matching: number;
  recall: number;
  latency: ReturnType<typeof percentiles>;
  redisBusy: ReturnType<typeof percentiles>;
  /** Queries answered by the exact scan, and mean rounds of candidates. */
  exactShare: number;
  rounds: number;
  asked: number;
  scanLatency: ReturnType<typeof percentiles>;
  scanRecall: number;
}

async function main(): Promise<void> {
  const started = performance.now();
  const throwaway: Throwaway[] = [];
  const redisServer = await startRedis();
  throwaway.push(redisServer);
  const pgServer = await startPostgres();
  throwaway.push(pgServer);
  const redis = new Redis(redisServer.url);
  const pool = new pg.Pool({ connectionString: pgServer.url, max: 4 });
  try {
    const data = syntheticSet({ n: o.n, dim: DIM, queries: o.queries, seed: '42', cacheDir: resolve(__dirname, '..', '..', '.bench-cache') });
    const table = `bench_filtered_${o.n}`;
    await loadTable(data, pool, table);
    const store = new PostgresVectorStore({ pool, table });
    const lsh = new LSHRS({ redis, dim: DIM, prefix: table, store: new PostgresVectorStore({ pool, table, readOnly: true }), expectedSize: data.n });
    progress('building the index from the table');
    const buildStart = performance.now();
    await lsh.clear();
    await lsh.index(tableItems(pool, table));
    const buildSeconds = (performance.now() - buildStart) / 1000;
    progress(`built in ${buildSeconds.toFixed(0)} s`);
    const results: FilterFigures[] = [];
    for (const [index, f] of FILTERS.entries()) {
      progress(`${f.label}: exact answer`);
      const truth = filteredTruth(data, index, o.queries);
      const matching = Number(
        (
          await pool.query(`SELECT count(*) AS n FROM "${table}" WHERE category = ANY($1)`, [
            Array.from({ length: CATEGORIES }, (_, c) => c).filter(f.matches),
          ])
        ).rows[0].n,
      );
      const query = (q: number) => data.queries.subarray(q * DIM, (q + 1) * DIM);
      for (let q = 0; q < Math.min(20, o.queries); q++) await lsh.query(query(q), { topK: 10, filter: f.filter });
      const times: number[] = [];
      const busy: number[] = [];
      let found = 0;
      let exactCount = 0;
      let rounds = 0;
      let asked = 0;
      let trace: QueryTrace | undefined;
      const onEnd = (message: unknown) => {
        trace = message as QueryTrace;
      };
      subscribe(`tracing:${TRACE_CHANNELS.query}:asyncEnd`, onEnd);
      for (let q = 0; q < o.queries; q++) {
        const before = await commandUsec(redis);
        const t0 = performance.now();
        const hits = await lsh.query(query(q), { topK: 10, filter: f.filter });
        times.push(performance.now() - t0);
        busy.push(busyMs(before, await commandUsec(redis), new Set(['evalsha', 'mget', 'eval', 'hget', 'hgetall'])));
        const want = new Set(truth.subarray(q * 10, q * 10 + 10));
        found += hits.filter((h) => want.has(h.id as number)).length;
        if (trace?.filter?.exact) exactCount++;
        rounds += trace?.filter?.rounds ?? 0;
        asked += trace?.filter?.asked ?? 0;
      }
      unsubscribe(`tracing:${TRACE_CHANNELS.query}:asyncEnd`, onEnd);
      // The exact scan of the matching rows through PostgreSQL, forced, on fewer queries.
      const scanTimes: number[] = [];
      let scanFound = 0;
      const scanQueries = Math.min(o.scanQueries, o.queries);
      for (let q = 0; q < scanQueries; q++) {
        const t0 = performance.now();
        const best = new ExactTopK(query(q), 10, (id) => Number(id));
        await store.scanMatching({ filter: f.filter }, (rows) => {
          best.add(rows);
          return true;
        });
        const hits = best.result();
        scanTimes.push(performance.now() - t0);
        const want = new Set(truth.subarray(q * 10, q * 10 + 10));
        scanFound += hits.filter((h) => want.has(h.id as number)).length;
      }
      const figures: FilterFigures = {
        label: f.label,
        matching,
        recall: found / (o.queries * 10),
        latency: percentiles(times),
        redisBusy: percentiles(busy),
        exactShare: exactCount / o.queries,
        rounds: rounds / o.queries,
        asked: asked / o.queries,
        scanLatency: percentiles(scanTimes),
        scanRecall: scanFound / (scanQueries * 10),
      };
      progress(
        `${f.label}: recall@10 ${figures.recall.toFixed(3)}, p50 ${figures.latency.p50.toFixed(1)} ms, p95 ${figures.latency.p95.toFixed(1)} ms, exact ${(figures.exactShare * 100).toFixed(0)}%, scan p50 ${figures.scanLatency.p50.toFixed(0)} ms`,
      );
      results.push(figures);
    }
    await lsh.clear();
    const report = {
      n: o.n,
      queries: o.queries,
      scanQueries: o.scanQueries,
      buildSeconds,
      machine: machine(),
      shared: o.shared ?? null,
      results,
      seconds: (performance.now() - started) / 1000,
      date: new Date().toISOString(),
    };
    mkdirSync(resolve(__dirname, '..', '..', '.bench-cache'), { recursive: true });
    writeFileSync(resolve(__dirname, '..', '..', '.bench-cache', 'BENCHMARKS-bench-filtered.json'), JSON.stringify(report, null, 1));
    writeFileSync(o.out, withSection(o.out, 'bench-filtered', render(report)));
    progress(`wrote ${o.out} (section bench-filtered)`);
  } finally {
    await Promise.allSettled([redis.quit(), pool.end()]);
    await Promise.all(throwaway.map((s) => s.stop()));
  }
}

function render(r: {
  n: number;
  queries: number;
  scanQueries: number;
  buildSeconds: number;
  machine: ReturnType<typeof machine>;
  shared: string | null;
  results: FilterFigures[];
  seconds: number;
  date: string;
}): string {
  const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const rows = r.results.map(
    (f) =>
      `| ${f.label} | ${f.matching.toLocaleString('en-US')} | **${f.recall.toFixed(3)}** | ${ms(f.latency.p50)} | **${ms(f.latency.p95)}** | ${ms(f.redisBusy.p50)} / ${ms(f.redisBusy.p95)} | ${(f.exactShare * 100).toFixed(0)}% | ${f.rounds.toFixed(2)} | ${Math.round(f.asked).toLocaleString('en-US')} | ${ms(f.scanLatency.p50)} / ${ms(f.scanLatency.p95)} (${f.scanRecall.toFixed(3)}) |`,
  );
  return [
    '# lshrs benchmarks: filtered queries',
    '',
    `Measured ${r.date.slice(0, 10)} by \`npm run bench:filtered -- --n ${r.n} --queries ${r.queries}\` in ${(r.seconds / 60).toFixed(1)} minutes at lshrs ${r.machine.lshrsCommit} on ${r.machine.cpuModel} (${r.machine.cores} cores)${r.shared ? `; meanwhile on the machine: ${r.shared}` : ''}.`,
    '',
    `Synthetic ${r.n.toLocaleString('en-US')} x ${DIM} (the bench's generator), with a \`category\` column of ${CATEGORIES.toLocaleString('en-US')} values (a hash of the id, so unrelated to where a row lies) and a btree index on it; the lshrs index at its defaults for the size, built from the table in ${r.buildSeconds.toFixed(0)} s. Each filter: ${r.queries} held-out queries, topK 10, after 20 warm-up queries; recall@10 against the exact top 10 among the matching rows (brute force, cached). Redis busy: INFO commandstats usec of the query's commands. The exact scan column forces \`scanMatching\` (every matching row through a cursor, cosines in Node) on ${r.scanQueries} queries: the other side of the crossover lshrs chooses by PostgreSQL's estimate.`,
    '',
    '| filter selectivity | matching rows | recall@10 | p50 ms | p95 ms | Redis busy p50 / p95 ms | answered by exact scan | rounds of candidates | candidates asked | forced exact scan p50 / p95 ms (recall) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    "pgvector's HNSW with the same WHERE is not in this run: this machine has no pgvector build for its PostgreSQL 15 (Debian's archive here carries none), and the PGlite WASM build indexes ~1-2k rows/s, hours at 1M.",
  ].join('\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
