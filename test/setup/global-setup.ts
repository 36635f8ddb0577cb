import { startPostgres, startRedis, type Throwaway } from '../../dev/servers';

/** One throwaway Redis and one PostgreSQL for the whole run; test files isolate by prefix and table. */
export default async function globalSetup(): Promise<void> {
  const [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
  process.env.LSHRS_TEST_REDIS_URL = redis.url;
  process.env.LSHRS_TEST_DATABASE_URL = postgres.url;
  (globalThis as { __lshrsServers?: Throwaway[] }).__lshrsServers = [redis, postgres];
}
