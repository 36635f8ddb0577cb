/*
 * A throwaway Redis Cluster on loopback, for the tests: masters and replicas (3 + 3 by default),
 * each a `redis-server --cluster-enabled yes` in its own temp dir without persistence, joined with
 * `redis-cli --cluster create`. The binaries are found (or installed) as in servers.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { aptInstall, freePort, onPath, systemRedisServer } from './servers';

const HOST = '127.0.0.1';
const SLOTS = 16384;

export interface ClusterOptions {
  /** @defaultValue 3 */
  masters?: number;
  /** @defaultValue 1 */
  replicasPerMaster?: number;
  /** `cluster-node-timeout`: how long a silent master goes before its replica takes over. @defaultValue 2000 */
  nodeTimeoutMs?: number;
}

/** One line of `CLUSTER NODES`. */
export interface ClusterNode {
  id: string;
  port: number;
  flags: string[];
  /** The master's id for a replica, undefined for a master. */
  masterId?: string;
  /** Slot ranges a master serves, inclusive. */
  slots: [number, number][];
}

export interface ThrowawayCluster {
  /** Every node started, for an ioredis `Cluster` (it finds the rest itself). */
  readonly startupNodes: { host: string; port: number }[];
  /** Client ports of the nodes still running. */
  alive(): number[];
  /** `CLUSTER NODES` as one running node (`from`, or any) sees it. */
  nodes(from?: number): Promise<ClusterNode[]>;
  /** The port of the master serving `slot`, as one running node (`from`, or any) sees it. */
  masterOfSlot(slot: number, from?: number): Promise<number>;
  /** Ports of the replicas of the master on `masterPort`. */
  replicasOf(masterPort: number): Promise<number[]>;
  /** `ROLE` of a node: `master` or `slave`. */
  role(port: number): Promise<string>;
  /** Runs one command on one node over a short-lived connection. */
  command(port: number, ...args: (string | number)[]): Promise<unknown>;
  /** Polls until every running node reports `cluster_state:ok` with all 16384 slots served. */
  waitUntilHealthy(timeoutMs?: number): Promise<void>;
  /** Hard kill (SIGKILL) of one node; resolves once the process is gone. */
  killNode(port: number): Promise<void>;
  /** Kills every node and removes their directories. */
  stop(): Promise<void>;
}

/** Polls `check` every `everyMs` until it returns true; throws naming `what` after `timeoutMs`. */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 30_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** redis-cli beside the redis-server binary, on the PATH, or from Debian's redis-tools. */
function redisCli(server: string): string | undefined {
  const beside = join(dirname(server), 'redis-cli');
  if (existsSync(beside)) return beside;
  return onPath('redis-cli') ?? (aptInstall(['redis-tools']) ? onPath('redis-cli') : undefined);
}

/**
 * A client port whose cluster bus port (client port + 10000, which Redis before 7 cannot move) is
 * free too, and that no other node of this cluster took.
 */
async function freeNodePort(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 35000);
    if (taken.has(port)) continue;
    try {
      await freePort(port);
      await freePort(port + 10000);
      taken.add(port);
      return port;
    } catch {
      // taken by someone else: try another
    }
  }
  throw new Error('found no free pair of loopback ports (port, port + 10000) for a cluster node');
}

/** Processes started here, killed when this process exits however it exits. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function run(binary: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => (output += chunk.toString());
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`${binary} ${args.join(' ')} exited with ${code ?? signal}:\n${output.slice(-4000)}`));
    });
  });
}

async function ask(port: number, args: (string | number)[]): Promise<unknown> {
  const client = new Redis({ host: HOST, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
  client.on('error', () => undefined); // the failure comes back from call()
  try {
    await client.connect();
    return await client.call(String(args[0]), ...args.slice(1));
  } finally {
    client.disconnect();
  }
}

function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

function parseNodes(text: string): ClusterNode[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, address, flags, master, , , , , ...slots] = line.trim().split(' ');
      return {
        id,
        port: Number(/:(\d+)@/.exec(address)?.[1]),
        flags: flags.split(','),
        masterId: master === '-' ? undefined : master,
        slots: slots
          .filter((s) => !s.startsWith('['))
          .map((s) => {
            const [from, to] = s.split('-').map(Number);
            return [from, to ?? from] as [number, number];
          }),
      };
    });
}

export async function startCluster(options: ClusterOptions = {}): Promise<ThrowawayCluster> {
  const masters = options.masters ?? 3;
  const replicasPerMaster = options.replicasPerMaster ?? 1;
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 2000;
  const server = systemRedisServer();
  const cli = server ? redisCli(server) : undefined;
  if (!server || !cli) {
    throw new Error('a Redis Cluster needs redis-server and redis-cli installed (Debian: apt-get install redis-server; macOS: brew install redis)');
  }

  const taken = new Set<number>();
  const children = new Map<number, ChildProcess>();
  const dirs: string[] = [];
  const outputs = new Map<number, string>();

  const stop = async () => {
    await Promise.all([...children.keys()].map((port) => killNode(port)));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  };

  const killNode = async (port: number) => {
    const child = children.get(port);
    if (!child) throw new Error(`no running cluster node on port ${port}`);
    children.delete(port);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    running.delete(child);
  };

  const anyAlive = (from?: number) => {
    const port = from ?? [...children.keys()][0];
    if (port === undefined) throw new Error('no cluster node is running');
    return port;
  };

  const cluster: ThrowawayCluster = {
    startupNodes: [],
    alive: () => [...children.keys()],
    command: (port, ...args) => ask(port, args),
    async nodes(from) {
      return parseNodes(String(await ask(anyAlive(from), ['CLUSTER', 'NODES'])));
    },
    async masterOfSlot(slot, from) {
      const owner = (await cluster.nodes(from)).find(
        (n) => n.flags.includes('master') && !n.flags.includes('fail') && n.slots.some(([a, b]) => slot >= a && slot <= b),
      );
      if (!owner) throw new Error(`no running master serves slot ${slot}`);
      return owner.port;
    },
    async replicasOf(masterPort) {
      const nodes = await cluster.nodes(children.has(masterPort) ? masterPort : undefined);
      const master = nodes.find((n) => n.port === masterPort);
      if (!master) throw new Error(`no node on port ${masterPort}`);
      return nodes.filter((n) => n.masterId === master.id).map((n) => n.port);
    },
    async role(port) {
      return String(((await ask(port, ['ROLE'])) as unknown[])[0]);
    },
    async waitUntilHealthy(timeoutMs = 30_000) {
      await waitUntil(
        'every running cluster node to report cluster_state:ok with every slot served',
        async () => {
          for (const port of children.keys()) {
            const info = String(await ask(port, ['CLUSTER', 'INFO']));
            if (infoField(info, 'cluster_state') !== 'ok' || Number(infoField(info, 'cluster_slots_ok')) !== SLOTS) return false;
          }
          return true;
        },
        timeoutMs,
      );
    },
    killNode,
    stop,
  };

  try {
    for (let i = 0; i < masters * (1 + replicasPerMaster); i++) {
      const port = await freeNodePort(taken);
      const dir = mkdtempSync(join(tmpdir(), `lshrs-cluster-${port}-`));
      dirs.push(dir);
      const child = spawn(
        server,
        // biome-ignore format: flags beside their values
        [
          '--port', String(port), '--bind', HOST, '--dir', dir,
          '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
          '--cluster-node-timeout', String(nodeTimeoutMs),
          // A replica may always take over (the tests kill masters on purpose).
          '--cluster-replica-validity-factor', '0',
          '--appendonly', 'no', '--save', '',
          // Replicas sync at once instead of after the default 5 s of diskless-sync delay.
          '--repl-diskless-sync-delay', '0',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      running.add(child);
      children.set(port, child);
      outputs.set(port, '');
      const keep = (chunk: Buffer) => outputs.set(port, ((outputs.get(port) ?? '') + chunk.toString()).slice(-4000));
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      cluster.startupNodes.push({ host: HOST, port });
    }
    for (const [port, child] of children) {
      await waitUntil(`redis-server on port ${port} to answer`, async () => {
        if (child.exitCode !== null) throw new Error(`redis-server on port ${port} exited:\n${outputs.get(port)}`);
        return (await ask(port, ['PING'])) === 'PONG';
      });
    }
    const addresses = cluster.startupNodes.map((n) => `${n.host}:${n.port}`);
    await run(cli, ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicasPerMaster), '--cluster-yes'], 60_000);
    await cluster.waitUntilHealthy();
    // Gossip has told every node every other node's role (a node may list a fresh replica as a
    // master for a moment): answers about roles and replicas no longer depend on whom one asks.
    await waitUntil('every node to see the same masters and replicas', async () => {
      for (const port of children.keys()) {
        const seen = await cluster.nodes(port);
        const replicas = seen.filter((n) => n.flags.includes('slave') && n.masterId !== undefined).length;
        const withSlots = seen.filter((n) => n.flags.includes('master') && n.slots.length > 0).length;
        if (seen.length !== children.size || withSlots !== masters || replicas !== children.size - masters) return false;
      }
      return true;
    });
    // Every replica has finished its first sync, so a master killed from now on has a copy.
    await waitUntil('every replica to be in sync with its master', async () => {
      for (const port of children.keys()) {
        const info = String(await ask(port, ['INFO', 'replication']));
        if (infoField(info, 'role') === 'slave' && infoField(info, 'master_link_status') !== 'up') return false;
      }
      return true;
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return cluster;
}
