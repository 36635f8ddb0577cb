import type { Throwaway } from '../../dev/servers';

export default async function globalTeardown(): Promise<void> {
  const servers = (globalThis as { __lshrsServers?: Throwaway[] }).__lshrsServers ?? [];
  await Promise.all(servers.map((s) => s.stop()));
}
