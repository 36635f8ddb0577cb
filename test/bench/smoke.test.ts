import { renderReport } from '../../scripts/bench/report';
import { runBench, type BenchReport } from '../../scripts/bench/run';
import { databaseUrl, redisUrl } from '../support/servers';

// A smoke run of `npm run bench`: a few hundred synthetic vectors against the test servers, so the
// harness cannot rot. Structure only: no figure here is a timing assertion.
let report: BenchReport;

function hnswlibInstalled(): boolean {
  try {
    require.resolve('hnswlib-node');
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  report = await runBench({ tiny: true, redisUrl: redisUrl(), databaseUrl: databaseUrl(), command: 'smoke test' });
}, 180_000);

const inUnit = (x: number) => x >= 0 && x <= 1;

test('a tiny benchmark run measures every figure on the synthetic set', () => {
  expect(report.datasets).toHaveLength(1);
  const [set] = report.datasets;
  expect(set.data).toMatchObject({ kind: 'synthetic', n: 400, dim: 32, queryCount: 20 });
  expect(set.truth.origin === 'computed' || set.truth.origin === 'cached').toBe(true);
  for (const point of [set.headline, ...set.sweep]) {
    expect(inUnit(point.recall.at1) && inUnit(point.recall.at10) && inUnit(point.recall.at100)).toBe(true);
    expect(point.latency.p50).toBeGreaterThan(0);
    expect(point.reranked.max).toBeLessThanOrEqual(point.setting.rerankCandidates);
  }
  expect(set.headline.breakdown).toBeDefined();
  expect(set.headline.qps8).toBeGreaterThan(0);
  expect(set.builds.map((b) => `${b.bands}x${b.rows}`)).toEqual(['4x8', '32x4']);
  expect(set.builds[0].memory.statsBytesPerId).toBeGreaterThan(0);
  expect(set.hashing[0].oneThread).toBeGreaterThan(0);
  expect(set.peers.map((p) => p.peer)).toEqual(['exact Float32Array scan', 'hnswlib-node (HNSW, in process)']);
  expect(set.peers[0].points[0].recall.at10).toBe(1);
  // hnswlib-node is not a dependency (it needs a C++ compiler): present, it runs; absent, the
  // report says so and how to add it.
  const hnsw = set.peers[1];
  if (hnswlibInstalled()) expect(hnsw.points.length).toBeGreaterThan(0);
  else
    expect(hnsw).toMatchObject({
      points: [],
      skipped: expect.stringMatching(/^hnswlib-node is not installed: `npm install --no-save hnswlib-node@3`/),
    });
  for (const peer of set.peers) for (const p of peer.points) expect(inUnit(p.recall.at10)).toBe(true);
  expect(report.placement?.results.map((r) => r.store)).toEqual(
    expect.arrayContaining(['PostgreSQL bytea', 'PostgreSQL real[]', 'RedisVectorStore']),
  );
});

test('the report has its sections, a plot per data set, and only figures from the run', () => {
  const { markdown, svgs } = renderReport(report, 'BENCHMARKS');
  for (const heading of [
    '## Run',
    "## Summary: lshrs' defaults",
    '## The data sets',
    '## Hashing',
    '## Index build',
    '## Redis memory',
    '## Queries',
    '## Configurations: the recall@10 / p95 frontier',
    '## Peers, same data and queries',
    '## Where should the vectors live?',
  ]) {
    expect(markdown).toContain(heading);
  }
  expect(markdown).toContain('smoke test');
  expect(markdown).not.toMatch(/NaN|undefined/);
  expect(svgs).toHaveLength(1);
  expect(svgs[0].svg).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
  expect(markdown).toContain(`](${svgs[0].name})`);
});
