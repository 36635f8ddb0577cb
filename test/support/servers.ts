import { Redis } from 'ioredis';
import pg from 'pg';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests through jest (test/setup starts the servers)`);
  return value;
}

export const redisUrl = () => required('LSHRS_TEST_REDIS_URL');
export const databaseUrl = () => required('LSHRS_TEST_DATABASE_URL');

/** A host-style client: fails a command after one retry instead of queueing it forever. */
export function newRedis(): Redis {
  return new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
}

export function newPool(): pg.Pool {
  return new pg.Pool({ connectionString: databaseUrl(), max: 4 });
}

let counter = 0;
/** A prefix (and table name) no other test uses, so test files can share the servers. */
export function uniqueName(label: string): string {
  counter += 1;
  return `t${process.pid}_${counter}_${label}`.replace(/[^A-Za-z0-9_]/g, '_');
}

/**
 * A test file's host-style connections to the test servers: opened before its tests, closed after
 * them (even after a failure), handed to `assign` so the file keeps plain `redis` / `pool` names.
 */
export function useConnections(assign: (connections: { redis: Redis; pool: pg.Pool }) => void): void {
  let opened: { redis: Redis; pool: pg.Pool } | undefined;
  beforeAll(() => {
    opened = { redis: newRedis(), pool: newPool() };
    assign(opened);
  });
  afterAll(async () => {
    await Promise.allSettled([opened?.redis.quit(), opened?.pool.end()]);
  });
}
