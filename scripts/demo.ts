/*
 * npm run demo: loads data/demo.parquet into a PostgreSQL table and an lshrs index, then answers
 * the held-out queries of data/demo-queries.parquet with their nearest sentences.
 * With REDIS_URL / DATABASE_URL set it uses those servers; otherwise it starts throwaway ones.
 */
import { resolve } from 'node:path';
import { LSHRS, PostgresVectorStore, readParquet } from '../src';
import { startPostgres, startRedis, type Throwaway } from '../dev/servers';

const DATA = resolve(__dirname, '..', 'data');
const TABLE = 'lshrs_demo';
const PREFIX = 'lshrs-demo';

const say = (line = '') => process.stdout.write(`${line}\n`);
const clip = (text: string, width: number) => (text.length > width ? `${text.slice(0, width - 1)}…` : text);

async function main(): Promise<void> {
  const started: Throwaway[] = [];
  try {
    let redisUrl = process.env.REDIS_URL;
    let databaseUrl = process.env.DATABASE_URL;
    if (!redisUrl) {
      const server = await startRedis();
      started.push(server);
      redisUrl = server.url;
      say(`Started a throwaway Redis at ${redisUrl} (set REDIS_URL to use yours).`);
    }
    if (!databaseUrl) {
      const server = await startPostgres();
      started.push(server);
      databaseUrl = server.url;
      say(`Started a throwaway PostgreSQL at ${databaseUrl} (set DATABASE_URL to use yours).`);
    }

    // lshrs opens both connections itself from the URLs (and listens to them: the throwaway
    // PostgreSQL, stopped below, ends the connections its pool is still closing), and closes them.
    const store = new PostgresVectorStore({ connectionString: databaseUrl, table: TABLE });
    const lsh = new LSHRS({ redis: redisUrl, dim: 512, prefix: PREFIX, store });
    try {
      await store.createTableIfMissing();
      await lsh.clear(); // a rerun starts from an empty index

      let t = performance.now();
      const result = await lsh.index(readParquet(`${DATA}/demo.parquet`));
      const seconds = (performance.now() - t) / 1000;
      const stats = await lsh.stats();
      say();
      say(
        `Indexed ${result.added + result.moved + result.unchanged} Wikipedia sentences into table "${TABLE}" and index "${PREFIX}" in ${seconds.toFixed(2)} s.`,
      );
      say(
        `  ${stats.bands} bands x ${stats.rows} rows, ${stats.buckets} buckets, ${(stats.redisBytes / 1024).toFixed(0)} KiB in Redis (${stats.bytesPerId?.toFixed(0)} bytes per id).`,
      );

      for await (const q of readParquet(`${DATA}/demo-queries.parquet`)) {
        t = performance.now();
        const hits = await lsh.query(q.vector, { topK: 3 });
        const ms = performance.now() - t;
        say();
        say(`Query: ${q.text}  (${ms.toFixed(1)} ms)`);
        for (const hit of hits) {
          say(`  ${hit.score.toFixed(3)}  #${String(hit.id).padEnd(5)} ${clip(hit.text ?? '', 100)}`);
        }
      }
      say();
      say('Texts: Wikipedia via WikiText-103, CC BY-SA 3.0 (see data/README.md).');
    } finally {
      await lsh.close();
    }
  } finally {
    await Promise.all(started.map((s) => s.stop()));
  }
}

main().catch((err) => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
