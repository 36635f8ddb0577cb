import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { LSHRS, PostgresVectorStore } from '../../src';
import { float32ToLE } from '../../src/float32';
import { lshrs, lshrsProcess } from '../support/cli';
import { databaseUrl, newPool, newRedis, uniqueName } from '../support/servers';
import { loadSharedSet, row } from '../support/shared-data';

const DEMO = resolve(__dirname, '..', '..', 'data', 'demo.parquet');

let redis: Redis;
let pool: pg.Pool;
let dir: string;
const prefix = uniqueName('cli');
const table = uniqueName('cli_table');
const common = ['--prefix', prefix, '--table', table];

beforeAll(() => {
  redis = newRedis();
  pool = newPool();
  dir = mkdtempSync(join(tmpdir(), 'lshrs-cli-'));
});

afterAll(async () => {
  await redis.quit();
  await pool.end();
  rmSync(dir, { recursive: true, force: true });
});

const json = (args: string[]) => {
  const result = lshrs([...common, '--json', ...args]);
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return JSON.parse(result.stdout);
};

test('load, index, query, similar, stats, inspect, delete and verify on the demo parquet', async () => {
  // load: the table is created, the rows land in it and in the index.
  const load = lshrs([...common, 'load', DEMO]);
  expect(load.status).toBe(0);
  expect(load.stdout).toMatch(/^loaded .*demo\.parquet: 2007 rows in [\d.]+ s \(\d+\/s\): 2007 added, 0 moved, 0 unchanged\n$/);
  expect(load.stderr).toMatch(/load: 2007 of 2007 rows, \d+\/s/); // piped: plain progress lines

  // index from the table: everything is there already.
  expect(json(['index'])).toMatchObject({ prefix, resumed: false, added: 0, moved: 0, unchanged: 2007 });
  expect(lshrs([...common, 'index', '--resume']).stdout).toMatch(/^resumed: indexed 0 rows in/);

  // query by the stored vector of an id: itself first, then its neighbours, with texts.
  const query = lshrs([...common, 'query', '--id', '5', '--top-k', '3']);
  expect(query.status).toBe(0);
  const lines = query.stdout.trim().split('\n');
  expect(lines[0]).toMatch(/^rank\s+id\s+score\s+collisions\s+text$/);
  expect(lines[1]).toMatch(/^1\s+5\s+1\.0000\s+4\s+Homarus gammarus is a large crustacean/);
  expect(lines).toHaveLength(4);
  const hits = json(['query', '--id', '5', '--top-k', '3']);
  expect(hits.map((h: { id: number }) => h.id)).toEqual(lines.slice(1).map((l) => Number(l.split(/\s+/)[1])));

  // query by a vector file, JSON or raw float32; similar leaves the id itself out.
  const vector = row(loadSharedSet().vectors, 5); // demo row ids are the shared set's rows
  writeFileSync(join(dir, 'q.json'), JSON.stringify(Array.from(vector)));
  writeFileSync(join(dir, 'q.f32'), float32ToLE(vector));
  for (const file of ['q.json', 'q.f32']) expect(json(['query', '--vector', join(dir, file), '--top-k', '3'])).toEqual(hits);
  const four = json(['query', '--id', '5', '--top-k', '4']).map((h: { id: number }) => h.id);
  expect(json(['similar', '5', '--top-k', '3']).map((h: { id: number }) => h.id)).toEqual(four.slice(1));

  // stats, human and JSON.
  const stats = json(['stats']);
  expect(stats).toMatchObject({ prefix, ids: 2007, dim: 512, bands: 4, rows: 8, sketchBits: 256, idType: 'int' });
  expect(stats.bucketHistogram.reduce((n: number, [, count]: [number, number]) => n + count, 0)).toBe(stats.buckets);
  const human = lshrs([...common, 'stats']).stdout;
  expect(human).toContain(`ids          2007 (int)`);
  expect(human).toContain('4 bands x 8 rows, 256-bit sketches');
  expect(human).toMatch(/bytes per id/);
  expect(human).toContain('largest buckets');

  // inspect names the id's 4 buckets with their sizes.
  const inspected = json(['inspect', '5']);
  expect(inspected.buckets).toHaveLength(4);
  expect(lshrs([...common, 'inspect', '5']).stdout).toMatch(new RegExp(`^id 5: ordinal ${inspected.ordinal}, reverse record in \\{${prefix}\\}:r:5`));

  // verify: consistent; then a planted problem is found (exit 1) and repaired.
  expect(lshrs([...common, 'verify']).stdout).toMatch(/consistent\n$/);
  // id 5's record taken out of one of its buckets, and a record of an ordinal no id has put in.
  const recordSize = 4 + 256 / 8;
  const bucket = (await redis.getBuffer(inspected.buckets[3].key)) as Buffer;
  const ordinal = Buffer.alloc(4);
  ordinal.writeUInt32BE(inspected.ordinal);
  let at = bucket.indexOf(ordinal);
  while (at % recordSize !== 0) at = bucket.indexOf(ordinal, at + 1);
  const stray = Buffer.alloc(recordSize);
  stray.writeUInt32BE(424_242);
  await redis.set(inspected.buckets[3].key, Buffer.concat([bucket.subarray(0, at), bucket.subarray(at + recordSize), stray]));
  const broken = lshrs([...common, 'verify']);
  expect(broken.status).toBe(1);
  expect(broken.stdout).toContain('missing from buckets 1, stray in buckets 1');
  expect(broken.stdout).toContain(`id 5 missing from ${inspected.buckets[3].key}`);
  expect(broken.stdout).toContain('INCONSISTENT');
  const repaired = json(['verify', '--repair']);
  expect(repaired.repaired).toEqual({ recordsAdded: 1, recordsRemoved: 1, removedMissingFromStore: 0, idsCounted: 2007 });
  expect(json(['verify']).consistent).toBe(true);

  // delete removes from the index and the table.
  expect(json(['delete', '5', '6', '999999'])).toEqual({ removed: 2, unknown: 1 });
  expect(json(['verify'])).toMatchObject({ ids: 2005, consistent: true });
});

test('errors are one plain line and exit 2; --json gives them as one line of JSON with their code', () => {
  const missing = lshrs(['--prefix', uniqueName('none'), 'stats']);
  expect(missing.status).toBe(2);
  expect(missing.stderr).toMatch(/^lshrs: there is no index "t\d+_\d+_none" in Redis\n$/);
  const asJson = lshrs(['--prefix', uniqueName('none'), '--json', 'stats']);
  expect(asJson.status).toBe(2);
  expect(asJson.stdout).toMatch(/^\{.*\}\n$/);
  expect(JSON.parse(asJson.stdout)).toEqual({ error: { code: 'NOT_FOUND', message: expect.stringContaining('there is no index') } });
  expect(lshrs(['query'])).toMatchObject({ status: 2, stderr: 'lshrs: query needs --id ID or --vector FILE\n' });
});

test('tune lists configurations with rates and expected candidates, and writes the S-curves as SVG', () => {
  const svg = join(dir, 'scurves.svg');
  const human = lshrs(['tune', '--num-perm', '128', '--threshold', '0.5', '--size', '1000000', '--svg', svg]);
  expect(human.status).toBe(0);
  expect(human.stdout.split('\n')[0]).toMatch(/^bands\s+rows\s+false pos\s+false neg\s+random pair\s+candidates\/query/);
  expect(human.stdout.split('\n')[1]).toMatch(/^16\s+8\s+0\.21\d+\s+0\.17\d+\s+0\.\d+\s+\d+\s+optimal$/);
  expect(human.stdout).toContain(
    'for 1000000 ids, --expected-size (expectedSize) plans 4 x 14 instead: buckets of 61.0 ids on average, 406 probes per band, ' +
      'about 99,121 bucket records read per query',
  );
  const listed = JSON.parse(lshrs(['tune', '--num-perm', '64', '--json']).stdout);
  expect(listed[0]).toMatchObject({ label: 'optimal', bands: 9, rows: 7, expectedCandidates: null });
  const picture = readFileSync(svg, 'utf8');
  expect(picture).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  expect(picture.match(/<polyline /g)).toHaveLength(6);
});

test('a new index is planned for --expected-size, or for the rows of the table it indexes', async () => {
  // The demo table was loaded by the first test (2007 rows, some deleted since): small enough for 4 x 8.
  const planned = uniqueName('cli_planned');
  expect(json(['--prefix', planned, 'index', '--expected-size', '1000000'])).toMatchObject({ prefix: planned });
  expect(json(['--prefix', planned, 'stats'])).toMatchObject({ bands: 4, rows: 14 });
  const bySize = uniqueName('cli_sized');
  json(['--prefix', bySize, 'index']);
  expect(json(['--prefix', bySize, 'stats'])).toMatchObject({ bands: 4, rows: 8 });
  for (const p of [planned, bySize]) await (await LSHRS.open({ redis, prefix: p })).clear();
});

/** Writes a parquet file with DuckDB from a SELECT. */
async function writeParquet(file: string, select: string): Promise<string> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  await connection.run(`COPY (${select}) TO '${file}' (FORMAT parquet)`);
  connection.closeSync();
  instance.closeSync();
  return file;
}

/** A small parquet file of id, embedding and text rows. */
function rowsFile(name: string, rows: [number, number[]][]): Promise<string> {
  const values = rows.map(([id, v]) => `(${id}, [${v.join(', ')}]::FLOAT[], 'row ${id}')`).join(', ');
  return writeParquet(join(dir, name), `SELECT * FROM (VALUES ${values}) AS t(id, embedding, text)`);
}

const tableExists = async (name: string) => (await pool.query('SELECT to_regclass($1) AS t', [name])).rows[0].t !== null;

test('--version prints the package version; every subcommand lists the global options, REDIS_URL and DATABASE_URL among them', () => {
  const { version } = JSON.parse(readFileSync(resolve(__dirname, '..', '..', 'package.json'), 'utf8'));
  for (const flag of ['--version', '-V']) expect(lshrs([flag])).toEqual({ status: 0, stdout: `${version}\n`, stderr: '' });
  for (const command of ['load', 'index', 'query', 'similar', 'stats', 'inspect', 'delete', 'clear', 'verify', 'tune']) {
    const help = lshrs([command, '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Global Options:');
    expect(help.stdout).toMatch(/--redis <url>[\s\S]*env:\s+REDIS_URL\)/);
    expect(help.stdout).toMatch(/--database <url>[\s\S]*env:\s+DATABASE_URL\)/);
    expect(help.stdout).toContain('--prefix <name>');
    expect(help.stdout).toContain('--json');
  }
  expect(lshrs(['query', '--help']).stdout).toMatch(/--probes <n>/);
  expect(lshrs(['clear', '--help']).stdout).toMatch(/--yes/);
});

test('REDIS_URL and DATABASE_URL are read from the environment, and the flags win over them', () => {
  const dead = { REDIS_URL: 'redis://127.0.0.1:1' };
  const refused = lshrs(['--prefix', prefix, '--json', 'stats'], dead);
  expect(refused.status).toBe(2);
  expect(JSON.parse(refused.stdout).error).toMatchObject({ code: 'REDIS', message: expect.stringMatching(/^cannot reach Redis at 127\.0\.0\.1:1/) });
  const plain = lshrs(['--prefix', prefix, 'stats'], dead);
  expect(plain.stderr.trim().split('\n').pop()).toMatch(/^lshrs: cannot reach Redis at 127\.0\.0\.1:1/);
  const redisFlag = lshrs(['--redis', new URL(process.env.LSHRS_TEST_REDIS_URL as string).href, '--prefix', prefix, '--json', 'stats'], dead);
  expect(redisFlag.status).toBe(0);
  // No DATABASE_URL: a reranked query needs the table and says so; --database gives it.
  const noDatabase = lshrs([...common, '--json', 'query', '--id', '7'], { DATABASE_URL: undefined });
  expect(JSON.parse(noDatabase.stdout).error.code).toBe('NO_STORE');
  expect(lshrs([...common, '--database', databaseUrl(), '--json', 'query', '--id', '7'], { DATABASE_URL: undefined }).status).toBe(0);
});

test('--probes and the other query knobs reach the query: the command line answers what the API does', async () => {
  // The demo index the first test built (ids 5 and 6 deleted since).
  const lsh = await LSHRS.open({ redis, prefix, store: new PostgresVectorStore({ pool, table }) });
  const vector = row(loadSharedSet().vectors, 7);
  writeFileSync(join(dir, 'q7.json'), JSON.stringify(Array.from(vector)));
  const cases: [string[], object][] = [
    [['--probes', '1'], { probes: 1 }],
    [['--probes', '8'], { probes: 8 }],
    [['--rerank-candidates', '20'], { rerankCandidates: 20 }],
    [['--top-p', '0.3'], { topP: 0.3 }],
    [['--no-rerank', '--probes', '4'], { rerank: false, probes: 4 }],
  ];
  const answers: unknown[] = [];
  for (const [flags, options] of cases) {
    const api = JSON.parse(JSON.stringify(await lsh.query(vector, { topK: 50, ...options })));
    expect(json(['query', '--vector', join(dir, 'q7.json'), '--top-k', '50', ...flags])).toEqual(api);
    answers.push(api);
  }
  expect(answers[0]).not.toEqual(answers[1]); // the probes change the answer, so the flag is not ignored
  const similar = JSON.parse(JSON.stringify(await lsh.similar(7, { topK: 20, probes: 1 })));
  expect(json(['similar', '7', '--top-k', '20', '--probes', '1'])).toEqual(similar);
  expect(similar).not.toEqual(json(['similar', '7', '--top-k', '20', '--probes', '8']));
  const zero = lshrs([...common, '--json', 'query', '--id', '7', '--probes', '0']);
  expect(zero.status).toBe(2);
  expect(JSON.parse(zero.stdout).error).toMatchObject({ code: 'BAD_OPTION', message: expect.stringContaining('probes') });
  await lsh.close();
});

test('the index records its table: later commands need only --prefix, and another --table is refused before anything is written', async () => {
  const own = uniqueName('cli_recorded');
  const ownTable = uniqueName('cli_recorded_items');
  const vectors: [number, number[]][] = Array.from({ length: 40 }, (_, i) => [i, [Math.cos(i), Math.sin(i), 1, i % 3]]);
  const file = await rowsFile('recorded.parquet', vectors);
  expect(lshrs(['--prefix', own, '--table', ownTable, '--text-column', 'text', 'load', file]).status).toBe(0);
  const described = await (await LSHRS.open({ redis, prefix: own })).describe();
  expect(described.store).toEqual({ kind: 'postgres', table: ownTable, idColumn: 'id', vectorColumn: 'embedding', textColumn: 'text' });

  const only = (args: string[]) => {
    const result = lshrs(['--prefix', own, '--json', ...args]);
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    return JSON.parse(result.stdout);
  };
  expect(only(['stats'])).toMatchObject({ ids: 40, store: { table: ownTable } });
  expect(lshrs(['--prefix', own, 'stats']).stdout).toContain(`table        ${ownTable} (id, embedding, text)`);
  expect(only(['query', '--id', '3', '--top-k', '1'])[0]).toMatchObject({ id: 3, text: 'row 3' }); // the row came from ownTable
  expect(only(['similar', '3', '--top-k', '2'])).toHaveLength(2);
  expect(only(['index', '--resume'])).toMatchObject({ table: ownTable, added: 0 });
  expect(only(['index'])).toMatchObject({ table: ownTable, unchanged: 40 });
  expect(only(['verify'])).toMatchObject({ ids: 40, consistent: true, missingFromStore: [] });
  expect(only(['delete', '39'])).toEqual({ removed: 1, unknown: 0 });
  expect((await pool.query(`SELECT count(*)::int AS n FROM "${ownTable}"`)).rows[0].n).toBe(39);
  // Naming the same table again is fine.
  expect(lshrs(['--prefix', own, '--table', ownTable, 'stats']).status).toBe(0);

  // Another table (or column) is refused, and nothing is written: load does not even create it.
  const other = uniqueName('cli_other');
  for (const args of [
    ['--table', other, 'query', '--id', '3'],
    ['--table', other, 'load', file],
    ['--table', other, 'index'],
    ['--id-column', 'uid', 'similar', '3'],
  ]) {
    const refused = lshrs(['--prefix', own, ...args]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(
      new RegExp(
        `^lshrs: index "${own}" was built from table ${ownTable} \\(columns id, embedding, text\\), and --(table|id-column) says "(${other}|uid)": .*--prefix`,
      ),
    );
    expect(refused.stderr.split('\n')).toHaveLength(2); // one line
  }
  expect(JSON.parse(lshrs(['--prefix', own, '--table', other, '--json', 'stats']).stdout).error.code).toBe('PARAMS_MISMATCH');
  expect(await tableExists(other)).toBe(false);
  await (await LSHRS.open({ redis, prefix: own })).clear();
});

test('a file for an index of another dimension is refused before anything is written, and a bad row is named by position and id', async () => {
  // An index made with the API (no table recorded), as the Quick start leaves it: 384 dimensions.
  const quick = uniqueName('cli_quick');
  await new LSHRS({ redis, dim: 384, prefix: quick }).ingest(
    1,
    Array.from({ length: 384 }, (_, i) => (i === 0 ? 1 : 0)),
  );
  const fresh = uniqueName('cli_fresh');
  const mixed = lshrs(['--prefix', quick, '--table', fresh, 'load', DEMO]);
  expect(mixed.status).toBe(2);
  expect(mixed.stderr).toBe(`lshrs: index "${quick}" holds 384-dimensional vectors and ${DEMO} has 512: give another --prefix for a new index\n`);
  expect(await tableExists(fresh)).toBe(false);
  await (await LSHRS.open({ redis, prefix: quick })).clear();

  // Rows 1 and 2 are fine (4 dimensions, the index's), row 3 has 3; ids are not positions.
  const bad = await rowsFile('bad-row.parquet', [
    [10, [1, 0, 0, 0]],
    [11, [0, 1, 0, 0]],
    [12, [0, 0, 1]],
  ]);
  const badPrefix = uniqueName('cli_badrow');
  const refused = lshrs(['--prefix', badPrefix, '--table', uniqueName('cli_badrow'), '--json', 'load', bad]);
  expect(refused.status).toBe(2);
  expect(JSON.parse(refused.stdout).error).toEqual({ code: 'DIMENSION', message: 'row 3 (id 12): vector has 3 dimensions, the index has 4' });
  const zero = await rowsFile('zero-row.parquet', [
    [0, [1, 0, 0, 0]],
    [1, [0, 0, 0, 0]],
  ]);
  expect(lshrs(['--prefix', badPrefix, '--table', uniqueName('cli_badrow'), 'load', zero]).stderr).toBe(
    'lshrs: row 2 (id 1): vector is all zeros and has no direction\n',
  );
});

test('clear asks for --yes, then deletes the index and nothing else', async () => {
  const doomed = uniqueName('cli_clear');
  const kept = uniqueName('cli_kept');
  for (const p of [doomed, kept]) await new LSHRS({ redis, dim: 4, prefix: p }).index([1, 2, 3].map((id) => ({ id, vector: [id, 1, 0, 0] })));
  const asked = lshrs(['--prefix', doomed, 'clear']);
  expect(asked.status).toBe(2);
  expect(asked.stderr).toBe(`lshrs: clear deletes index "${doomed}" (3 ids) from Redis; run lshrs --prefix ${doomed} clear --yes to do it\n`);
  expect(JSON.parse(lshrs(['--prefix', doomed, '--json', 'clear']).stdout).error.code).toBe('USAGE');
  expect(await redis.exists(`{${doomed}}:meta`)).toBe(1);

  const cleared = lshrs(['--prefix', doomed, '--json', 'clear', '--yes']);
  expect(cleared.status).toBe(0);
  expect(JSON.parse(cleared.stdout)).toMatchObject({ prefix: doomed, cleared: true, ids: 3, keys: expect.any(Number) });
  expect(JSON.parse(cleared.stdout).keys).toBeGreaterThan(3);
  expect((await redis.keys(`{${doomed}}:*`)).length).toBe(0);
  expect(JSON.parse(lshrs(['--prefix', doomed, '--json', 'stats']).stdout).error.code).toBe('NOT_FOUND');
  expect(JSON.parse(lshrs(['--prefix', kept, '--json', 'stats']).stdout)).toMatchObject({ ids: 3 });
  expect(lshrs(['--prefix', kept, 'clear', '--yes']).stdout).toBe(
    `cleared index "${kept}": 3 ids, ${JSON.parse(cleared.stdout).keys} keys deleted (the table's rows stay)\n`,
  );
});

test('exit codes and error codes: usage errors, Redis, PostgreSQL, files and parquet each give one line with a documented code, exit 2', async () => {
  const usage = [
    [['stats', '--bogus'], "unknown option '--bogus' (see lshrs stats --help)"],
    [['similar'], "missing required argument 'id' (see lshrs similar --help)"],
    [['nosuch'], "unknown command 'nosuch' (see lshrs --help)"],
    [['query', '--top-k'], "option '--top-k <n>' argument missing (see lshrs query --help)"],
  ] as const;
  for (const [args, message] of usage) {
    expect(lshrs([...args])).toEqual({ status: 2, stdout: '', stderr: `lshrs: ${message}\n` });
    expect(lshrs(['--json', ...args])).toEqual({ status: 2, stdout: `${JSON.stringify({ error: { code: 'USAGE', message } })}\n`, stderr: '' });
  }
  const bare = lshrs([]); // no command: the help, on stderr, and exit 2
  expect(bare.status).toBe(2);
  expect(bare.stderr).toContain('Usage: lshrs [options] [command]');
  expect(lshrs(['--help']).status).toBe(0);
  expect(lshrs(['help', 'query']).status).toBe(0);

  const errorOf = (args: string[], env?: Record<string, string | undefined>) => {
    const result = lshrs(['--json', ...args], env);
    expect(result.status).toBe(2);
    expect(result.stdout.split('\n')).toHaveLength(2);
    return JSON.parse(result.stdout).error;
  };
  const noDb = new URL(databaseUrl());
  noDb.pathname = '/no_such_database';
  expect(errorOf(['--prefix', prefix, '--database', noDb.href, 'query', '--id', '7'])).toEqual({
    code: 'POSTGRES',
    message: 'PostgreSQL: database "no_such_database" does not exist',
  });
  const unreachable = errorOf([
    '--prefix',
    prefix,
    '--table',
    table,
    '--database',
    'postgresql://postgres@127.0.0.1:1/postgres',
    'query',
    '--id',
    '7',
  ]);
  expect(unreachable).toMatchObject({
    code: 'POSTGRES',
    message: expect.stringMatching(/^cannot reach PostgreSQL at 127\.0\.0\.1:1: .*ECONNREFUSED/),
  });
  expect(errorOf(['load', join(dir, 'missing.parquet')])).toEqual({
    code: 'FILE',
    message: `cannot read ${join(dir, 'missing.parquet')}: no such file`,
  });
  expect(errorOf([...common, 'query', '--vector', join(dir, 'missing.json')])).toEqual({
    code: 'FILE',
    message: `cannot read ${join(dir, 'missing.json')}: no such file`,
  });
  // Not a parquet file: DuckDB's error, without its echo of the SQL, on one line.
  writeFileSync(join(dir, 'garbage.parquet'), 'this is not parquet\n');
  const garbage = errorOf(['load', join(dir, 'garbage.parquet')]);
  expect(garbage.code).toBe('PARQUET');
  expect(garbage.message).toMatch(new RegExp(`^cannot read ${join(dir, 'garbage.parquet')}: [A-Za-z ]+ Error: `));
  expect(garbage.message).not.toMatch(/LINE|SELECT|\n/);
  const plain = lshrs(['load', join(dir, 'garbage.parquet')]);
  expect(plain.stderr.split('\n')).toHaveLength(2);
});

test('Ctrl-C during a load stops it after the batch in flight, says how far it got and how to finish (exit 130)', async () => {
  const rows = 60_000;
  const file = await writeParquet(
    join(dir, 'big.parquet'),
    `SELECT i::BIGINT AS id, list_transform(range(32), x -> ((hash(i * 32 + x) % 2000)::INTEGER - 1000)::FLOAT) AS embedding, 'row ' || i AS text FROM range(1, ${rows + 1}) t(i)`,
  );
  const big = uniqueName('cli_sigint_load');
  const child = lshrsProcess(['--prefix', big, '--table', uniqueName('cli_sigint_items'), 'load', file]);
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const deadline = Date.now() + 60_000;
  while (Number(await redis.hget(`{${big}}:meta`, 'ids')) < 3000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGINT');
  expect(await exited).toBe(130);
  const ids = Number(await redis.hget(`{${big}}:meta`, 'ids'));
  expect(ids).toBeGreaterThanOrEqual(3000);
  expect(ids).toBeLessThan(rows);
  const last = stderr.trim().split('\n').pop();
  expect(last).toBe(
    `lshrs: interrupted after ${ids} of ${rows} rows of ${file}; run lshrs --prefix ${big} load ${file} to finish (the rows loaded come back unchanged)`,
  );

  // The command it names finishes the load (the table is the recorded one).
  const finished = lshrs(['--prefix', big, '--json', 'load', file]);
  expect(finished.status).toBe(0);
  expect(JSON.parse(finished.stdout)).toMatchObject({ added: rows - ids, moved: 0, unchanged: ids });
  await (await LSHRS.open({ redis, prefix: big })).clear();
}, 180_000);
