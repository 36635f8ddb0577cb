/*
 * runBench: every figure of BENCHMARKS.md, measured in one run. Per data set: statistics, ground
 * truth, hashing, ingest into PostgreSQL + Redis, a rebuild from the table per index shape, Redis
 * memory, queries (latency, QPS, recall, candidates, where the time goes) per candidate budget,
 * then the peers on the same data and queries. Once, on the largest synthetic set: where the
 * vectors should live.
 */
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Throwaway } from '../../dev/servers';
import { benchServers } from './bench-servers';
import { dataStats, type DataStats } from './data-stats';
import { loadRealSet, type Dataset } from './dataset';
import { agreementAt10, groundTruth, type Truth } from './ground-truth';
import { hashingThroughput, type HashingFigures } from './hashing';
import {
  buildFromTable,
  ingest,
  measureQueries,
  settingLabel,
  shapeLabel,
  type BuildFigures,
  type MemoryFigures,
  type QueryFigures,
  type QuerySetting,
  type Servers,
  type Shape,
} from './lshrs-runner';
import { machine, type Machine } from './machine';
import { exactScanPeer } from './peers/exact-scan';
import { HNSW_DEFAULTS, HNSW_PEER, hnswPeer } from './peers/hnswlib';
import { PGVECTOR_DEFAULTS, pgvectorPeer } from './peers/pgvector-pglite';
import type { PeerResult } from './peers/types';
import { measurePlacement, type PlacementFigures } from './placement';
import { redisVersion } from './redis-memory';
import { syntheticSet } from './synthetic';
import { progress } from './timing';
import { defaultProbes, MAX_PROBES, MAX_RERANK } from '../../src';

export interface BenchOptions {
  /** A smoke run: a few hundred synthetic vectors, one repeat, no real set, no workers, no PGlite. */
  tiny?: boolean;
  /** Include the shared real set. @defaultValue true (false when tiny) */
  real?: boolean;
  /** Synthetic set sizes. @defaultValue [100000, 1000000] */
  sizes?: number[];
  /** Synthetic dimension. @defaultValue 384 */
  dim?: number;
  /** Held-out queries per set (the real set has 1,000). @defaultValue 1000 */
  queries?: number;
  /** Repeats of each timed figure; the median is reported. @defaultValue 3 */
  repeats?: number;
  /** Repeats of each point of the configuration sweep. @defaultValue 1 */
  sweepRepeats?: number;
  /** Seed of the synthetic generator. @defaultValue "42" */
  seed?: string;
  /**
   * Index shapes to sweep; the first should be lshrs' defaults. A shape with bands and no rows gets
   * sizedRows(n) rows. @defaultValue DEFAULT_SHAPES: the defaults for the size, and 8 bands of the same rows
   */
  shapes?: Shape[];
  /** rerankCandidates values to sweep (at most MAX_RERANK); the index's default (500) is the headline. */
  candidates?: number[];
  /** topP values to sweep with each rerankCandidates. @defaultValue [1] */
  topPs?: number[];
  /**
   * Probes per band to sweep (0: the index's default, defaultProbes(rows, bands)).
   * @defaultValue a quarter of the default, the default, twice the default
   */
  probes?: number[];
  peers?: { exact?: boolean; hnsw?: boolean; pgvector?: boolean };
  /** pgvector in PGlite runs only on sets up to this size (its WASM build is slow). @defaultValue 20000 */
  pgvectorMax?: number;
  hnswEfs?: number[];
  /** Keep a table of the right size that an earlier run loaded, instead of timing the ingest again. @defaultValue false */
  reuseTable?: boolean;
  /** hnswlib's efConstruction. @defaultValue 200 */
  hnswEfConstruction?: number;
  /** hnswlib-node runs only on sets up to this size (its build is one thread). @defaultValue 2000000 */
  hnswMax?: number;
  /** Run the store-placement comparison. @defaultValue true */
  placement?: boolean;
  /** Hashing with worker threads. @defaultValue true (false when tiny) */
  workers?: boolean;
  redisUrl?: string;
  databaseUrl?: string;
  /** The git-ignored cache of generated data and ground truth. @defaultValue <repo>/.bench-cache */
  cacheDir?: string;
  /** The command line, as the report prints it. */
  command?: string;
  /** Say in the report that other work shared the machine (a string: what that work was). @defaultValue false */
  shared?: boolean | string;
}

export interface DatasetResult {
  data: Pick<Dataset, 'label' | 'kind' | 'source' | 'n' | 'dim' | 'queryCount'>;
  stats: DataStats;
  truth: { origin: Truth['origin']; seconds?: number; agreementAt10?: number };
  hashing: HashingFigures[];
  ingest: BuildFigures;
  /** The shapes built, the defaults first; `probes` is each one's default probes per band. */
  builds: { label: string; bands: number; rows: number; probes: number; build: BuildFigures; memory: MemoryFigures }[];
  /** The headline: lshrs' defaults at the default candidate budget. */
  headline: QueryFigures & { shape: string };
  sweep: (QueryFigures & { shape: string })[];
  peers: PeerResult[];
}

export interface BenchReport {
  options: Required<Pick<BenchOptions, 'dim' | 'queries' | 'repeats' | 'sweepRepeats' | 'seed'>> & {
    command: string;
    tiny: boolean;
    shared: boolean | string;
  };
  machine: Machine;
  loadAtEnd: number[];
  servers: { redis: string; postgres: string; given: boolean };
  datasets: DatasetResult[];
  placement?: PlacementFigures & { dataset: string };
  seconds: number;
}

/** lshrs' defaults for the set's size (SIZED_BANDS x sizedRows(n)), and twice the bands of the same rows. */
export const DEFAULT_SHAPES: Shape[] = [{}, { bands: 8 }];
export const DEFAULT_CANDIDATES = [100, 250, 500, 1000, 2000];
const DEFAULT_RERANK_CANDIDATES = 500;

function resolved(options: BenchOptions) {
  const tiny = options.tiny ?? false;
  const tooMany = (options.candidates ?? []).filter((c) => c > MAX_RERANK);
  if (tooMany.length) throw new Error(`rerankCandidates above MAX_RERANK (${MAX_RERANK}): ${tooMany.join(', ')}`);
  const tooManyProbes = (options.probes ?? []).filter((p) => p > MAX_PROBES);
  if (tooManyProbes.length) throw new Error(`probes above MAX_PROBES (${MAX_PROBES}): ${tooManyProbes.join(', ')}`);
  return {
    tiny,
    real: options.real ?? !tiny,
    sizes: options.sizes ?? (tiny ? [400] : [100_000, 1_000_000]),
    dim: options.dim ?? (tiny ? 32 : 384),
    queries: options.queries ?? (tiny ? 20 : 1000),
    repeats: options.repeats ?? (tiny ? 1 : 3),
    sweepRepeats: options.sweepRepeats ?? 1,
    seed: options.seed ?? '42',
    shapes: options.shapes ?? (tiny ? [{}, { bands: 32, rows: 4 }] : DEFAULT_SHAPES),
    candidates: options.candidates ?? (tiny ? [50, DEFAULT_RERANK_CANDIDATES] : DEFAULT_CANDIDATES),
    topPs: options.topPs ?? [1],
    probes: options.probes,
    peers: { exact: true, hnsw: true, pgvector: !tiny, ...options.peers },
    pgvectorMax: options.pgvectorMax ?? 20_000,
    hnswEfs: options.hnswEfs ?? (tiny ? [10, 40] : HNSW_DEFAULTS.efs),
    hnswEfConstruction: options.hnswEfConstruction ?? HNSW_DEFAULTS.efConstruction,
    hnswMax: options.hnswMax ?? 2_000_000,
    reuseTable: options.reuseTable ?? false,
    placement: options.placement ?? true,
    workers: options.workers ?? !tiny,
    // A smoke run keeps its few hundred rows out of the real cache.
    cacheDir: options.cacheDir ?? (tiny ? join(tmpdir(), 'lshrs-bench-tiny') : resolve(__dirname, '..', '..', '.bench-cache')),
    command: options.command ?? 'runBench()',
  };
}

type Resolved = ReturnType<typeof resolved>;

const isDefaultSetting = (s: QuerySetting) => s.probes === undefined && s.rerankCandidates === DEFAULT_RERANK_CANDIDATES && s.topP === 1;

/**
 * Probes per band to sweep for an index of `bands` x `rows`: the given list, or a quarter of the
 * default, the default (0) and twice it. Values are capped at what a band has (2^rows buckets) and
 * MAX_PROBES; one equal to the default becomes 0, and repeats are dropped.
 */
export function probesSweep(given: number[] | undefined, rows: number, bands: number): number[] {
  const d = defaultProbes(rows, bands);
  const cap = Math.min(MAX_PROBES, 2 ** Math.min(rows, 30));
  const list = given ?? [Math.max(1, Math.round(d / 4)), 0, 2 * d];
  const out: number[] = [];
  for (const p of list) {
    const capped = p === 0 ? 0 : Math.min(p, cap);
    const value = capped === d ? 0 : capped;
    if (!out.includes(value)) out.push(value);
  }
  return out;
}

/** The sweep of one shape: every probes x rerankCandidates x topP, the defaults first. */
function querySettings(o: Resolved, rows: number, bands: number): QuerySetting[] {
  const settings: QuerySetting[] = [];
  for (const p of probesSweep(o.probes, rows, bands))
    for (const rerankCandidates of o.candidates)
      for (const topP of o.topPs) {
        settings.push({ rerankCandidates, topP, probes: p === 0 ? undefined : p });
      }
  const headline = { rerankCandidates: DEFAULT_RERANK_CANDIDATES, topP: 1 };
  return [headline, ...settings.filter((s) => !isDefaultSetting(s))];
}

async function benchDataset(data: Dataset, servers: Servers, o: Resolved, slug: string): Promise<DatasetResult> {
  progress(`${data.label}: ground truth`);
  const truth = groundTruth(data, o.cacheDir);
  const agreement = truth.origin === 'shipped' ? agreementAt10(truth, data) : undefined;
  const stats = dataStats(data, truth);
  progress(
    `${data.label}: pair cosine ${stats.pairCosineMean.toFixed(3)} ± ${stats.pairCosineSd.toFixed(3)}, 10th neighbour ${stats.neighbourCosine.at10.toFixed(3)}`,
  );

  const table = `bench_${slug}`;
  const prefix = `bench-${slug}`;
  progress(`${data.label}: ingest into PostgreSQL + Redis`);
  const loaded = await ingest(data, servers, table, prefix, o.repeats, o.reuseTable);

  const builds: DatasetResult['builds'] = [];
  const hashing: HashingFigures[] = [];
  const sweep: DatasetResult['sweep'] = [];
  let headline: DatasetResult['headline'] | undefined;
  for (const [i, shape] of o.shapes.entries()) {
    const isDefault = i === 0;
    const built = await buildFromTable(data, servers, loaded.table, `${prefix}-${i}`, shape, isDefault ? o.repeats : 1);
    const label = shapeLabel(shape, built);
    const settings = querySettings(o, built.rows, built.bands);
    builds.push({ label, bands: built.bands, rows: built.rows, probes: built.probes, build: built.build, memory: built.memory });
    const planes = built.bands * built.rows + built.lsh.shape.sketchBits;
    if (!hashing.some((h) => h.planes === planes)) {
      hashing.push(
        await hashingThroughput(data, built.lsh.shape, { vectors: o.tiny ? 200 : 5000, repeats: o.repeats, workers: o.workers && isDefault }),
      );
    }
    for (const setting of settings) {
      const headlinePoint = isDefault && isDefaultSetting(setting);
      const figures = await measureQueries(data, truth, built, setting, {
        repeats: headlinePoint ? o.repeats : o.sweepRepeats,
        warmup: Math.min(50, data.queryCount),
        concurrency: headlinePoint ? 8 : undefined,
        breakdown: headlinePoint,
      });
      progress(
        `  ${label}, ${settingLabel(setting, figures.probes)}: recall@10 ${figures.recall.at10.toFixed(3)}, p95 ${figures.latency.p95.toFixed(2)} ms`,
      );
      sweep.push({ ...figures, shape: label });
      if (headlinePoint) headline = { ...figures, shape: label };
    }
    await built.lsh.clear();
  }

  const peers: PeerResult[] = [];
  if (o.peers.exact) {
    progress(`${data.label}: exact scan`);
    peers.push(exactScanPeer(data, truth, { repeats: o.repeats }));
  }
  if (o.peers.hnsw) {
    if (data.n <= o.hnswMax) {
      progress(`${data.label}: hnswlib-node`);
      peers.push(await hnswPeer(data, truth, { ...HNSW_DEFAULTS, efConstruction: o.hnswEfConstruction, efs: o.hnswEfs, repeats: o.repeats }));
    } else {
      peers.push({
        peer: HNSW_PEER,
        points: [],
        skipped: `not run on ${data.n.toLocaleString('en-US')} rows: its build adds one point at a time on one thread, the longest step of the 1M run, and would take hours at this size; --hnsw-max raises the limit (${o.hnswMax.toLocaleString('en-US')})`,
      });
    }
  }
  if (o.peers.pgvector) {
    if (data.n <= o.pgvectorMax) {
      progress(`${data.label}: pgvector in PGlite`);
      peers.push(await pgvectorPeer(data, truth, { ...PGVECTOR_DEFAULTS, repeats: o.repeats }));
    } else {
      peers.push({
        peer: 'pgvector HNSW in PGlite (WASM build)',
        points: [],
        skipped: `not run on ${data.n.toLocaleString('en-US')} rows: its WASM build loads and indexes at ~1-2k rows/s here; --pgvector-max raises the limit (${o.pgvectorMax.toLocaleString('en-US')})`,
      });
    }
  }
  if (!o.reuseTable) await servers.pool.query(`DROP TABLE IF EXISTS "${loaded.table}"`);
  return {
    data: { label: data.label, kind: data.kind, source: data.source, n: data.n, dim: data.dim, queryCount: data.queryCount },
    stats,
    truth: { origin: truth.origin, seconds: truth.seconds, agreementAt10: agreement },
    hashing,
    ingest: loaded.ingest,
    builds,
    headline: headline as DatasetResult['headline'],
    sweep,
    peers,
  };
}

/** Runs the benchmark and returns its figures; the caller writes the report. */
export async function runBench(options: BenchOptions = {}): Promise<BenchReport> {
  const o = resolved(options);
  const started = performance.now();
  const host = machine();
  const throwaway: Throwaway[] = [];
  const given = Boolean(options.redisUrl && options.databaseUrl);
  try {
    const { redisUrl, databaseUrl } = await benchServers(options, throwaway);
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
    // An idle client whose server goes away (the throwaway servers stop at the end) must not crash the run.
    pool.on('error', (err) => progress(`idle PostgreSQL client: ${err.message}`));
    const servers: Servers = { redis, pool };
    try {
      const versions = {
        redis: await redisVersion(redis),
        postgres: (await pool.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0].v,
      };
      const datasets: DatasetResult[] = [];
      const run = o.tiny ? `t${process.pid}` : 'main';
      let largest: Dataset | undefined;
      if (o.real) {
        const real = loadRealSet(o.queries);
        datasets.push(await benchDataset(real, servers, o, `${run}_real`));
      }
      for (const n of o.sizes) {
        progress(`synthetic ${n} x ${o.dim}: generating (cached in ${o.cacheDir})`);
        const data = syntheticSet({ n, dim: o.dim, queries: o.queries, seed: o.seed, cacheDir: o.cacheDir });
        datasets.push(await benchDataset(data, servers, o, `${run}_syn${n}`));
        if (!largest || data.n > largest.n) largest = data;
      }
      let placement: BenchReport['placement'];
      if (o.placement && largest) {
        progress(`where vectors should live: ${largest.label}`);
        const figures = await measurePlacement(largest, servers, {
          rows: o.tiny ? largest.n : 50_000,
          sizes: o.tiny ? [10, 100] : [100, 1000, 5000],
          trials: o.tiny ? 3 : 30,
          tablePrefix: `bench_${run}_place`,
        });
        placement = { ...figures, dataset: largest.label };
      }
      return {
        options: {
          dim: o.dim,
          queries: o.queries,
          repeats: o.repeats,
          sweepRepeats: o.sweepRepeats,
          seed: o.seed,
          command: o.command,
          tiny: o.tiny,
          shared: options.shared ?? false,
        },
        machine: host,
        loadAtEnd: loadavg(),
        servers: { redis: versions.redis, postgres: versions.postgres, given },
        datasets,
        placement,
        seconds: (performance.now() - started) / 1000,
      };
    } finally {
      // Both are closed even when one of them fails to, before the servers stop.
      await Promise.allSettled([redis.quit(), pool.end()]);
    }
  } finally {
    await Promise.all(throwaway.map((s) => s.stop()));
  }
}
