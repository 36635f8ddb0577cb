import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type pg from 'pg';
import { databaseUrl, redisUrl, uniqueName, useConnections } from '../support/servers';

const ROOT = resolve(__dirname, '..', '..');
const TSC = join(ROOT, 'node_modules', '.bin', 'tsc');

let pool: pg.Pool;
useConnections((c) => ({ pool } = c));

/** The README's Quick start, as written there: its import lines and the code after them. */
function readmeQuickStart(): { imports: string; body: string } {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.split(/^## Quick start$/m)[1];
  const code = section?.match(/^```ts\n([\s\S]*?)^```$/m)?.[1];
  if (!code) throw new Error('README.md has no ```ts block under "## Quick start"');
  const lines = code.split('\n');
  const imports = lines.filter((line) => line.startsWith('import '));
  if (imports.length === 0) throw new Error("the README's Quick start imports nothing");
  return { imports: imports.join('\n'), body: lines.filter((line) => !line.startsWith('import ')).join('\n') };
}

// What the Quick start leaves to the reader: their vectors (384 floats each). Item 3 and the query
// lean towards item 1; item 2 is orthogonal to all three.
const PRELUDE = `
const unit = (i: number, tilt = 0): number[] => Array.from({ length: 384 }, (_, j) => (j === i ? 1 : j === i + 1 ? tilt : 0));
const embedding = unit(0);
const items = [{ id: 2, vector: unit(100), text: 'item 2' }, { id: 3, vector: unit(0, 0.1), text: 'item 3' }];
const queryEmbedding = unit(0, 0.01);
`;

// After the Quick start: what it found, a query after its delete, and the connections closed.
const EPILOGUE = `
const after = await lsh.query(queryEmbedding, { topK: 10 });
console.log(JSON.stringify({ hits: hits.slice(0, 2).map((h) => [h.id, h.text]), after: after.map((h) => h.id) }));
await lsh.clear();
await redis.quit();
await pool.end();
`;

const EXPECTED = {
  hits: [
    [1, 'the text of item 1'],
    [3, 'item 3'],
  ],
  after: [3],
};

/** The Quick start as one TypeScript file: top-level await in ESM, an async function in CommonJS. */
function quickStartSource(esm: boolean): string {
  const { imports, body } = readmeQuickStart();
  const code = `${PRELUDE}${body}${EPILOGUE}`;
  if (esm) return `${imports}\n${code}`;
  return `${imports}\n(async () => {\n${code}\n})().catch((err) => {\n  console.error(err);\n  process.exit(1);\n});\n`;
}

interface Variant {
  name: string;
  source: string;
  esm: boolean;
  compilerOptions: Record<string, string>;
  /** The compiled file, from the project's folder. */
  out: string;
}

// A user's fresh project under `strict`, in each module set-up a Node service uses.
const VARIANTS: Variant[] = [
  {
    name: 'ESM, node16 resolution',
    source: 'qs-node16.mts',
    esm: true,
    compilerOptions: { module: 'node16', moduleResolution: 'node16' },
    out: 'out/node16/qs-node16.mjs',
  },
  {
    name: 'ESM, bundler resolution',
    source: 'qs-bundler.ts',
    esm: true,
    compilerOptions: { module: 'esnext', moduleResolution: 'bundler' },
    out: 'out/bundler/qs-bundler.js',
  },
  {
    name: 'CommonJS, node16 resolution',
    source: 'qs-cjs.cts',
    esm: false,
    compilerOptions: { module: 'node16', moduleResolution: 'node16' },
    out: 'out/cjs/qs-cjs.cjs',
  },
  {
    name: 'CommonJS, module commonjs',
    source: 'qs-commonjs.ts',
    esm: false,
    compilerOptions: { module: 'commonjs' },
    out: 'out/commonjs/qs-commonjs.js',
  },
];

/** Compiles one variant of the Quick start in `project` with the repository's tsc; returns the compiled file. */
function compile(project: string, variant: Variant): string {
  writeFileSync(join(project, variant.source), quickStartSource(variant.esm));
  const outDir = dirname(variant.out);
  const config = join(project, `tsconfig.${variant.source}.json`);
  const compilerOptions = { strict: true, target: 'es2022', types: ['node'], rootDir: '.', outDir, ...variant.compilerOptions };
  writeFileSync(config, JSON.stringify({ compilerOptions, files: [variant.source] }));
  try {
    execFileSync(TSC, ['-p', config], { cwd: project, encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: string; stderr?: string };
    throw new Error(`tsc failed on the Quick start (${variant.name}):\n${stdout ?? ''}${stderr ?? ''}`);
  }
  // Compiled for ESM with the bundler resolution, the output is a .js file: it runs as ESM in a
  // folder whose package.json says so.
  if (variant.esm) writeFileSync(join(project, outDir, 'package.json'), JSON.stringify({ type: 'module' }));
  return join(project, variant.out);
}

// Each run gets an empty schema (the Quick start's table is `items`) and a Redis database of its
// own (its index has the default prefix), so it shares the servers with the other tests.
const REDIS_DB = 7;
async function runQuickStart(project: string, script: string): Promise<unknown> {
  const schema = uniqueName('quickstart');
  await pool.query(`CREATE SCHEMA "${schema}"`);
  try {
    const env = {
      ...process.env,
      REDIS_URL: `${redisUrl()}/${REDIS_DB}`,
      DATABASE_URL: `${databaseUrl()}?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    };
    const out = execFileSync(process.execPath, [script], { cwd: project, env, encoding: 'utf8' });
    return JSON.parse(out.trim());
  } finally {
    await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
  }
}

const npmInstall = (cwd: string, args: string[]) =>
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...args], { cwd, stdio: 'pipe' });

/** Disk use of a folder in KiB, as `du -sk` counts it. */
const diskKiB = (dir: string) => Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]);

// One pack and one install per project for every test here: `npm pack` builds the package.
let work: string;
const projects = new Map<number, string>(); // ioredis major -> project folder
let leanInstallKiB: number;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'lshrs-pack-'));
  execFileSync('npm', ['pack', '--pack-destination', work], { cwd: ROOT, stdio: 'pipe' });
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack left no tarball in ${work}`);
  for (const major of [6, 5]) {
    const project = join(work, `app-ioredis${major}`);
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: `app-ioredis${major}`, private: true }));
    if (major === 6) {
      // The README's install line, as a new user types it (today's ioredis is 6), measured before
      // the TypeScript types go in.
      npmInstall(project, [join(work, tarball), 'ioredis', 'pg']);
      leanInstallKiB = diskKiB(join(project, 'node_modules'));
      // ioredis 6.1's own declarations import redis-errors, which ships no types: a strict project
      // that checks its libraries needs them (tsc says so), whatever uses ioredis.
      npmInstall(project, ['--save-dev', '@types/pg@8', '@types/node@20', '@types/redis-errors@1']);
    } else {
      npmInstall(project, [join(work, tarball), 'ioredis@5', 'pg@8', '@types/pg@8', '@types/node@20']);
    }
    projects.set(major, project);
  }
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const installed = (project: string, name: string) =>
  JSON.parse(readFileSync(join(project, 'node_modules', name, 'package.json'), 'utf8')).version as string;

describe.each([5, 6])('a project on ioredis %i', (major) => {
  test("lshrs loads the project's ioredis and pg: no copy of its own", () => {
    const project = projects.get(major) as string;
    expect(installed(project, 'ioredis')).toMatch(new RegExp(`^${major}\\.`));
    for (const name of ['ioredis', 'pg']) {
      expect(existsSync(join(project, 'node_modules', 'lshrs', 'node_modules', name))).toBe(false);
      const probe = `console.log(JSON.stringify([require.resolve('${name}', { paths: [require.resolve('lshrs')] }), require.resolve('${name}')]))`;
      const [fromLshrs, fromProject] = JSON.parse(execFileSync(process.execPath, ['-e', probe], { cwd: project, encoding: 'utf8' }));
      expect(fromLshrs).toBe(fromProject);
    }
  });

  test.each(VARIANTS)(
    "the README's Quick start compiles under strict and runs ($name)",
    async (variant) => {
      const project = projects.get(major) as string;
      const script = compile(project, variant);
      expect(await runQuickStart(project, script)).toEqual(EXPECTED);
    },
    60_000,
  );
});

/** The README's LangChain.js example as one ESM file, with the embeddings it leaves to the reader. */
function langchainExampleSource(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const code = readme.split(/^### LangChain\.js$/m)[1]?.match(/^```ts\n([\s\S]*?)^```$/m)?.[1];
  if (!code) throw new Error('README.md has no ```ts block under "### LangChain.js"');
  const lines = code.split('\n');
  const imports = lines.filter((line) => line.startsWith('import '));
  const body = lines.filter((line) => !line.startsWith('import ')).join('\n');
  // Deterministic embeddings of 1,536 dimensions: each word adds to a few hashed coordinates.
  const prelude = `
import { Embeddings } from '@langchain/core/embeddings';
class WordEmbeddings extends Embeddings {
  constructor() { super({}); }
  async embedDocuments(texts: string[]): Promise<number[][]> { return texts.map((t) => this.embed(t)); }
  async embedQuery(text: string): Promise<number[]> { return this.embed(text); }
  private embed(text: string): number[] {
    const v = new Array<number>(1536).fill(0);
    v[0] = 0.01;
    for (const word of text.toLowerCase().match(/[a-z]+/g) ?? []) {
      let h = 2166136261;
      for (const ch of word) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
      v[(h >>> 0) % 1536] += 1;
    }
    return v;
  }
}
const embeddings = new WordEmbeddings();
`;
  const epilogue = `
console.log(JSON.stringify({
  older: older.map(([doc, score]) => [doc.metadata.source, typeof score]).sort(),
  docs: docs.map((doc) => doc.pageContent),
}));
await index.clear();
await redis.quit();
await pool.end();
`;
  return `${imports.join('\n')}\n${prelude}${body}${epilogue}`;
}

test("the README's LangChain.js example compiles under strict and runs from the packed tarball", async () => {
  const project = join(work, 'app-langchain');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app-langchain', private: true }));
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz')) as string;
  npmInstall(project, [join(work, tarball), 'ioredis', 'pg', '@langchain/core@1', '@types/pg@8', '@types/node@20', '@types/redis-errors@1']);
  writeFileSync(join(project, 'example.mts'), langchainExampleSource());
  const compilerOptions = { strict: true, target: 'es2022', types: ['node'], module: 'node16', moduleResolution: 'node16', outDir: 'out' };
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['example.mts'] }));
  try {
    execFileSync(TSC, ['-p', 'tsconfig.json'], { cwd: project, encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: string; stderr?: string };
    throw new Error(`tsc failed on the LangChain.js example:\n${stdout ?? ''}${stderr ?? ''}`);
  }
  expect(await runQuickStart(project, join('out', 'example.mjs'))).toEqual({
    older: [
      ['postgres', 'number'],
      ['redis', 'number'],
    ],
    docs: ['Redis keeps the buckets'],
  });
}, 300_000);

test('the default install is lean: no DuckDB, and readParquet says what to install', () => {
  const project = projects.get(6) as string;
  expect(existsSync(join(project, 'node_modules', '@duckdb'))).toBe(false);
  expect(leanInstallKiB).toBeLessThan(10 * 1024);
  const probe = `
require('lshrs').readParquet('items.parquet').next().then(
  () => console.log('read'),
  (err) => console.log(JSON.stringify({ code: err.code, message: err.message })),
);`;
  const out = execFileSync(process.execPath, ['-e', probe], { cwd: project, encoding: 'utf8' });
  expect(JSON.parse(out)).toEqual({
    code: 'BAD_OPTION',
    message: 'reading parquet needs the optional dependency @duckdb/node-api: npm install @duckdb/node-api',
  });
});

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(dir, join(prefix, entry.name)) : [join(prefix, entry.name)],
  );
}

test('the package ships its license, what its docs link and what its source maps point at', () => {
  const installedPackage = join(projects.get(6) as string, 'node_modules', 'lshrs');
  const shipped = new Set(filesUnder(installedPackage));
  expect(shipped).toContain('LICENSE');
  const manifest = JSON.parse(readFileSync(join(installedPackage, 'package.json'), 'utf8'));
  expect(manifest).toMatchObject({ license: 'MIT', repository: { url: expect.stringMatching(/^git\+https:\/\//) } });
  // No install-time script: npm lists a package with one (prepare included) among those that run code at install.
  expect(Object.keys(manifest.scripts ?? {}).filter((name) => /^(pre|post)?install$|^prepare$/.test(name))).toEqual([]);
  // The relative links and images of the shipped markdown files.
  const linked = [...shipped]
    .filter((file) => file.endsWith('.md'))
    .flatMap((doc) =>
      [...readFileSync(join(installedPackage, doc), 'utf8').matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)]
        .map((m) => m[1])
        .filter((target) => !/^[a-z]+:/.test(target))
        .map((target) => join(dirname(doc), target)),
    );
  expect(linked.length).toBeGreaterThan(0);
  expect(linked.filter((file) => !shipped.has(file))).toEqual([]);
  // Source maps and declaration maps lead to sources that are in the package.
  const maps = [...shipped].filter((file) => file.endsWith('.map'));
  expect(maps.length).toBeGreaterThan(10);
  const missing = maps.flatMap((map) =>
    (JSON.parse(readFileSync(join(installedPackage, map), 'utf8')).sources as string[])
      .map((source) => join(dirname(map), source))
      .filter((source) => !shipped.has(source)),
  );
  expect(missing).toEqual([]);
});

test('a project that has another DuckDB release installs lshrs beside it', () => {
  // DuckDB tags every release as a prerelease (1.5.6-r.1), which a semver range matches only
  // within one version: a narrower peer range than * would refuse the project's own DuckDB.
  const project = join(work, 'app-duckdb');
  mkdirSync(project);
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'app-duckdb', private: true, dependencies: { '@duckdb/node-api': '1.5.5-r.5' } }),
  );
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz')) as string;
  const out = execFileSync('npm', ['install', '--dry-run', '--no-audit', '--no-fund', '--prefer-offline', join(work, tarball), 'ioredis', 'pg'], {
    cwd: project,
    encoding: 'utf8',
    stdio: 'pipe',
  });
  expect(out).toContain('add @duckdb/node-api 1.5.5-r.5');
});

test("the package's command line is on the path of the project that installed it", () => {
  const project = projects.get(6) as string;
  const tune = execFileSync(join(project, 'node_modules', '.bin', 'lshrs'), ['tune', '--num-perm', '32', '--json'], { encoding: 'utf8' });
  expect(JSON.parse(tune)[0]).toMatchObject({ label: 'optimal', bands: 5, rows: 6 });
});

test('an app bundled with esbuild into one file runs the quick start with no node_modules beside it', async () => {
  // A service shipped as one file (a container image, a serverless function): lshrs and its
  // dependencies are inside the bundle, so nothing may be read from the package's folder at run time.
  const project = projects.get(6) as string;
  const entry = compile(project, VARIANTS[3]);
  const esbuild = join(ROOT, 'node_modules', '.bin', 'esbuild');
  // Only what cannot be bundled stays outside: pg's optional native binding and the optional
  // parquet reader (a native addon), both loaded only when used.
  execFileSync(
    esbuild,
    [
      entry,
      '--bundle',
      '--platform=node',
      '--format=cjs',
      '--outfile=bundle.cjs',
      '--external:pg-native',
      '--external:@duckdb/node-api',
      '--log-level=error',
    ],
    { cwd: project, stdio: 'pipe' },
  );
  // Two levels down, so that not even the old lookup of ../../lua from the bundle leaves the test's folder.
  const elsewhere = join(work, 'elsewhere', 'srv', 'app');
  mkdirSync(elsewhere, { recursive: true });
  renameSync(join(project, 'bundle.cjs'), join(elsewhere, 'bundle.cjs'));
  expect(await runQuickStart(elsewhere, 'bundle.cjs')).toEqual(EXPECTED);
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
  const out = execFileSync(process.execPath, ['-e', probe], { cwd: projects.get(6), encoding: 'utf8' });
  const { loaded, children } = JSON.parse(out) as { loaded: string[]; children: string[] };
  const lshrsFiles = loaded.filter((file) => file.includes(join('node_modules', 'lshrs', 'dist')));
  expect(lshrsFiles.length).toBeGreaterThan(5); // the probe saw the library load
  expect(children.length).toBeGreaterThan(5);
  const cliDeps = /[\\/]node_modules[\\/](commander|cli-progress)[\\/]/;
  expect(loaded.filter((file) => cliDeps.test(file))).toEqual([]);
  expect(children.filter((file) => cliDeps.test(file))).toEqual([]);
  expect(lshrsFiles.filter((file) => file.includes(join('dist', 'cli')))).toEqual([]);
});
