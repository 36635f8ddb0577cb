/*
 * npm run bench:filtered [-- options]: filtered queries on the synthetic set (1M by default) with a
 * `category` column of 1,000 values, at selectivities 50%, 10%, 1% and 0.1%: recall@10 among the
 * matching rows against the exact answer, latency, the path lshrs took (candidates or an exact
 * scan), Redis busy time, and the exact scan of the matching rows through PostgreSQL at each
 * selectivity (the other side of the crossover). Writes the section "bench-filtered" of BENCHMARKS.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Throwaway } from '../../dev/servers';
import { benchServers } from './bench-servers';
import { LSHRS, PostgresVectorStore, type QueryTrace, TRACE_CHANNELS } from '../../src';
import { ExactTopK } from '../../src/query/rerank';
import { withSection } from '../lib/report-sections';
import { CACHE, CATEGORIES, categoryOf, DIM, FILTERS, filteredTruth, loadTable } from './filtered-data';
import { busyMs, commandUsec, tableItems } from './lshrs-runner';
import { machine } from './machine';
import { syntheticSet } from './synthetic';
import { type Dataset, loadRealSet } from './dataset';
import { percentiles, progress } from './timing';
import { type FilteredPeerResult, pgvectorFiltered } from './peers/pgvector-filtered';

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

interface SetFigures {
  n: number;
  buildSeconds: number;
  results: FilterFigures[];
}

/** Loads (once) and indexes a set, then answers every filter on it. */
async function runSet(data: Dataset, table: string, scanQueries: number, redis: Redis, pool: pg.Pool): Promise<SetFigures> {
  const { n } = data;
  const queries = data.queryCount;
  await loadTable(data, pool, table);
  const store = new PostgresVectorStore({ pool, table });
  const lsh = new LSHRS({
    redis,
    dim: data.dim,
    prefix: table,
    store: new PostgresVectorStore({ pool, table, readOnly: true }),
    expectedSize: data.n,
  });
  progress('building the index from the table');
  const buildStart = performance.now();
  await lsh.clear();
  await lsh.index(tableItems(pool, table));
  const buildSeconds = (performance.now() - buildStart) / 1000;
  progress(`built in ${buildSeconds.toFixed(0)} s`);
  const results: FilterFigures[] = [];
  for (const [index, f] of FILTERS.entries()) {
    progress(`${f.label}: exact answer`);
    const truth = filteredTruth(data, index, queries);
    const matching = Number(
      (
        await pool.query(`SELECT count(*) AS n FROM "${table}" WHERE category = ANY($1)`, [
          Array.from({ length: CATEGORIES }, (_, c) => c).filter(f.matches),
        ])
      ).rows[0].n,
    );
    const query = (q: number) => data.queries.subarray(q * data.dim, (q + 1) * data.dim);
    for (let q = 0; q < Math.min(20, queries); q++) await lsh.query(query(q), { topK: 10, filter: f.filter });
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
    for (let q = 0; q < queries; q++) {
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
    const scanCount = Math.min(scanQueries, queries);
    for (let q = 0; q < scanCount; q++) {
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
      recall: found / (queries * 10),
      latency: percentiles(times),
      redisBusy: percentiles(busy),
      exactShare: exactCount / queries,
      rounds: rounds / queries,
      asked: asked / queries,
      scanLatency: percentiles(scanTimes),
      scanRecall: scanCount === 0 ? Number.NaN : scanFound / (scanCount * 10),
    };
    progress(
      `${f.label}: recall@10 ${figures.recall.toFixed(3)}, p50 ${figures.latency.p50.toFixed(1)} ms, p95 ${figures.latency.p95.toFixed(1)} ms, exact ${(figures.exactShare * 100).toFixed(0)}%, scan p50 ${figures.scanLatency.p50.toFixed(0)} ms`,
    );
    results.push(figures);
  }
  await lsh.clear();
  return { n, buildSeconds, results };
}

async function main(): Promise<void> {
  const started = performance.now();
  const throwaway: Throwaway[] = [];
  // REDIS_URL / DATABASE_URL select servers (a loaded table is then kept between runs); otherwise throwaway ones are started.
  const { redisUrl, databaseUrl } = await benchServers({ redisUrl: process.env.REDIS_URL, databaseUrl: process.env.DATABASE_URL }, throwaway).catch(
    async (err) => {
      await Promise.all(throwaway.map((server) => server.stop()));
      throw err;
    },
  );
  const redis = new Redis(redisUrl);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  try {
    const largeData = syntheticSet({ n: o.n, dim: DIM, queries: o.queries, seed: '42', cacheDir: CACHE });
    const large = await runSet(largeData, `bench_filtered_${o.n}`, o.scanQueries, redis, pool);
    progress('the real set, beside pgvector');
    const real = loadRealSet(o.queries);
    const small = await runSet(real, 'bench_filtered_real', 0, redis, pool);
    const pgvector = await pgvectorFiltered(
      real,
      categoryOf,
      FILTERS.map((f, i) => ({ label: f.label, where: f.where, truth: filteredTruth(real, i, real.queryCount) })),
      real.queryCount,
    );
    for (const p of pgvector.points)
      progress(`pgvector ${p.setting}, ${p.filter}: recall@10 ${p.recall.toFixed(3)}, p95 ${p.latency.p95.toFixed(1)} ms`);
    const report: Report = {
      n: o.n,
      queries: o.queries,
      scanQueries: o.scanQueries,
      main: large,
      real: { label: real.label, n: real.n, dim: real.dim, queries: real.queryCount },
      small,
      pgvector,
      machine: machine(),
      shared: o.shared ?? null,
      seconds: (performance.now() - started) / 1000,
      date: new Date().toISOString(),
    };
    mkdirSync(CACHE, { recursive: true });
    writeFileSync(join(CACHE, 'BENCHMARKS-bench-filtered.json'), JSON.stringify(report, null, 1));
    writeFileSync(o.out, withSection(o.out, 'bench-filtered', render(report)));
    progress(`wrote ${o.out} (section bench-filtered)`);
  } finally {
    await Promise.allSettled([redis.quit(), pool.end()]);
    await Promise.all(throwaway.map((s) => s.stop()));
  }
}

interface Report {
  n: number;
  queries: number;
  scanQueries: number;
  main: SetFigures;
  real: { label: string; n: number; dim: number; queries: number };
  small: SetFigures;
  pgvector: FilteredPeerResult;
  machine: ReturnType<typeof machine>;
  shared: string | null;
  seconds: number;
  date: string;
}

const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const count = (x: number) => Math.round(x).toLocaleString('en-US');

function lshrsTable(set: SetFigures, withScan: boolean): string[] {
  const head = withScan
    ? [
        '| filter selectivity | matching rows | recall@10 | p50 ms | p95 ms | Redis busy p50 / p95 ms | answered by exact scan | rounds of candidates | candidates asked | forced exact scan p50 / p95 ms (recall) |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ]
    : [
        '| filter selectivity | matching rows | recall@10 | p50 ms | p95 ms | Redis busy p50 / p95 ms | answered by exact scan | rounds of candidates | candidates asked |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ];
  return [
    ...head,
    ...set.results.map(
      (f) =>
        `| ${f.label} | ${count(f.matching)} | **${f.recall.toFixed(3)}** | ${ms(f.latency.p50)} | **${ms(f.latency.p95)}** | ${ms(f.redisBusy.p50)} / ${ms(f.redisBusy.p95)} | ${(f.exactShare * 100).toFixed(0)}% | ${f.rounds.toFixed(2)} | ${count(f.asked)} |${withScan ? ` ${ms(f.scanLatency.p50)} / ${ms(f.scanLatency.p95)} (${f.scanRecall.toFixed(3)}) |` : ''}`,
    ),
  ];
}

function render(r: Report): string {
  const peerRows = r.pgvector.points.map(
    (p) => `| ${p.setting} | ${p.filter} | ${p.recall.toFixed(3)} | ${ms(p.latency.p50)} | ${ms(p.latency.p95)} |`,
  );
  return [
    '# lshrs benchmarks: filtered queries',
    '',
    `Measured ${r.date.slice(0, 10)} by \`npm run bench:filtered -- --n ${r.n} --queries ${r.queries} --scan-queries ${r.scanQueries}\` in ${(r.seconds / 60).toFixed(1)} minutes at lshrs ${r.machine.lshrsCommit} on ${r.machine.cpuModel} (${r.machine.cores} cores)${r.shared ? `; meanwhile on the machine: ${r.shared}` : ''}.`,
    '',
    `Synthetic ${count(r.n)} x ${DIM} (the bench's generator), with a \`category\` column of ${count(CATEGORIES)} values (a hash of the id, so unrelated to where a row lies) and a btree index on it; the lshrs index at its defaults for the size (\`expectedSize\`), built from the table in ${r.main.buildSeconds.toFixed(0)} s. Each filter: ${r.queries} held-out queries, topK 10, after 20 warm-up queries; recall@10 against the exact top 10 among the matching rows (brute force, cached). Redis busy: INFO commandstats usec of the query's commands. The forced exact scan calls \`scanMatching\` (every matching row through a cursor, cosines in Node) on ${r.scanQueries} queries: the other side of the crossover that lshrs chooses by PostgreSQL's estimate.`,
    '',
    ...lshrsTable(r.main, true),
    '',
    `## The same filters on the real set (${r.real.label}), beside pgvector`,
    '',
    `pgvector does not run at 1M here: Debian 12 ships no pgvector package, and its PGlite (WASM) build loads and indexes ~1-2k rows/s, hours at 1M. So lshrs and pgvector ${r.pgvector.version}'s HNSW (PGlite, m 16, ef_construction 64, built in ${r.pgvector.buildSeconds.toFixed(0)} s) answer the same four filters (the same \`category\` column) on the shared real set, ${r.real.queries} of its queries, with the same WHERE (\`SELECT id FROM items WHERE <filter> ORDER BY embedding <=> q LIMIT 10\`), the same queries and the same exact answer among the matching rows; lshrs at its defaults for ${count(r.real.n)} rows. PGlite runs in the bench's process on one thread: its latencies are not those of a native server.`,
    '',
    ...lshrsTable(r.small, false),
    '',
    '| pgvector setting | filter selectivity | recall@10 | p50 ms | p95 ms |',
    '| --- | --- | --- | --- | --- |',
    ...peerRows,
  ].join('\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
