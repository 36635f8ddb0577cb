/** Redis' own view of its memory: INFO memory, read after lazy frees have drained. */
import type { Redis } from 'ioredis';

function infoField(info: string, field: string): number {
  const match = new RegExp(`^${field}:(\\d+)`, 'm').exec(info);
  return match ? Number(match[1]) : Number.NaN;
}

/** used_memory once no lazily freed object is pending (UNLINK frees in the background). */
export async function usedMemory(redis: Redis): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const info = await redis.info('memory');
    if (!(infoField(info, 'lazyfree_pending_objects') > 0)) return infoField(info, 'used_memory');
    await new Promise((r) => setTimeout(r, 50));
  }
  return infoField(await redis.info('memory'), 'used_memory');
}

export async function redisVersion(redis: Redis): Promise<string> {
  const match = /^redis_version:(\S+)/m.exec(await redis.info('server'));
  return match ? match[1] : 'unknown';
}

/** Removes every key under `{prefix}` (the harness' own vector-store keys), with SCAN and UNLINK. */
export async function dropPrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let dropped = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `\\{${prefix}\\}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) dropped += await redis.unlink(...keys);
  } while (cursor !== '0');
  return dropped;
}
