/*
 * Redis bytes per indexed id (npm run scale:bytes), for the README's sizing table: indexes of
 * 200,000 random vectors at the default 16 bands x 8 rows, measured three ways: the sum of MEMORY
 * USAGE over the index's keys (what `stats().bytesPerId` reports), split into buckets and reverse
 * records, and the growth of the server's used_memory during the build (allocator overhead and the
 * keyspace's own tables included; the server is emptied before each case). A set or hash is kept
 * compact (intset, listpack) up to 512 entries at Redis 7's defaults and becomes a hash table past
 * that, so what an id costs depends on how full the keys are: a bucket holds about ids / (shards x
 * 2^rows) members, a reverse page ids / (shards x reversePages) records. The cases vary them to
 * cover the fill large indexes reach. Prints a markdown section. A throwaway Redis.
 */
import { Redis } from 'ioredis';
import { LSHRS } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import { startRedis } from '../../dev/servers';

const IDS = Number(process.env.SCALE_IDS ?? 200_000);
const DIM = 32; // the dimension changes nothing in Redis: a signature is 16 bytes at 16 x 8
const log = (line: string) => process.stderr.write(`[bytes] ${line}\n`);

interface Case {
  label: string;
  shards: number;
  reversePages: number;
}

const CASES: Case[] = [
  { label: 'defaults', shards: 1, reversePages: 65536 },
  { label: '16 shards (buckets of ~50: intsets)', shards: 16, reversePages: 65536 },
  { label: 'pages of ~100 ids', shards: 1, reversePages: Math.round(IDS / 100) },
  { label: 'pages of ~760 ids', shards: 1, reversePages: Math.round(IDS / 760) },
];

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1]);
}

/** MEMORY USAGE of every key matching the pattern, split by kind of key. */
async function bytesByKind(redis: Redis, prefix: string): Promise<{ buckets: number; reverse: number; other: number }> {
  const sums = { buckets: 0, reverse: 0, other: 0 };
  for (const pattern of [`\\{${prefix}\\}:*`, `\\{${prefix}#*\\}:*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
      cursor = next;
      const pipeline = redis.pipeline();
      for (const key of keys) pipeline.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
      const replies = (await pipeline.exec()) ?? [];
      keys.forEach((key, i) => {
        const bytes = Number(replies[i][1]);
        const kind = key.slice(key.indexOf('}') + 1, key.indexOf('}') + 4);
        if (kind === ':b:') sums.buckets += bytes;
        else if (kind === ':r:') sums.reverse += bytes;
        else sums.other += bytes;
      });
    } while (cursor !== '0');
  }
  return sums;
}

async function main(): Promise<void> {
  const server = await startRedis();
  const redis = new Redis(server.url);
  try {
    const next = gaussianStream('bytes');
    const vectors = new Float32Array(IDS * DIM);
    for (let i = 0; i < vectors.length; i++) vectors[i] = next();
    const rows: string[] = [];
    for (const c of CASES) {
      const prefix = `bytes_${c.shards}_${c.reversePages}`;
      const lsh = new LSHRS({ redis, dim: DIM, prefix, shards: c.shards, reversePages: c.reversePages, batchSize: 1000 });
      await redis.flushall('SYNC');
      const before = await usedMemory(redis);
      const started = performance.now();
      await lsh.index(
        (function* items() {
          for (let id = 0; id < IDS; id++) yield { id, vector: vectors.subarray(id * DIM, (id + 1) * DIM) };
        })(),
      );
      const seconds = (performance.now() - started) / 1000;
      const grown = (await usedMemory(redis)) - before;
      const stats = await lsh.stats();
      const kinds = await bytesByKind(redis, prefix);
      const sample = (await lsh.inspect(IDS >> 1)) as NonNullable<Awaited<ReturnType<LSHRS['inspect']>>>;
      const encodings = `${await redis.object('ENCODING', sample.buckets[0].key)}, ${await redis.object('ENCODING', sample.reverseKey)}`;
      const perPage = IDS / (c.shards * c.reversePages);
      log(
        `${c.label}: ${stats.bytesPerId?.toFixed(1)} bytes per id by MEMORY USAGE, ${(grown / IDS).toFixed(1)} by used_memory, ${seconds.toFixed(1)} s`,
      );
      rows.push(
        `| ${c.label} | ${c.shards} | ${c.reversePages} | ${perPage < 10 ? perPage.toFixed(1) : Math.round(perPage)} | ${encodings} | ` +
          `${(kinds.buckets / IDS).toFixed(1)} | ${(kinds.reverse / IDS).toFixed(1)} | ${(stats.bytesPerId ?? 0).toFixed(1)} | ${(grown / IDS).toFixed(1)} |`,
      );
    }
    const version = /^redis_version:(.*)$/m.exec(await redis.info('server'))?.[1]?.trim();
    process.stdout.write(
      [
        `### Bytes per id (${IDS.toLocaleString('en-US')} random vectors, 16 bands x 8 rows, integer ids, Redis ${version})`,
        '',
        "`npm run scale:bytes`. Buckets and reverse records: MEMORY USAGE summed over those keys, per id; `stats().bytesPerId` is their sum with the meta; `used_memory` is the server's growth during the build, per id.",
        '',
        '| case | shards | reversePages | ids per page | encoding of a bucket, a page | buckets B/id | reverse records B/id | stats().bytesPerId | used_memory B/id |',
        '| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |',
        ...rows,
        '',
      ].join('\n'),
    );
  } finally {
    await redis.quit();
    await server.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
