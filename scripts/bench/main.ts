/*
 * npm run bench [-- options]: runs the benchmark and writes BENCHMARKS.md (and its plots in docs/bench/).
 *   npm run bench -- --quick         the real set and 100k synthetic vectors
 *   npm run bench                    adds 1M synthetic vectors
 *   npm run bench -- --n 6400000     one synthetic set of that size (with the real set)
 * REDIS_URL / DATABASE_URL select servers; otherwise throwaway ones are started.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readSections, section, withSection } from '../lib/report-sections';
import { basename, dirname, join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { renderReport } from './report';
import { runBench, type BenchOptions, type BenchReport } from './run';
import type { Shape } from './lshrs-runner';
import { progress } from './timing';
import { MAX_PROBES, MAX_RERANK } from '../../src';

const positiveInt = (value: string) => {
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got ${value}`);
  return n;
};
const intList = (value: string) => value.split(',').map((v) => positiveInt(v.trim()));
const fractionList = (value: string) =>
  value.split(',').map((v) => {
    const x = Number(v);
    if (!(x > 0 && x <= 1)) throw new InvalidArgumentError(`expected fractions in (0, 1], got ${v}`);
    return x;
  });
const shapeList = (value: string): Shape[] =>
  value.split(',').map((v) => {
    if (v.trim() === 'defaults') return {};
    const match = /^(\d+)x(\d+|sized)$/.exec(v.trim());
    if (!match) throw new InvalidArgumentError(`expected shapes like defaults,8x14,8xsized, got ${v}`);
    return match[2] === 'sized' ? { bands: Number(match[1]) } : { bands: Number(match[1]), rows: Number(match[2]) };
  });

const program = new Command()
  .name('npm run bench --')
  .description('lshrs against an exact scan, hnswlib-node and pgvector (PGlite), on the real set and synthetic sets; writes BENCHMARKS.md')
  .option('--quick', 'the real set and 100,000 synthetic vectors (instead of 100,000 and 1,000,000)')
  .option('--n <n>', 'one synthetic set of n vectors (instead of the default sizes)', positiveInt)
  .option('--dim <dim>', 'dimension of the synthetic sets', positiveInt, 384)
  .option('--queries <count>', 'held-out queries per set (the real set has 1,000)', positiveInt, 1000)
  .option('--repeats <count>', 'repeats of each timed figure (the median is reported)', positiveInt, 3)
  .option('--sweep-repeats <count>', 'repeats of each point of the configuration sweep', positiveInt, 1)
  .option(
    '--shapes <list>',
    'index shapes to sweep, first one the headline: "defaults" (4 x sizedRows(n)), <bands>x<rows>, or <bands>xsized (sizedRows(n) rows); default defaults,8xsized',
    shapeList,
  )
  .option('--candidates <list>', `rerankCandidates values to sweep (candidates fetched and reranked, at most ${MAX_RERANK})`, (v: string) => {
    const list = intList(v);
    if (list.some((c) => c > MAX_RERANK)) throw new InvalidArgumentError(`rerankCandidates is at most ${MAX_RERANK}, got ${v}`);
    return list;
  })
  .option(
    '--probes <list>',
    `buckets read in each band to sweep (0: the default of the shape, defaultProbes(rows, bands); at most ${MAX_PROBES}); default a quarter of the default, the default, twice it`,
    (v: string) =>
      v.split(',').map((x) => {
        const p = x.trim() === '0' ? 0 : positiveInt(x.trim());
        if (p > MAX_PROBES) throw new InvalidArgumentError(`probes is at most ${MAX_PROBES}, got ${x}`);
        return p;
      }),
  )
  .option('--top-p <list>', 'topP values to sweep with each rerankCandidates', fractionList)
  .option('--no-real', 'leave out the shared real set')
  .option('--no-exact', 'leave out the exact-scan peer')
  .option('--no-hnsw', 'leave out hnswlib-node')
  .option('--no-pgvector', 'leave out pgvector in PGlite')
  .option('--hnsw-ef-construction <n>', 'efConstruction of hnswlib-node (default 200; its build is the longest step at 1M)', positiveInt)
  .option(
    '--reuse-table',
    'time only the build from the table: a table of the right size an earlier run left in DATABASE_URL is reused, else the rows are loaded untimed (and kept)',
  )
  .option('--hnsw-max <n>', 'largest set hnswlib-node runs on', positiveInt, 2_000_000)
  .option('--pgvector-max <n>', 'largest set pgvector in PGlite runs on', positiveInt, 20000)
  .option('--no-placement', 'leave out the store-placement comparison')
  .option('--no-workers', 'hash on one thread only')
  .option('--seed <seed>', 'seed of the synthetic generator', '42')
  .option('--shared [what]', 'say in the report that other work shared the machine, and what it was')
  .option('--out <file>', 'the report to write', 'BENCHMARKS.md')
  .option('--render <figures.json>', "re-render the report from a run's saved figures (.bench-cache/<out>.json) without measuring");

/** The run's raw figures, kept in the cache so a report can be re-rendered without re-measuring. */
function figuresPath(out: string, sectionName: string): string {
  const dir = resolve(__dirname, '..', '..', '.bench-cache');
  mkdirSync(dir, { recursive: true });
  return join(dir, `${basename(out).replace(/\.md$/i, '')}${sectionName === 'bench' ? '' : `-${sectionName}`}.json`);
}

/**
 * The standard runs (--quick, the default) own the section "bench" at the top of the file; a run of
 * one size (--n) owns its own section, "bench-n<size>", so the 6.4M run and the full run stand together.
 */
function write(report: BenchReport, out: string, sectionName: string): void {
  const { markdown, svgs } = renderReport(report, basename(out).replace(/\.md$/i, ''));
  for (const { name, svg } of svgs) {
    const file = join(dirname(out), name);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, svg);
  }
  if (sectionName === 'bench') {
    // Sections other commands own (npm run scale:memory, runs of one size) stay as they were.
    const kept = [...readSections(out).entries()].filter(([name]) => name !== 'bench').map(([, text]) => text);
    writeFileSync(out, `${[section('bench', markdown), ...kept].join('\n\n')}\n`);
  } else {
    const titled = markdown.replace(/^# lshrs benchmarks/, `# lshrs benchmarks: one size (${sectionName.replace('bench-n', 'n = ')})`);
    writeFileSync(out, withSection(out, sectionName, titled));
  }
  progress(`wrote ${out} (section ${sectionName}) and ${svgs.length} plot(s)`);
}

async function main(): Promise<void> {
  program.parse();
  const o = program.opts();
  const out = resolve(o.out as string);
  const sectionName = o.n ? `bench-n${o.n}` : 'bench';
  if (o.render) {
    const saved = JSON.parse(readFileSync(o.render as string, 'utf8')) as BenchReport;
    // A run found afterwards to have shared the machine says so when it is rendered again.
    if (o.shared) saved.options.shared = o.shared as boolean | string;
    write(saved, out, sectionName);
    return;
  }
  const sizes = o.n ? [o.n as number] : o.quick ? [100_000] : [100_000, 1_000_000];
  const options: BenchOptions = {
    real: o.real,
    sizes,
    dim: o.dim,
    queries: o.queries,
    repeats: o.repeats,
    sweepRepeats: o.sweepRepeats,
    seed: o.seed,
    shapes: o.shapes,
    candidates: o.candidates,
    topPs: o.topP,
    probes: o.probes,
    peers: { exact: o.exact, hnsw: o.hnsw, pgvector: o.pgvector },
    pgvectorMax: o.pgvectorMax,
    hnswEfConstruction: o.hnswEfConstruction,
    hnswMax: o.hnswMax,
    reuseTable: o.reuseTable,
    placement: o.placement,
    workers: o.workers,
    redisUrl: process.env.REDIS_URL,
    databaseUrl: process.env.DATABASE_URL,
    shared: o.shared,
    command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
  };
  const report = await runBench(options);
  writeFileSync(figuresPath(out, sectionName), JSON.stringify(report, null, 1));
  write(report, out, sectionName);
  progress(`measured in ${(report.seconds / 60).toFixed(1)} minutes; figures kept in ${figuresPath(out, sectionName)}`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
