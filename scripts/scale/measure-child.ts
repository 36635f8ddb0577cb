// One build, sampling this process's memory after every batch; prints a JSON report on stdout.
import { Redis } from 'ioredis';
import pg from 'pg';
import { LSHRS, PostgresVectorStore } from '../../src';

async function main(): Promise<void> {
  const redis = new Redis(process.env.REDIS_URL as string);
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 });
  const table = process.env.TABLE as string;
  if (process.env.JOB === 'parquet') await PostgresVectorStore.createTable(pool, { table });
  const lsh = new LSHRS({ redis, dim: 384, prefix: process.env.PREFIX, store: new PostgresVectorStore({ pool, table }) });
  const samples: { done: number; heapUsed: number; rss: number }[] = [];
  let peakRss = 0;
  let peakHeap = 0;
  const onProgress = (p: { done: number }) => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
    samples.push({ done: p.done, heapUsed: m.heapUsed, rss: m.rss });
  };
  const t = performance.now();
  const result =
    process.env.JOB === 'parquet'
      ? await lsh.ingestParquet(process.env.FILE as string, {}, { onProgress })
      : await lsh.index(undefined, { onProgress });
  const seconds = (performance.now() - t) / 1000;
  await lsh.clear();
  await redis.quit();
  await pool.end();
  // The process's true peak (getrusage), DuckDB's native buffers between two samples included.
  const maxRss = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(JSON.stringify({ seconds, rows: result.added + result.moved + result.unchanged, samples, peakRss, peakHeap, maxRss }));
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
