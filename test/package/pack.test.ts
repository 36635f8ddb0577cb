import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { databaseUrl, redisUrl, uniqueName } from '../support/servers';

const ROOT = resolve(__dirname, '..', '..');

// The README's quick start, as a user's separate project runs it, once as ESM and once as CommonJS.
const quickStart = (importLine: string) => `${importLine}
const redis = new Redis(process.env.REDIS_URL);
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
const table = process.env.TABLE;
await PostgresVectorStore.createTable(pool, { table });
const lsh = new LSHRS({ redis, dim: 3, prefix: table, store: new PostgresVectorStore({ pool, table }) });
await lsh.ingest(1, [1, 0, 0], 'east');
await lsh.ingest(2, [0, 1, 0], 'north');
await lsh.index([{ id: 3, vector: [0.9, 0.1, 0], text: 'east by north' }]);
const hits = await lsh.query([1, 0.05, 0], { topK: 2 });
console.log(JSON.stringify(hits.map((h) => [h.id, h.text])));
await lsh.close();
await redis.quit();
await pool.end();
`;

const EXPECTED_HITS = [
  [1, 'east'],
  [3, 'east by north'],
];

const serversEnv = (label: string) => ({
  ...process.env,
  REDIS_URL: redisUrl(),
  DATABASE_URL: databaseUrl(),
  TABLE: uniqueName(label),
});

// One pack and one install for every test here: `npm pack` builds the package, which is slow.
let work: string;
let app: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'lshrs-pack-'));
  execFileSync('npm', ['pack', '--pack-destination', work], { cwd: ROOT, stdio: 'pipe' });
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack left no tarball in ${work}`);
  app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(work, tarball), 'ioredis@6', 'pg@8'], {
    cwd: app,
    stdio: 'pipe',
  });
}, 240_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test('a separate project installs the packed package and runs the quick start (ESM and CommonJS)', () => {
  writeFileSync(
    join(app, 'esm.mjs'),
    quickStart(`import { LSHRS, PostgresVectorStore } from 'lshrs';\nimport { Redis } from 'ioredis';\nimport pg from 'pg';`),
  );
  writeFileSync(
    join(app, 'cjs.cjs'),
    `(async () => {\n${quickStart(`const { LSHRS, PostgresVectorStore } = require('lshrs');\nconst { Redis } = require('ioredis');\nconst pg = require('pg');`)}\n})();`,
  );
  for (const script of ['esm.mjs', 'cjs.cjs']) {
    const out = execFileSync(process.execPath, [script], { cwd: app, env: serversEnv('pack'), encoding: 'utf8' });
    expect(JSON.parse(out.trim())).toEqual(EXPECTED_HITS);
  }
  // The package's command line is on the path of the project that installed it.
  const tune = execFileSync(join(app, 'node_modules', '.bin', 'lshrs'), ['tune', '--num-perm', '32', '--json'], { encoding: 'utf8' });
  expect(JSON.parse(tune)[0]).toMatchObject({ label: 'optimal', bands: 5, rows: 6 });
}, 120_000);

test('an app bundled with esbuild into one file runs the quick start with no node_modules beside it', () => {
  // A service shipped as one file (a container image, a serverless function): lshrs and its
  // dependencies are inside the bundle, so nothing may be read from the package's folder at run time.
  writeFileSync(
    join(app, 'entry.cjs'),
    `(async () => {\n${quickStart(`const { LSHRS, PostgresVectorStore } = require('lshrs');\nconst { Redis } = require('ioredis');\nconst pg = require('pg');`)}\n})().catch((err) => {\n  console.error(err);\n  process.exit(1);\n});`,
  );
  const esbuild = join(ROOT, 'node_modules', '.bin', 'esbuild');
  // Only what cannot be bundled stays outside: pg's optional native binding and the optional
  // parquet reader (a native addon), both loaded only when used.
  execFileSync(
    esbuild,
    [
      'entry.cjs',
      '--bundle',
      '--platform=node',
      '--format=cjs',
      '--outfile=bundle.cjs',
      '--external:pg-native',
      '--external:@duckdb/node-api',
      '--log-level=error',
    ],
    { cwd: app, stdio: 'pipe' },
  );
  // Two levels down, so that not even the old lookup of ../../lua from the bundle leaves the test's folder.
  const elsewhere = join(work, 'elsewhere', 'srv', 'app');
  mkdirSync(elsewhere, { recursive: true });
  renameSync(join(app, 'bundle.cjs'), join(elsewhere, 'bundle.cjs'));
  const out = execFileSync(process.execPath, ['bundle.cjs'], { cwd: elsewhere, env: serversEnv('bundle'), encoding: 'utf8' });
  expect(JSON.parse(out.trim())).toEqual(EXPECTED_HITS);
}, 120_000);

test("loading the library does not load the command line's dependencies", () => {
  // API users never pay for (or trip over) commander and cli-progress: only the CLI imports them.
  const probe = `
const before = new Set(Object.keys(require.cache));
const lshrs = require('lshrs');
if (typeof lshrs.LSHRS !== 'function') throw new Error('lshrs exports no LSHRS');
const loaded = Object.keys(require.cache).filter((file) => !before.has(file));
const entry = require.cache[require.resolve('lshrs')];
const children = [];
const walk = (mod, seen) => {
  if (seen.has(mod)) return;
  seen.add(mod);
  children.push(mod.id);
  for (const child of mod.children) walk(child, seen);
};
walk(entry, new Set());
console.log(JSON.stringify({ loaded, children }));
`;
  const out = execFileSync(process.execPath, ['-e', probe], { cwd: app, encoding: 'utf8' });
  const { loaded, children } = JSON.parse(out) as { loaded: string[]; children: string[] };
  const lshrsFiles = loaded.filter((file) => file.includes(join('node_modules', 'lshrs', 'dist')));
  expect(lshrsFiles.length).toBeGreaterThan(5); // the probe saw the library load
  expect(children.length).toBeGreaterThan(5);
  const cliDeps = /[\\/]node_modules[\\/](commander|cli-progress)[\\/]/;
  expect(loaded.filter((file) => cliDeps.test(file))).toEqual([]);
  expect(children.filter((file) => cliDeps.test(file))).toEqual([]);
  expect(lshrsFiles.filter((file) => file.includes(join('dist', 'cli')))).toEqual([]);
});
