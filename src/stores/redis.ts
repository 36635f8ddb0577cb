import { checkPrefix } from '../redis/keys';
import { closeRedis, openRedis, type RedisClient } from '../redis/connection';
import { pageOf, type Id } from '../ids';
import { float32FromLE, float32ToLE } from '../float32';
import type { StoredItem, StoreWrite, VectorStore } from './types';
import { checkOptionNames, optionNames } from '../validate';

export interface RedisVectorStoreOptions {
  /** An ioredis client or cluster the host holds, or a URL (then `close()` quits it). */
  redis: RedisClient | string;
  /** Keys are `{prefix}:v:<page>` (id -> float32 bytes) and `{prefix}:t:<page>` (id -> text). @defaultValue "lshrs" */
  prefix?: string;
  /** Hashes the vectors are spread over. @defaultValue 65536 */
  pages?: number;
}

const STORE_OPTIONS = optionNames<RedisVectorStoreOptions>({ redis: true, prefix: true, pages: true });

/**
 * Vectors as little-endian float32 bytes in Redis, for users who want one system only. They sit
 * under the index's hash tag (same slot as its buckets) but are not index keys: `clear()` keeps them.
 */
export class RedisVectorStore implements VectorStore {
  private readonly client: RedisClient;
  private readonly owned: boolean;
  private readonly tag: string;
  private readonly pages: number;

  constructor(options: RedisVectorStoreOptions) {
    checkOptionNames(options, STORE_OPTIONS, 'RedisVectorStore');
    ({ client: this.client, owned: this.owned } = openRedis(options.redis));
    this.tag = `{${checkPrefix(options.prefix ?? 'lshrs')}}`;
    this.pages = options.pages ?? 65536;
  }

  private pageKeys(id: Id): [string, string] {
    const page = pageOf(id, this.pages);
    return [`${this.tag}:v:${page}`, `${this.tag}:t:${page}`];
  }

  async fetch(ids: readonly Id[]): Promise<Iterable<StoredItem>> {
    if (ids.length === 0) return [];
    const pipeline = this.client.pipeline();
    for (const id of ids) {
      const [vectors, texts] = this.pageKeys(id);
      pipeline.hgetBuffer(vectors, String(id));
      pipeline.hget(texts, String(id));
    }
    const replies = (await pipeline.exec()) ?? [];
    const items: StoredItem[] = [];
    ids.forEach((id, i) => {
      const [vErr, bytes] = replies[2 * i];
      const [tErr, text] = replies[2 * i + 1];
      if (vErr) throw vErr;
      if (tErr) throw tErr;
      if (bytes) items.push({ id, vector: float32FromLE(bytes as Buffer), text: (text as string | null) ?? null });
    });
    return items;
  }

  async upsert(items: readonly StoreWrite[]): Promise<void> {
    const pipeline = this.client.pipeline();
    for (const item of items) {
      const [vectors, texts] = this.pageKeys(item.id);
      pipeline.hset(vectors, String(item.id), float32ToLE(item.vector));
      if (item.text != null) pipeline.hset(texts, String(item.id), item.text);
      else pipeline.hdel(texts, String(item.id));
    }
    for (const [err] of (await pipeline.exec()) ?? []) if (err) throw err;
  }

  async delete(ids: readonly Id[]): Promise<void> {
    const pipeline = this.client.pipeline();
    for (const id of ids) {
      const [vectors, texts] = this.pageKeys(id);
      pipeline.hdel(vectors, String(id));
      pipeline.hdel(texts, String(id));
    }
    for (const [err] of (await pipeline.exec()) ?? []) if (err) throw err;
  }

  async close(): Promise<void> {
    if (this.owned) await closeRedis(this.client);
  }
}
