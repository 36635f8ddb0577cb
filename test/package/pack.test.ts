import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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

test('a separate project installs the packed package and runs the quick start (ESM and CommonJS)', () => {
  const work = mkdtempSync(join(tmpdir(), 'lshrs-pack-'));
  try {
    execFileSync('npm', ['pack', '--pack-destination', work], { cwd: ROOT, stdio: 'pipe' });
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    expect(tarball).toBeDefined();
    const app = join(work, 'app');
    execFileSync('mkdir', [app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(work, tarball as string), 'ioredis@6', 'pg@8'], {
      cwd: app,
      stdio: 'pipe',
    });
    writeFileSync(
      join(app, 'esm.mjs'),
      quickStart(`import { LSHRS, PostgresVectorStore } from 'lshrs';\nimport { Redis } from 'ioredis';\nimport pg from 'pg';`),
    );
    writeFileSync(
      join(app, 'cjs.cjs'),
      `(async () => {\n${quickStart(`const { LSHRS, PostgresVectorStore } = require('lshrs');\nconst { Redis } = require('ioredis');\nconst pg = require('pg');`)}\n})();`,
    );
    for (const script of ['esm.mjs', 'cjs.cjs']) {
      const env = { ...process.env, REDIS_URL: redisUrl(), DATABASE_URL: databaseUrl(), TABLE: uniqueName('pack') };
      const out = execFileSync(process.execPath, [script], { cwd: app, env, encoding: 'utf8' });
      expect(JSON.parse(out.trim())).toEqual([
        [1, 'east'],
        [3, 'east by north'],
      ]);
    }
    // The package's command line is on the path of the project that installed it.
    const tune = execFileSync(join(app, 'node_modules', '.bin', 'lshrs'), ['tune', '--num-perm', '32', '--json'], { encoding: 'utf8' });
    expect(JSON.parse(tune)[0]).toMatchObject({ label: 'optimal', bands: 5, rows: 6 });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}, 240_000);
