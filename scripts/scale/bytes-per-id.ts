/*
 * Redis bytes per indexed id (npm run scale:bytes), for the README's sizing table: indexes of
 * 200,000 random vectors at the defaults for their size (`expectedSize`: 4 bands of sizedRows(n)
 * rows, 256-bit sketches), measured three ways: the sum of MEMORY USAGE over the index's keys (what
 * `stats().bytesPerId` reports), split into buckets (with their overflow lists), reverse records
 * and ordinal pages, and the growth of the server's used_memory during the build (allocator
 * overhead and the keyspace's own tables included; the server is emptied before each case). A
 * bucket is a string of packed records (4-byte ordinal and sketch), so its bytes per id barely
 * depend on its fill beyond the key's own overhead: a bucket holds about ids / (shards x 2^rows)
 * records. The reverse records and the ordinal -> id entries live in hashes, kept compact
 * (listpack) up to 512 entries at Redis 7's defaults and hash tables past that, so what they cost
 * depends on how full the pages are: ids / (shards x reversePages) each. The cases vary both to
 * cover the fill large indexes reach. Prints a markdown section. A throwaway Redis.
 */
import { Redis } from 'ioredis';
import { LSHRS } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import { startRedis } from '../../dev/servers';

const IDS = Number(process.env.SCALE_IDS ?? 200_000);
const DIM = 32; // the dimension changes nothing in Redis: a record is 4 bytes and the sketch (32 bytes at 256 bits)
const log = (line: string) => process.stderr.write(`[bytes] ${line}\n`);

interface Case {
  label: string;
  shards: number;
  reversePages: number;
}

const CASES: Case[] = [
  { label: 'defaults', shards: 1, reversePages: 65536 },
  { label: '16 shards (buckets 16x smaller)', shards: 16, reversePages: 65536 },
  { label: 'pages of ~100 ids', shards: 1, reversePages: Math.round(IDS / 100) },
  { label: 'pages of ~760 ids', shards: 1, reversePages: Math.round(IDS / 760) },
];

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1]);
}

/** MEMORY USAGE of every key matching the pattern, split by kind of key. */
async function bytesByKind(redis: Redis, prefix: string): Promise<{ buckets: number; reverse: number; ordinals: number; other: number }> {
  const sums = { buckets: 0, reverse: 0, ordinals: 0, other: 0 };
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
        if (kind === ':b:' || kind === ':x:') sums.buckets += bytes;
        else if (kind === ':r:') sums.reverse += bytes;
        else if (kind === ':o:') sums.ordinals += bytes;
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
    let shape = '';
    for (const c of CASES) {
      const prefix = `bytes_${c.shards}_${c.reversePages}`;
      const lsh = new LSHRS({ redis, dim: DIM, prefix, shards: c.shards, reversePages: c.reversePages, expectedSize: IDS, batchSize: 1000 });
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
      const ordinalKey = sample.reverseKey.replace(/:r:\d+$/, `:o:${sample.ordinal % c.reversePages}`);
      const encodings = [sample.buckets[0].key, sample.reverseKey, ordinalKey].map((key) => redis.object('ENCODING', key));
      const encoding = (await Promise.all(encodings)).join(', ');
      const perPage = IDS / (c.shards * c.reversePages);
      const perBucket = IDS / (c.shards * 2 ** lsh.shape.rows);
      shape = `${lsh.shape.bands} bands x ${lsh.shape.rows} rows, ${lsh.shape.sketchBits}-bit sketches`;
      log(
        `${c.label}: ${stats.bytesPerId?.toFixed(1)} bytes per id by MEMORY USAGE, ${(grown / IDS).toFixed(1)} by used_memory, ${seconds.toFixed(1)} s`,
      );
      rows.push(
        `| ${c.label} | ${c.shards} | ${c.reversePages} | ${perBucket < 10 ? perBucket.toFixed(1) : Math.round(perBucket)} | ${perPage < 10 ? perPage.toFixed(1) : Math.round(perPage)} | ${encoding} | ` +
          `${(kinds.buckets / IDS).toFixed(1)} | ${(kinds.reverse / IDS).toFixed(1)} | ${(kinds.ordinals / IDS).toFixed(1)} | ${(stats.bytesPerId ?? 0).toFixed(1)} | ${(grown / IDS).toFixed(1)} |`,
      );
    }
    const version = /^redis_version:(.*)$/m.exec(await redis.info('server'))?.[1]?.trim();
    process.stdout.write(
      [
        `### Bytes per id (${IDS.toLocaleString('en-US')} random vectors, ${shape}, integer ids, Redis ${version})`,
        '',
        "`npm run scale:bytes`. Buckets (with their overflow lists), reverse records and ordinal pages (ordinal -> id): MEMORY USAGE summed over those keys, per id; `stats().bytesPerId` is their sum with the meta; `used_memory` is the server's growth during the build, per id.",
        '',
        '| case | shards | reversePages | ids per bucket | ids per page | encoding of a bucket, a reverse page, an ordinal page | buckets B/id | reverse records B/id | ordinal pages B/id | stats().bytesPerId | used_memory B/id |',
        '| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |',
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
