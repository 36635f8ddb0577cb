/*
 * Throwaway Redis and PostgreSQL servers on free loopback ports, for the tests and the demo.
 * Where a server binary is missing, Debian's package is installed when this runs as root with
 * apt-get; otherwise Redis comes from redis-memory-server's own build (it needs the internet),
 * and a missing PostgreSQL is reported with what to install.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import pg from 'pg';
import { RedisMemoryServer } from 'redis-memory-server';

export interface Throwaway {
  url: string;
  stop(): Promise<void>;
}

export function log(line: string): void {
  process.stderr.write(`[lshrs servers] ${line}\n`);
}

/** A free loopback port: any (port 0), or `port` itself when it is free (rejects when it is taken). */
export function freePort(port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export function onPath(binary: string, extraDirs: string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin', '/opt/homebrew/bin', ...extraDirs];
  return dirs.map((dir) => join(dir, binary)).find((path) => existsSync(path));
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

let aptUpdated = false;

/** Installs Debian packages when this process may (root, apt-get present); false otherwise. */
export function aptInstall(packages: string[]): boolean {
  if (!isRoot() || !onPath('apt-get')) return false;
  log(`installing Debian packages: ${packages.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    aptUpdated = true;
  }
  const result = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { stdio: 'inherit', env });
  return result.status === 0;
}

function redisBinary(): string | undefined {
  return process.env.REDISMS_SYSTEM_BINARY ?? onPath('redis-server');
}

/** An installed redis-server (REDISMS_SYSTEM_BINARY, the PATH, or Debian's package installed now). */
export function systemRedisServer(): string | undefined {
  const found = redisBinary();
  if (found || !aptInstall(['redis-server'])) return found;
  return redisBinary();
}

export async function startRedis(extraArgs: string[] = []): Promise<Throwaway> {
  const systemBinary = systemRedisServer();
  let server: RedisMemoryServer;
  try {
    server = await RedisMemoryServer.create({
      instance: { ip: '127.0.0.1', port: await freePort(), args: ['--appendonly', 'no', ...extraArgs] },
      binary: systemBinary ? { systemBinary } : undefined,
    });
  } catch (err) {
    throw new Error(
      `no redis-server could be started: none is installed and redis-memory-server could not build one ` +
        `(${(err as Error).message}). Install it (Debian: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL.`,
    );
  }
  const url = `redis://${await server.getHost()}:${await server.getPort()}`;
  return {
    url,
    async stop() {
      await server.stop();
    },
  };
}

function postgresBinDir(): string | undefined {
  if (process.env.PG_BIN_DIR) return process.env.PG_BIN_DIR;
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((v) => existsSync(join(debian, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return join(debian, versions[0], 'bin');
  }
  const initdb = onPath('initdb', ['/opt/homebrew/opt/postgresql/bin']);
  return initdb ? join(initdb, '..') : undefined;
}

/** uid/gid of the `postgres` user: PostgreSQL refuses to run as root. */
function postgresUser(): { uid: number; gid: number } | undefined {
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

async function waitForPostgres(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited with code ${child.exitCode}:\n${output()}`);
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      return;
    } catch (err) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`postgres did not accept connections in 30 s: ${(err as Error).message}\n${output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function startPostgres(): Promise<Throwaway> {
  let binDir = postgresBinDir();
  if (!binDir && aptInstall(['postgresql'])) binDir = postgresBinDir();
  if (!binDir) {
    throw new Error(
      'no PostgreSQL server binaries (initdb, postgres) found: install them (Debian: apt-get install postgresql; ' +
        'macOS: brew install postgresql), point PG_BIN_DIR at them, or set DATABASE_URL.',
    );
  }
  const user = isRoot() ? postgresUser() : undefined;
  if (isRoot() && !user) throw new Error('running as root, and there is no "postgres" user to run PostgreSQL as');
  const dir = mkdtempSync(join(tmpdir(), 'lshrs-pg-'));
  if (user) chownSync(dir, user.uid, user.gid);
  const as = user ? { uid: user.uid, gid: user.gid } : {};
  const init = spawnSync(join(binDir, 'initdb'), ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'], {
    ...as,
    encoding: 'utf8',
  });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  const port = await freePort();
  let output = '';
  const child = spawn(
    join(binDir, 'postgres'),
    // biome-ignore format: flags beside their values
    ['-D', join(dir, 'data'), '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1',
     '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'],
    { ...as, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT'); // fast shutdown
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPostgres(url, child, () => output);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, stop };
}
