import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { LSHRS } from '../../src';
import { float32ToLE } from '../../src/float32';
import { lshrs } from '../support/cli';
import { newRedis, uniqueName } from '../support/servers';
import { loadSharedSet, row } from '../support/shared-data';

const DEMO = resolve(__dirname, '..', '..', 'data', 'demo.parquet');

let redis: Redis;
let dir: string;
const prefix = uniqueName('cli');
const table = uniqueName('cli_table');
const common = ['--prefix', prefix, '--table', table];

beforeAll(() => {
  redis = newRedis();
  dir = mkdtempSync(join(tmpdir(), 'lshrs-cli-'));
});

afterAll(async () => {
  await redis.quit();
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
  expect(lines[1]).toMatch(/^1\s+5\s+1\.0000\s+16\s+Homarus gammarus is a large crustacean/);
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
  expect(stats).toMatchObject({ prefix, ids: 2007, dim: 512, bands: 16, rows: 8, idType: 'int' });
  expect(stats.bucketHistogram.reduce((n: number, [, count]: [number, number]) => n + count, 0)).toBe(stats.buckets);
  const human = lshrs([...common, 'stats']).stdout;
  expect(human).toContain(`ids          2007 (int)`);
  expect(human).toContain('16 bands x 8 rows');
  expect(human).toMatch(/bytes per id/);
  expect(human).toContain('largest buckets');

  // inspect names the id's 16 buckets with their sizes.
  const inspected = json(['inspect', '5']);
  expect(inspected.buckets).toHaveLength(16);
  expect(lshrs([...common, 'inspect', '5']).stdout).toMatch(new RegExp(`^id 5: reverse record in \\{${prefix}\\}:r:5`));

  // verify: consistent; then a planted problem is found (exit 1) and repaired.
  expect(lshrs([...common, 'verify']).stdout).toMatch(/consistent\n$/);
  await redis.srem(inspected.buckets[3].key, '5');
  await redis.sadd(inspected.buckets[3].key, '424242');
  const broken = lshrs([...common, 'verify']);
  expect(broken.status).toBe(1);
  expect(broken.stdout).toContain('missing from buckets 1, stray in buckets 1');
  expect(broken.stdout).toContain(`id 5 missing from ${inspected.buckets[3].key}`);
  expect(broken.stdout).toContain('INCONSISTENT');
  const repaired = json(['verify', '--repair']);
  expect(repaired.repaired).toEqual({ membershipsAdded: 1, membersRemoved: 1, removedMissingFromStore: 0, idsCounted: 2007 });
  expect(json(['verify']).consistent).toBe(true);

  // delete removes from the index and the table.
  expect(json(['delete', '5', '6', '999999'])).toEqual({ removed: 2, unknown: 1 });
  expect(json(['verify'])).toMatchObject({ ids: 2005, consistent: true });
});

test('errors are one plain line and exit 1; --json gives them as JSON', () => {
  const missing = lshrs(['--prefix', uniqueName('none'), 'stats']);
  expect(missing.status).toBe(1);
  expect(missing.stderr).toMatch(/^lshrs: there is no index "t\d+_\d+_none" in Redis\n$/);
  const asJson = lshrs(['--prefix', uniqueName('none'), '--json', 'stats']);
  expect(JSON.parse(asJson.stdout)).toEqual({ error: { code: 'NOT_FOUND', message: expect.stringContaining('there is no index') } });
  expect(lshrs(['query']).status).toBe(1);
});

test('tune lists configurations with rates and expected candidates, and writes the S-curves as SVG', () => {
  const svg = join(dir, 'scurves.svg');
  const human = lshrs(['tune', '--num-perm', '128', '--threshold', '0.5', '--size', '1000000', '--svg', svg]);
  expect(human.status).toBe(0);
  expect(human.stdout.split('\n')[0]).toMatch(/^bands\s+rows\s+false pos\s+false neg\s+random pair\s+candidates\/query/);
  expect(human.stdout.split('\n')[1]).toMatch(/^16\s+8\s+0\.21\d+\s+0\.17\d+\s+0\.\d+\s+\d+\s+optimal$/);
  expect(human.stdout).toContain(
    'for 1000000 ids, --expected-size (expectedSize) plans 16 x 14 instead: buckets of 61.0 ids on average, 16 probes per band',
  );
  const listed = JSON.parse(lshrs(['tune', '--num-perm', '64', '--json']).stdout);
  expect(listed[0]).toMatchObject({ label: 'optimal', bands: 9, rows: 7, expectedCandidates: null });
  const picture = readFileSync(svg, 'utf8');
  expect(picture).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  expect(picture.match(/<polyline /g)).toHaveLength(6);
});

test('a new index is planned for --expected-size, or for the rows of the table it indexes', async () => {
  // The demo table was loaded by the first test (2007 rows, some deleted since): small enough for 16 x 8.
  const planned = uniqueName('cli_planned');
  expect(json(['--prefix', planned, 'index', '--expected-size', '1000000'])).toMatchObject({ prefix: planned });
  expect(json(['--prefix', planned, 'stats'])).toMatchObject({ bands: 16, rows: 14 });
  const bySize = uniqueName('cli_sized');
  json(['--prefix', bySize, 'index']);
  expect(json(['--prefix', bySize, 'stats'])).toMatchObject({ bands: 16, rows: 8 });
  for (const p of [planned, bySize]) await (await LSHRS.open({ redis, prefix: p })).clear();
});
