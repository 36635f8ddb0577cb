/* The servers a bench runs against: the ones given, or throwaway ones it starts (and stops). */
import { startPostgres, startRedis, type Throwaway } from '../../dev/servers';

/** The URLs given, the missing ones filled with throwaway servers, which go into `throwaway` for the caller to stop. */
export async function benchServers(
  given: { redisUrl?: string; databaseUrl?: string },
  throwaway: Throwaway[],
): Promise<{ redisUrl: string; databaseUrl: string }> {
  let { redisUrl, databaseUrl } = given;
  if (!redisUrl) {
    const server = await startRedis();
    throwaway.push(server);
    redisUrl = server.url;
  }
  if (!databaseUrl) {
    const server = await startPostgres();
    throwaway.push(server);
    databaseUrl = server.url;
  }
  return { redisUrl, databaseUrl };
}
