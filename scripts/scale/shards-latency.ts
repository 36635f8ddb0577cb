/*
 * What the fan-out of a sharded index costs a query (npm run scale:shards): the same ids indexed
 * with 1 and with 16 shards, on one Redis and on a local 3-master, 3-replica cluster (loopback,
 * the test bed of test/cluster), each index sized for its ids (`expectedSize`: 4 bands of
 * sizedRows(ids) rows), queried for their candidates only (`rerank: false`, so no store is
 * involved: the bucket MGET, one per shard, sent together; the ranking of every record read by
 * sketch in the client; the ids call of the best, one per shard involved), at the default budgets:
 * defaultProbes(rows, bands) buckets per band, and as many candidates kept (`topK`) as a reranked
 * query keeps (rerankCandidates). Latency of queries one after another, and throughput with 8 in
 * flight. Measured, not asserted; prints a markdown table. Everything runs on this machine,
 * servers and client sharing its cores.
 */
import { tracingChannel } from 'node:diagnostics_channel';
import { Cluster, Redis } from 'ioredis';
import { LSHRS, TRACE_CHANNELS, type QueryTrace } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import type { RedisClient } from '../../src/redis/connection';
import { startCluster } from '../../dev/cluster';
import { startRedis } from '../../dev/servers';

const SIZES = (process.env.SCALE_SIZES ?? '10000,100000').split(',').map(Number);
const DIM = 64;
const QUERIES = 500;
const CONCURRENT = 8;
const log = (line: string) => process.stderr.write(`[shards] ${line}\n`);
/** The candidates the measured handles kept (their default rerankCandidates), for the table's title. */
let keptCandidates = 0;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** Query vectors near indexed ones (cosine ~0.99), so each has real neighbours. */
function queriesFor(vectors: Float32Array, ids: number): Float32Array[] {
  const next = gaussianStream('queries');
  return Array.from({ length: QUERIES }, (_, i) => {
    const id = (i * 7919) % ids;
    return Float32Array.from({ length: DIM }, (_, d) => vectors[id * DIM + d] + 0.1 * next());
  });
}

interface Row {
  target: string;
  ids: number;
  shards: number;
  /** The index's shape and its default probes per band. */
  shape: string;
  probes: number;
  /** Bucket records read per query (the tracing channel's membersRead), mean. */
  records: number;
  p50: number;
  p95: number;
  mean: number;
  qps: number;
  candidates: number;
}

async function measure(redis: RedisClient, target: string, vectors: Float32Array, ids: number, shards: number): Promise<Row> {
  const lsh = new LSHRS({ redis, dim: DIM, prefix: `lat_${ids}_${shards}`, shards, expectedSize: ids, batchSize: 1000 });
  keptCandidates = lsh.rerankCandidates;
  const ask = { rerank: false, topK: lsh.rerankCandidates };
  await lsh.clear();
  await lsh.index(
    (function* items() {
      for (let id = 0; id < ids; id++) yield { id, vector: vectors.subarray(id * DIM, (id + 1) * DIM) };
    })(),
  );
  const queries = queriesFor(vectors, ids);
  for (const q of queries.slice(0, 50)) await lsh.query(q, ask); // warm-up
  // The records each query read, from the library's tracing channel (a few clock reads per query).
  const channel = tracingChannel<unknown, QueryTrace>(TRACE_CHANNELS.query);
  let records = 0;
  const noop = () => {};
  const subscribers = { start: noop, end: noop, asyncStart: noop, error: noop, asyncEnd: (trace: QueryTrace) => (records += trace.membersRead) };
  const times: number[] = [];
  let candidates = 0;
  channel.subscribe(subscribers);
  try {
    for (const q of queries) {
      const started = performance.now();
      const hits = await lsh.query(q, ask);
      times.push(performance.now() - started);
      candidates += hits.length;
    }
  } finally {
    channel.unsubscribe(subscribers);
  }
  times.sort((a, b) => a - b);
  let at = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENT }, async () => {
      while (at < queries.length) await lsh.query(queries[at++], ask);
    }),
  );
  const qps = queries.length / ((performance.now() - started) / 1000);
  await lsh.clear();
  const row: Row = {
    target,
    ids,
    shards,
    shape: `${lsh.shape.bands} x ${lsh.shape.rows}`,
    probes: lsh.probes,
    records: records / queries.length,
    p50: percentile(times, 0.5),
    p95: percentile(times, 0.95),
    mean: times.reduce((a, b) => a + b, 0) / times.length,
    qps,
    candidates: candidates / queries.length,
  };
  log(`${target}, ${ids} ids, ${shards} shards: p50 ${row.p50.toFixed(2)} ms, p95 ${row.p95.toFixed(2)} ms, ${Math.round(qps)} queries/s`);
  return row;
}

async function main(): Promise<void> {
  const largest = Math.max(...SIZES);
  const next = gaussianStream('latency');
  const vectors = new Float32Array(largest * DIM);
  for (let i = 0; i < vectors.length; i++) vectors[i] = next();

  const rows: Row[] = [];
  const single = await startRedis();
  const redis = new Redis(single.url);
  try {
    for (const ids of SIZES) for (const shards of [1, 16]) rows.push(await measure(redis, 'one Redis', vectors, ids, shards));
  } finally {
    await redis.quit();
    await single.stop();
  }
  const cluster = await startCluster();
  const client = new Cluster(cluster.startupNodes, { scaleReads: 'master' });
  try {
    for (const ids of SIZES) for (const shards of [1, 16]) rows.push(await measure(client, '3-master cluster', vectors, ids, shards));
  } finally {
    await client.quit();
    await cluster.stop();
  }

  const version = (await import('node:child_process')).execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).match(/v=(\S+)/)?.[1];
  const f = (n: number) => n.toFixed(2);
  process.stdout.write(
    [
      `### Query latency, 1 vs 16 shards (random ${DIM}-d vectors, each index sized for its ids, \`rerank: false\` at the default budgets: the default probes per band, every record read ranked by sketch, the best ${keptCandidates} kept and turned into ids; Redis ${version}, ${QUERIES} queries)`,
      '',
      "`npm run scale:shards`. One query after another for the latency; 8 in flight for the throughput. A query sends one bucket `MGET` per shard, all together, then one ids call per shard holding a kept candidate, all together. Client and servers share the machine's 2 cores, and the cluster's 3 masters and 3 replicas run on them too.",
      '',
      '| target | ids | shape | probes / band | shards | Redis calls per query (MGET + ids, at most) | p50 ms | p95 ms | mean ms | queries/s (8 in flight) | records read per query | candidates per query |',
      '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...rows.map(
        (r) =>
          `| ${r.target} | ${r.ids.toLocaleString('en-US')} | ${r.shape} | ${r.probes} | ${r.shards} | ${r.shards} + ${r.shards} | ${f(r.p50)} | ${f(r.p95)} | ${f(r.mean)} | ${Math.round(r.qps)} | ${Math.round(r.records).toLocaleString('en-US')} | ${Math.round(r.candidates)} |`,
      ),
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
