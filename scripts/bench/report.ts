/*
 * BENCHMARKS.md from one run's figures: nothing in it is typed in by hand. Tables per data set,
 * the peers as ratios to lshrs' defaults, and one recall@10-against-p95 SVG per data set.
 */
import { settingLabel } from './lshrs-runner';
import type { PeerResult } from './peers/types';
import { recallPlot, type Series } from './plot';
import type { BenchReport, DatasetResult } from './run';

export interface RenderedReport {
  markdown: string;
  /** SVG files to write: path relative to the markdown's folder (under docs/bench/ by default), and content. */
  svgs: { name: string; svg: string }[];
}

const int = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
const f = (x: number | undefined, digits = 2) => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits));
const ms = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '—' : x < 1 ? x.toFixed(3) : x < 10 ? x.toFixed(2) : x.toFixed(1));
/** MB with two decimals, three below 0.1 (small sets read a few kB per query). */
const mb = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '—' : x < 0.1 ? x.toFixed(3) : x.toFixed(2));
const times = (x: number) => (x >= 10 ? x.toFixed(0) : x.toFixed(1));
/** How a peer's time compares with lshrs': "12x faster" or "2.1x slower" than lshrs. */
const versus = (peer: number, lshrs: number) => {
  if (!(peer > 0 && lshrs > 0)) return '—';
  return peer <= lshrs ? `${times(lshrs / peer)}x faster` : `${times(peer / lshrs)}x slower`;
};
const slug = (label: string) =>
  label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

function table(head: string[], rows: (string | number)[][]): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function statsSection(report: BenchReport): string {
  const sets = report.datasets;
  const row = (name: string, get: (d: DatasetResult) => string) => [name, ...sets.map(get)];
  return [
    '## The data sets',
    '',
    sets
      .map(
        (d) =>
          `- **${d.data.label}**: ${d.data.source}. Ground truth: exact top-100 cosine, ${d.truth.origin === 'shipped' ? `shipped with the set (the brute force here reproduces ${f((d.truth.agreementAt10 ?? 0) * 100, 2)}% of its top-10 ids)` : d.truth.origin === 'cached' ? 'brute force, read from .bench-cache/' : `brute force in this run (${f(d.truth.seconds, 1)} s), cached in .bench-cache/`}.`,
      )
      .join('\n'),
    '',
    'Their statistics, side by side (pairs, mean and spread from a sample of rows; neighbours over all queries):',
    '',
    table(
      ['statistic', ...sets.map((d) => d.data.label)],
      [
        row('base rows x dim', (d) => `${int(d.data.n)} x ${d.data.dim}`),
        row('held-out queries', (d) => int(d.data.queryCount)),
        row('length of the mean unit vector', (d) => f(d.stats.meanNorm, 3)),
        row('cosine of random pairs: mean', (d) => f(d.stats.pairCosineMean, 3)),
        row('cosine of random pairs: sd', (d) => f(d.stats.pairCosineSd, 3)),
        row('effective dimension (participation ratio)', (d) => f(d.stats.effectiveDim, 1)),
        row('cosine of the true 1st neighbour (mean)', (d) => f(d.stats.neighbourCosine.at1, 3)),
        row('cosine of the true 10th neighbour (mean)', (d) => f(d.stats.neighbourCosine.at10, 3)),
        row('cosine of the true 100th neighbour (mean)', (d) => f(d.stats.neighbourCosine.at100, 3)),
      ],
    ),
  ].join('\n');
}

function summarySection(report: BenchReport): string {
  return [
    "## Summary: lshrs' defaults",
    '',
    'Defaults as a user gets them for the size (`new LSHRS({ redis, dim, store, expectedSize: n })`), vectors in a PostgreSQL `bytea` column. The index is 4 hash tables (bands) of sizedRows(n) bits each (rows: buckets of about 64 ids on average), and every id is one record in one bucket of each table: its 4-byte ordinal and a 256-bit sketch of its vector. Vectors are centred on the mean of the first batch before hashing. A query hashes its vector and reads defaultProbes(rows, bands) buckets in each table (its own and the ones a few uncertain bits away; the number is in the shape column), all in one Redis `MGET`; it ranks every record it read by sketch distance in the client, keeps the best 500 (rerankCandidates), turns their ordinals into ids (here integers below 2^31, their own ordinals: no script call), fetches those rows from PostgreSQL in one query and reranks them by exact cosine (topP 1).',
    '',
    '"Redis ms / query p95" is the time Redis itself spent on a query\'s commands (the `MGET` and the meta check pipelined with it; for ids that are not their own ordinals, the ids call), from `INFO commandstats` read before and after each query of the traced pass; "records read" and "MB read" are the bucket records and bytes the `MGET` returned per query (means). All three come from the pass described under [Queries](#queries).',
    '',
    table(
      [
        'data set',
        'shape',
        'recall@1',
        'recall@10',
        'recall@100',
        'p50 ms',
        'p95 ms',
        'p99 ms',
        'QPS, 8 in flight',
        'Redis ms / query p95 (INFO commandstats)',
        'records read / query',
        'MB read / query',
        'reranked / query',
        'ingest vectors/s',
        'build from table vectors/s',
        'Redis bytes / id (INFO)',
        'Redis bytes / id (stats)',
      ],
      report.datasets.map((d) => {
        const h = d.headline;
        const b = d.builds[0];
        return [
          d.data.label,
          `${h.shape}, ${int(h.probes)} probes / band`,
          f(h.recall.at1, 3),
          f(h.recall.at10, 3),
          f(h.recall.at100, 3),
          ms(h.latency.p50),
          ms(h.latency.p95),
          ms(h.latency.p99),
          int(h.qps8 ?? Number.NaN),
          ms(h.breakdown?.redisBusy.p95),
          int(h.breakdown?.recordsRead.mean ?? Number.NaN),
          mb(h.breakdown?.mbRead),
          int(h.reranked.mean),
          int(d.ingest.vectorsPerSecond),
          int(b.build.vectorsPerSecond),
          int(b.memory.usedMemoryPerId),
          int(b.memory.statsBytesPerId),
        ];
      }),
    ),
  ].join('\n');
}

function hashingSection(report: BenchReport): string {
  const rows = report.datasets.flatMap((d) =>
    d.hashing.map((h) => [
      d.data.label,
      `${h.bands} x ${h.rows} + ${h.sketchBits}-bit sketch (${int(h.planes)} planes${h.centred ? ', centred' : ''})`,
      int(h.vectors),
      int(h.oneThread),
      h.workers ? `${int(h.workers.vectorsPerSecond)} (${h.workers.threads} threads)` : 'not run',
    ]),
  );
  return [
    '## Hashing',
    '',
    "What an index build does to each vector before its script call: the index's `Hasher` projects it (centred on the mean of the block's first 500 rows, as a new index centres on its first batch) on the bands x rows bucket planes and the sketch planes, and turns the signs into the band values and the packed sketch. Over a block of the set's rows with the index's own hyperplanes; vectors per second, median of the repeats. The worker figure splits one shared block over one `worker_threads` worker per core (wall time, workers already started).",
    '',
    table(['data set', 'shape', 'vectors hashed', 'one thread, vectors/s', 'workers, vectors/s'], rows),
  ].join('\n');
}

function buildSection(report: BenchReport): string {
  const rows = report.datasets.flatMap((d) => [
    [
      d.data.label,
      d.ingest.seconds.length
        ? 'ingest: rows -> PostgreSQL (bytea) + Redis, `lsh.index` on a stream'
        : 'ingest: not timed in this run (--reuse-table: the rows loaded into the table without indexing, or kept from an earlier run)',
      '—',
      int(d.ingest.vectorsPerSecond),
      d.ingest.seconds.map((s) => f(s, 1)).join(', '),
    ],
    ...d.builds.map((b) => [
      d.data.label,
      'build from the table (read-only store: Redis only)',
      b.label,
      int(b.build.vectorsPerSecond),
      b.build.seconds.map((s) => f(s, 1)).join(', '),
    ]),
  ]);
  const mem = report.datasets.flatMap((d) =>
    d.builds.map((b) => [
      d.data.label,
      b.label,
      int(b.memory.usedMemoryDelta),
      int(b.memory.usedMemoryPerId),
      int(b.memory.statsBytes),
      int(b.memory.statsBytesPerId),
      int(b.memory.buckets),
      int(b.memory.giantBuckets ?? Number.NaN),
      int(b.memory.reversePagesUsed),
    ]),
  );
  return [
    '## Index build',
    '',
    'End to end, vectors per second at the median of the runs (every run listed, in seconds). Ingest streams the rows (`{ id, vector, text }`) into `lsh.index` with a writable `PostgresVectorStore`: each batch of 500 is hashed, then written as one `INSERT ... ON CONFLICT` and one script call that gives each new id the next ordinal, writes its record into its bucket in every band, and stores its reverse record and its ordinal -> id entry. The build from the table reads the rows back by id in pages of 5,000 (the next page requested while one is indexed) into `lsh.index` with a read-only store.',
    '',
    table(['data set', 'what', 'shape', 'vectors/s', 'runs (s)'], rows),
    '',
    '## Redis memory',
    '',
    '`INFO memory` `used_memory` after the build minus before it (lazy frees drained), and `lsh.stats()` (`MEMORY USAGE` summed over the index keys). Each id costs one record (4-byte ordinal and sketch) in a bucket of every band, a reverse record and an ordinal-to-id entry. Buckets at cap hold their `bucketCap` records, with the rest waiting in an overflow list that queries do not read.',
    '',
    table(
      [
        'data set',
        'shape',
        'used_memory delta (bytes)',
        'bytes / id (INFO)',
        'stats bytes',
        'bytes / id (stats)',
        'buckets',
        'buckets at cap',
        'reverse pages used',
      ],
      mem,
    ),
  ].join('\n');
}

function querySection(report: BenchReport): string {
  const parts = [
    '## Queries',
    '',
    `One client, the held-out queries one after another (top-100 asked, so recall@100 is measured; lshrs' cost does not depend on topK: every fetched candidate is reranked and sorted). Latency percentiles are medians over the repeats; QPS is with 8 queries in flight on one Redis connection and a pool of 10.`,
    '',
    "Where the time goes is measured from inside the library, in one more pass over the queries at the headline setting, through its tracing channel (`lshrs:query`, `node:diagnostics_channel`), which fills in each query's phases: hashing (projecting the vector and listing the buckets to read), Redis (the client's wait for the bucket `MGET` and, for ids that are not their own ordinals, for the ids call), ranking (every record read, by sketch distance, in the client), the store fetch of the kept candidates, and the exact-cosine rerank. Means over the queries; the total is timed around `lsh.query` in the same pass, and what the phases leave of it is the rest (awaits, id decoding, building the results). The same pass reads `INFO commandstats` before and after each query (outside the timed part) and sums the server time of the commands the query sent: Redis' own busy time per query, without the network and the client. Records and MB read are the bucket records and bytes the `MGET` returned; a truncated query read a bucket at its cap, whose overflow it does not read.",
    '',
    table(
      [
        'data set',
        'mean total ms',
        'hashing ms',
        'Redis round trips ms',
        'ranking ms',
        'store fetch ms',
        'rerank ms',
        'the rest ms',
        'Redis busy ms p50 / p95',
        'buckets read / query',
        'records read / query (mean, p95)',
        'MB read / query',
        'truncated queries',
        'queries with no candidate',
      ],
      report.datasets.map((d) => {
        const b = d.headline.breakdown;
        const phases = b ? b.hashMs + b.redisMs + b.rankMs + b.fetchMs + b.rerankMs : Number.NaN;
        return [
          d.data.label,
          ms(b?.totalMs),
          ms(b?.hashMs),
          ms(b?.redisMs),
          ms(b?.rankMs),
          ms(b?.fetchMs),
          ms(b?.rerankMs),
          ms(b ? b.totalMs - phases : undefined),
          b ? `${ms(b.redisBusy.p50)} / ${ms(b.redisBusy.p95)}` : '—',
          int(b?.buckets ?? Number.NaN),
          b ? `${int(b.recordsRead.mean)}, ${int(b.recordsRead.p95)}` : '—',
          mb(b?.mbRead),
          b ? `${f(b.truncatedShare * 100, 1)}%` : '—',
          int(d.headline.empty),
        ];
      }),
    ),
  ];
  return parts.join('\n');
}

function sweepSection(report: BenchReport, svgName: (d: DatasetResult) => string): string {
  const parts = ['## Configurations: the recall@10 / p95 frontier', ''];
  parts.push(
    `Each index shape is built from the table, then queried at each setting: probes (buckets read in each band, the query's own and the ones a few uncertain bits away; "default" is defaultProbes(rows, bands), and the sweep tries a quarter of it and twice it), and rerankCandidates (of every record read, the closest by sketch distance are fetched from the store and reranked by exact cosine). More probes read more records, which buys recall with Redis time and bytes; more rerankCandidates buy it with store fetch and rerank time. Sweep points are timed over ${report.options.sweepRepeats} pass(es) of all queries; the headline point (first shape, default probes, 500) over ${report.options.repeats}.`,
    '',
  );
  for (const d of report.datasets) {
    parts.push(`### ${d.data.label}`, '');
    parts.push(
      table(
        ['shape', 'setting', 'recall@1', 'recall@10', 'recall@100', 'p50 ms', 'p95 ms', 'p99 ms', 'reranked / query (mean, max)'],
        d.sweep.map((s) => [
          s.shape,
          settingLabel(s.setting, s.probes),
          f(s.recall.at1, 3),
          f(s.recall.at10, 3),
          f(s.recall.at100, 3),
          ms(s.latency.p50),
          ms(s.latency.p95),
          ms(s.latency.p99),
          `${int(s.reranked.mean)}, ${int(s.reranked.max)}`,
        ]),
      ),
      '',
      `![recall@10 against p95, ${d.data.label}](${svgName(d)})`,
      '',
    );
  }
  return parts.join('\n');
}

function peerRows(d: DatasetResult, peer: PeerResult): string[][] {
  const h = d.headline;
  if (peer.skipped) return [[peer.peer, '—', '—', '—', '—', '—', '—', '—', '—', `not run: ${peer.skipped}`]];
  return peer.points.map((p) => [
    peer.peer,
    p.setting,
    f(p.recall.at1, 3),
    f(p.recall.at10, 3),
    ms(p.latency.p50),
    ms(p.latency.p95),
    versus(p.latency.p95, h.latency.p95),
    f(p.recall.at10 - h.recall.at10, 3),
    int(p.queries),
    peer.note ?? '',
  ]);
}

function peersSection(report: BenchReport): string {
  const parts = [
    '## Peers, same data and queries',
    '',
    "Each peer answers the same held-out queries for top-10, one query at a time in this process. Ratios are to lshrs' defaults on the same set (the headline row above): \"p95 against lshrs\" says how many times faster or slower the peer's p95 is than lshrs' p95; recall delta = peer recall@10 minus lshrs'. The exact scan and hnswlib run in process with the vectors in memory; lshrs pays a Redis round trip (the bucket `MGET`) and a PostgreSQL one per query. The pgvector figures come from PGlite, PostgreSQL compiled to **WASM**, single-threaded: not a native pgvector.",
    '',
  ];
  for (const d of report.datasets) {
    parts.push(`### ${d.data.label}`, '');
    parts.push(
      table(
        ['peer', 'setting', 'recall@1', 'recall@10', 'p50 ms', 'p95 ms', 'p95 against lshrs', 'recall@10 delta', 'queries timed', 'note'],
        [
          [
            'lshrs defaults',
            `${d.headline.shape}, ${settingLabel(d.headline.setting, d.headline.probes)}`,
            f(d.headline.recall.at1, 3),
            f(d.headline.recall.at10, 3),
            ms(d.headline.latency.p50),
            ms(d.headline.latency.p95),
            '(reference)',
            '0',
            int(d.data.queryCount),
            '',
          ],
          ...d.peers.flatMap((p) => peerRows(d, p)),
        ],
      ),
      '',
      table(
        ['peer', 'build vectors/s', 'build', 'bytes / vector', 'what the bytes are'],
        [
          [
            'lshrs defaults',
            int(d.builds[0].build.vectorsPerSecond),
            'from the PostgreSQL table into Redis',
            int(d.builds[0].memory.usedMemoryPerId),
            'Redis used_memory (vectors stay in PostgreSQL)',
          ],
          ...d.peers
            .filter((p) => !p.skipped)
            .map((p) => [
              p.peer,
              int(p.build?.vectorsPerSecond ?? Number.NaN),
              p.build?.what ?? '—',
              int(p.bytesPerVector ?? Number.NaN),
              p.bytesWhat ?? '—',
            ]),
        ],
      ),
      '',
    );
    const exact = d.peers.find((p) => p.peer.startsWith('exact') && !p.skipped);
    if (exact) {
      const e = exact.points[0].latency;
      parts.push(
        `lshrs' defaults against the exact scan on this set, at recall@10 ${f(d.headline.recall.at10, 3)}: p50 ${ms(d.headline.latency.p50)} ms against ${ms(e.p50)} ms (lshrs ${versus(d.headline.latency.p50, e.p50)}), p95 ${ms(d.headline.latency.p95)} ms against ${ms(e.p95)} ms (lshrs ${versus(d.headline.latency.p95, e.p95)}).`,
        '',
      );
    }
  }
  return parts.join('\n');
}

function placementSection(report: BenchReport): string {
  const p = report.placement;
  if (!p) return '';
  const best = new Map<number, string>();
  for (const size of [...new Set(p.results.map((r) => r.candidates))]) {
    const rows = p.results.filter((r) => r.candidates === size).sort((a, b) => a.total - b.total);
    best.set(size, rows[0].store);
  }
  return [
    '## Where should the vectors live?',
    '',
    `The first ${int(p.rows)} rows of ${p.dataset} (dim ${p.dim}, with their text) in three stores. For each candidate count, ${p.results[0]?.trials ?? 0} random id sets (the same for every store, after one warm-up): \`store.fetch(ids)\` then the exact cosine rerank in the client. Medians in ms, and the p95 of fetch + rerank.`,
    '',
    table(
      ['candidates', 'store', 'fetch ms', 'rerank ms', 'fetch + rerank ms', 'p95 fetch + rerank ms'],
      p.results.map((r) => [int(r.candidates), r.store, ms(r.fetch), ms(r.rerank), ms(r.total), ms(r.totalP95)]),
    ),
    '',
    `Fastest fetch + rerank in this run: ${[...best].map(([size, store]) => `${int(size)} candidates: ${store}`).join('; ')}.`,
  ].join('\n');
}

/** The plots go to svgDir (relative to the report's folder, '/'-separated), which the links name. */
export function renderReport(report: BenchReport, svgPrefix: string, svgDir = 'docs/bench'): RenderedReport {
  const svgName = (d: DatasetResult) => `${svgDir ? `${svgDir}/` : ''}${svgPrefix}-${slug(d.data.label)}.svg`;
  const svgs = report.datasets.map((d) => {
    const series: Series[] = [];
    for (const shape of [...new Set(d.sweep.map((s) => s.shape))]) {
      series.push({
        label: `lshrs ${shape}`,
        kind: 'lshrs',
        points: d.sweep
          .filter((s) => s.shape === shape)
          .map((s) => ({
            p95: s.latency.p95,
            recall: s.recall.at10,
            note: settingLabel(s.setting, s.probes),
            tag: `${s.probes}p/${s.setting.rerankCandidates}${s.setting.topP < 1 ? `/${s.setting.topP}` : ''}`,
          })),
      });
    }
    for (const peer of d.peers.filter((p) => !p.skipped)) {
      series.push({
        label: peer.peer.replace(' (HNSW, in process)', ''),
        kind: 'peer',
        points: peer.points.map((p) => ({ p95: p.latency.p95, recall: p.recall.at10, note: p.setting, tag: /^ef\S* (\d+)$/.exec(p.setting)?.[1] })),
      });
    }
    return { name: svgName(d), svg: recallPlot(`recall@10 against p95: ${d.data.label}`, series) };
  });
  const m = report.machine;
  const markdown = [
    '# lshrs benchmarks',
    '',
    `Written by \`npm run bench\` on ${m.date.slice(0, 10)}: every figure below was measured by the run that wrote this file (${f(report.seconds / 60, 1)} minutes). Times are medians over repeats where they are times.`,
    '',
    '## Run',
    '',
    '```sh',
    report.options.command,
    '```',
    '',
    `- Machine: ${m.cpuModel}, ${m.cores} cores, ${f(m.memoryGiB, 1)} GiB, ${m.platform}; Node ${m.node}.`,
    `- Servers: Redis ${report.servers.redis}, PostgreSQL ${report.servers.postgres} (${report.servers.given ? 'given by REDIS_URL / DATABASE_URL' : 'throwaway servers from dev/servers.ts on loopback, fsync off'}).`,
    `- lshrs at commit ${m.lshrsCommit}. Repeats ${report.options.repeats}, ${int(report.options.queries)} held-out queries per set (the real set has 1,000), synthetic seed "${report.options.seed}".`,
    `- Load average (1 / 5 / 15 min) ${m.loadAverage.map((x) => x.toFixed(2)).join(' / ')} at the start, ${report.loadAtEnd.map((x) => x.toFixed(2)).join(' / ')} at the end, on ${m.cores} cores.`,
    ...(report.options.shared
      ? [
          `- **Taken on a shared machine**: ${typeof report.options.shared === 'string' ? report.options.shared : "other work (other engineers' test suites)"} ran beside this benchmark on the same cores. Treat times as indicative; recall and bytes do not depend on load.`,
        ]
      : []),
    '',
    summarySection(report),
    '',
    statsSection(report),
    '',
    hashingSection(report),
    '',
    buildSection(report),
    '',
    querySection(report),
    '',
    sweepSection(report, svgName),
    peersSection(report),
    placementSection(report),
    '',
  ].join('\n');
  return { markdown, svgs };
}
