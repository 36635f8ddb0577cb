/*
 * Memory of large builds (npm run scale:memory): a 1,000,000-row build from PostgreSQL, a
 * 200,000-row parquet file in DuckDB's default row groups (122,880 rows), and a 1,000,000-row
 * parquet file written as ONE row group, the two files loaded through `lshrs load`'s path; each
 * in a child process that samples its own memory as batches land. Prints a markdown section for
 * BENCHMARKS.md. Uses REDIS_URL / DATABASE_URL when set, else throwaway servers.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PostgresVectorStore } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import { float32ToLE } from '../../src/float32';
import { startPostgres, startRedis, type Throwaway } from '../../dev/servers';
import { withSection } from '../lib/report-sections';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

const REPORT = resolve(__dirname, '..', '..', 'BENCHMARKS.md');
const parts: string[] = [];
/** Each part goes to stdout and, whole, into BENCHMARKS.md's scale-memory section. */
function emit(text: string): void {
  process.stdout.write(text);
  parts.push(text);
  writeFileSync(REPORT, withSection(REPORT, 'scale-memory', parts.join('')));
}

const ROWS = Number(process.env.SCALE_ROWS ?? 1_000_000);
/** Rows of the file in DuckDB's default row groups: one full group of 122,880 and a second one. */
const GROUPED_ROWS = 200_000;
const DIM = 384;
const log = (line: string) => process.stderr.write(`[scale] ${line}\n`);

interface Sample {
  done: number;
  heapUsed: number;
  rss: number;
}

interface ChildReport {
  seconds: number;
  rows: number;
  samples: Sample[];
  peakRss: number;
  peakHeap: number;
  /** getrusage's maximum resident set size of the child, in bytes. */
  maxRss: number;
}

/** Runs scripts/scale/measure-child.ts with the given job and reads its JSON report. */
function runChild(job: Record<string, string>): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'measure-child.ts')], {
      env: { ...process.env, ...job },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as ChildReport) : reject(new Error(`measure child exited ${code}`))));
  });
}

async function fillTable(pool: pg.Pool, table: string): Promise<void> {
  await PostgresVectorStore.createTable(pool, { table });
  const next = gaussianStream('scale');
  const chunk = 10_000;
  for (let start = 0; start < ROWS; start += chunk) {
    const ids: number[] = [];
    const embeddings: Buffer[] = [];
    for (let id = start + 1; id <= Math.min(ROWS, start + chunk); id++) {
      ids.push(id);
      embeddings.push(Buffer.from(float32ToLE(Float32Array.from({ length: DIM }, next))));
    }
    await pool.query(`INSERT INTO "${table}" (id, embedding) SELECT * FROM unnest($1::bigint[], $2::bytea[])`, [ids, embeddings]);
    if ((start / chunk) % 10 === 0) log(`table: ${start + ids.length} rows`);
  }
}

/** Writes `rows` random rows with DuckDB's COPY: in one row group, or in its default row groups. */
async function writeParquet(file: string, rows: number, oneRowGroup: boolean): Promise<number[]> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  // One row group of 1M x 384 floats is buffered whole by the writer: give it room.
  const instance = await DuckDBInstance.create(':memory:', { threads: '2', memory_limit: '12GB', preserve_insertion_order: 'false' });
  const connection = await instance.connect();
  await connection.run(
    `COPY (SELECT i AS id, list_transform(range(${DIM}), x -> (random() - 0.5)::FLOAT) AS embedding, 'row ' || i AS text
           FROM range(1, ${rows + 1}) t(i))
     TO '${file}' (FORMAT parquet${oneRowGroup ? `, ROW_GROUP_SIZE ${rows}` : ''})`,
  );
  const groups = await connection.runAndReadAll(`SELECT DISTINCT row_group_id, row_group_num_rows AS n FROM parquet_metadata('${file}') ORDER BY 1`);
  const sizes = groups.getRowObjects().map((g) => Number(g.n));
  log(`parquet: ${rows} rows in row groups of ${sizes.join(', ')}`);
  connection.closeSync();
  instance.closeSync();
  return sizes;
}

/** The commit the run measured, with a mark when the work tree had changes. */
function commit(): string {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: __dirname, encoding: 'utf8' }).trim();
  try {
    return `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no') ? ' (with local changes)' : ''}`;
  } catch {
    return 'unknown';
  }
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;

function section(title: string, command: string, r: ChildReport): string {
  const at = (fraction: number) => r.samples[Math.min(r.samples.length - 1, Math.floor(fraction * r.samples.length))];
  const rows = [0.1, 0.25, 0.5, 0.75, 1].map((f) => {
    const s = at(f === 1 ? 0.9999 : f);
    return `| ${s.done.toLocaleString('en-US')} | ${mib(s.heapUsed)} | ${mib(s.rss)} |`;
  });
  return [
    `### ${title}`,
    '',
    `${r.rows.toLocaleString('en-US')} rows, dim ${DIM}, in ${r.seconds.toFixed(0)} s (${Math.round(r.rows / r.seconds).toLocaleString('en-US')} rows/s on this shared 2-core machine); ${command}`,
    `peak RSS ${mib(r.peakRss)} and peak heap ${mib(r.peakHeap)} after a batch; peak RSS ${mib(r.maxRss)} over the whole process (getrusage).`,
    '',
    '| rows done | heap used | RSS |',
    '| ---: | ---: | ---: |',
    ...rows,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const started: Throwaway[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'lshrs-scale-'));
  try {
    let redisUrl = process.env.REDIS_URL;
    let databaseUrl = process.env.DATABASE_URL;
    if (!redisUrl) {
      const s = await startRedis();
      started.push(s);
      redisUrl = s.url;
    }
    if (!databaseUrl) {
      const s = await startPostgres();
      started.push(s);
      databaseUrl = s.url;
    }
    const env = { REDIS_URL: redisUrl, DATABASE_URL: databaseUrl };
    const pool = new pg.Pool({ connectionString: databaseUrl });
    const table = `scale_${process.pid}`;
    log(`filling ${table} with ${ROWS} rows`);
    await fillTable(pool, table);
    emit(
      [
        '## Memory of large builds',
        '',
        'Measured by `npm run scale:memory` (scripts/scale/): each build runs in its own Node process',
        'that samples `process.memoryUsage()` after every batch that lands; the tables show heap and RSS as the rows go by.',
        '',
        `(Run at commit ${commit()} on ${new Date().toISOString().slice(0, 10)}, on the shared 2-core machine.)`,
        '',
        '',
      ].join('\n'),
    );
    const fromTable = await runChild({ ...env, JOB: 'table', TABLE: table, PREFIX: `scale-table-${process.pid}` });
    emit(`${section('Build from PostgreSQL (`lsh.index()`)', 'keyset pages of 500 rows', fromTable)}\n`);
    await pool.query(`DROP TABLE IF EXISTS "${table}"`);
    const grouped = join(dir, 'default-row-groups.parquet');
    const sizes = await writeParquet(grouped, GROUPED_ROWS, false);
    const fromGroups = await runChild({ ...env, JOB: 'parquet', FILE: grouped, TABLE: `${table}_groups`, PREFIX: `scale-groups-${process.pid}` });
    emit(
      `${section(`Parquet in DuckDB's default row groups (${sizes.map((n) => n.toLocaleString('en-US')).join(' + ')} rows; \`lsh.ingestParquet(file)\`, the path of \`lshrs load\`)`, 'rows written to PostgreSQL and Redis', fromGroups)}\n`,
    );
    await pool.query(`DROP TABLE IF EXISTS "${table}_groups"`);
    rmSync(grouped, { force: true });
    const file = join(dir, 'one-row-group.parquet');
    await writeParquet(file, ROWS, true);
    const fromParquet = await runChild({ ...env, JOB: 'parquet', FILE: file, TABLE: `${table}_parquet`, PREFIX: `scale-parquet-${process.pid}` });
    emit(
      `${section(`Parquet with one ${ROWS.toLocaleString('en-US')}-row row group (\`lsh.ingestParquet(file)\`, the path of \`lshrs load\`)`, 'rows written to PostgreSQL and Redis', fromParquet)}\n`,
    );
    await pool.query(`DROP TABLE IF EXISTS "${table}_parquet"`);
    await pool.end();
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await Promise.all(started.map((s) => s.stop()));
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
