// Every key of an index of one shard lives in one hash slot, and every command lshrs sends (script
// calls, the commands inside the scripts, and the ops calls stats and clear) touches only that slot.
// In an index of 16 shards, every script call and every command inside it touches one slot, that
// of one shard, on the master serving it; and the shards' keys spread evenly over the masters.
import calculateSlot from 'cluster-key-slot';
import { Redis, type Cluster } from 'ioredis';
import type pg from 'pg';
import { startCluster, waitUntil, type ThrowawayCluster } from '../../dev/cluster';
import { LSHRS, PostgresVectorStore } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import { newCluster } from '../support/cluster';
import { keysOf } from '../support/inspect-redis';
import { newPool, uniqueName } from '../support/servers';

const DIM = 16;

function randomVectors(count: number, seed: string): number[][] {
  const next = gaussianStream(seed);
  return Array.from({ length: count }, () => Array.from({ length: DIM }, next));
}

let cluster: ThrowawayCluster;
let client: Cluster;
let pool: pg.Pool;

beforeAll(async () => {
  cluster = await startCluster();
  client = newCluster(cluster);
  pool = newPool();
}, 120_000);

afterAll(async () => {
  // Each step runs whatever the one before did, so a failed test leaks no connection or server.
  await Promise.allSettled([client?.quit(), pool?.end()]);
  await cluster?.stop();
});

async function setUp(shards = 1) {
  const prefix = uniqueName('slots');
  await PostgresVectorStore.createTable(pool, { table: prefix });
  const store = new PostgresVectorStore({ pool, table: prefix });
  const lsh = new LSHRS({ redis: client, dim: DIM, prefix, store, numBands: 8, rowsPerBand: 4, batchSize: 40, shards });
  return { prefix, lsh, slot: calculateSlot(`{${prefix}}`) };
}

/** The keys a command names, for the commands lshrs sends and the ones its scripts run. */
function commandKeys(args: string[]): string[] {
  const name = args[0].toLowerCase();
  if (name === 'eval' || name === 'evalsha') return args.slice(3, 3 + Number(args[2]));
  if (name === 'unlink' || name === 'del' || name === 'mget') return args.slice(1);
  if (name === 'memory') return args[1].toLowerCase() === 'usage' ? [args[2]] : [];
  if (['scan', 'ping', 'echo', 'info', 'cluster', 'client', 'select', 'script', 'command', 'readonly', 'hello'].includes(name)) return [];
  if (['wait'].includes(name)) return [];
  if (
    [
      'hget',
      'hmget',
      'hset',
      'hdel',
      'hincrby',
      'hgetall',
      'hexists',
      'hlen',
      'get',
      'set',
      'strlen',
      'append',
      'lpop',
      'rpush',
      'lrem',
      'lpos',
      'llen',
      'lrange',
      'exists',
      'type',
    ].includes(name)
  ) {
    return [args[1]];
  }
  throw new Error(`the slot check does not know where ${args[0]} keeps its keys: add it`);
}

/** The masters by their own word (MONITOR on a replica would also show what its master sends it). */
async function masterPorts(): Promise<number[]> {
  const ports: number[] = [];
  for (const port of cluster.alive()) if ((await cluster.role(port)) === 'master') ports.push(port);
  expect(ports).toHaveLength(3);
  return ports;
}

interface Seen {
  port: number;
  source: string;
  args: string[];
}

/** MONITOR on every master while `work` runs; returns what each one executed. */
async function monitored(work: () => Promise<void>): Promise<Seen[]> {
  const seen: Seen[] = [];
  const ports = await masterPorts();
  const connections = ports.map((port) => new Redis({ host: '127.0.0.1', port, lazyConnect: true }));
  // monitor() opens a connection of its own beside the one it is called on.
  const monitors = await Promise.all(
    connections.map(async (connection, i) => {
      const monitor = await connection.monitor();
      monitor.on('monitor', (_time: string, args: string[], source: string) => seen.push({ port: ports[i], source, args }));
      return monitor;
    }),
  );
  try {
    await work();
    // A marker echoed on each master after the work: once every monitor shows it, it has shown everything before.
    const marker = `lshrs-slot-check-${Date.now()}`;
    await Promise.all(ports.map((port) => cluster.command(port, 'ECHO', marker)));
    await waitUntil('every monitor to show the marker', async () =>
      ports.every((port) => seen.some((s) => s.port === port && s.args[0] === 'ECHO' && s.args[1] === marker)),
    );
  } finally {
    [...monitors, ...connections].forEach((c) => c.disconnect());
  }
  return seen.filter((s) => s.args[0] !== 'ECHO' && s.args[0] !== 'MONITOR');
}

test('every key of an index hashes to one slot and lives on the master that serves it', async () => {
  const { prefix, lsh, slot } = await setUp();
  await lsh.index(randomVectors(300, 'a').map((vector, id) => ({ id, vector })));
  const keys = await keysOf(client, prefix);
  expect(keys.length).toBeGreaterThan(300);
  expect(new Set(keys.map((k) => calculateSlot(k)))).toEqual(new Set([slot]));
  const owner = await cluster.masterOfSlot(slot);
  for (const port of await masterPorts()) {
    const [, onNode] = (await cluster.command(port, 'SCAN', 0, 'MATCH', `\\{${prefix}\\}:*`, 'COUNT', 100000)) as [string, string[]];
    expect({ port, keys: onNode.length }).toEqual({ port, keys: port === owner ? keys.length : 0 });
  }
  expect(await cluster.command(owner, 'CLUSTER', 'COUNTKEYSINSLOT', slot)).toBe(keys.length);
});

test('every script call, and every command inside it, touches only the index slot on its master', async () => {
  const { lsh, slot } = await setUp();
  const vectors = randomVectors(200, 'b');
  const owner = await cluster.masterOfSlot(slot);
  const seen = await monitored(async () => {
    await lsh.index(vectors.map((vector, id) => ({ id, vector }))); // 5 batches of 40
    await lsh.index(vectors.slice(100, 140).map((vector, id) => ({ id, vector }))); // moves
    await lsh.query(vectors[7], { topK: 5 });
    await lsh.query(vectors[8], { rerank: false });
    await lsh.delete([1, 2, 3, 999]);
    await lsh.stats();
    await lsh.clear();
  });

  const scripts = seen.filter((s) => /^EVAL(SHA)?$/i.test(s.args[0]));
  // insert x7 (the first creates the index with its centre), remove x1; no ids.lua: integer ids below 2^31 are their own ordinals.
  expect(scripts.length).toBe(1 + 5 + 1 + 1);
  expect(seen.filter((s) => /^MGET$/i.test(s.args[0]))).toHaveLength(2); // one bucket read per query
  expect(seen.filter((s) => /^HMGET$/i.test(s.args[0]) && s.source !== 'lua')).toHaveLength(2); // its meta check, pipelined with it
  for (const call of seen) {
    const keys = commandKeys(call.args);
    // Every keyed command, whoever sent it (lshrs or a script), is on the owner and in the index's slot.
    if (keys.length > 0) expect({ port: call.port, slots: [...new Set(keys.map((k) => calculateSlot(k)))] }).toEqual({ port: owner, slots: [slot] });
  }
  // The scripts' own commands show up as run from Lua, all on the owner: what the scripts touch, not only what they declare.
  const fromLua = seen.filter((s) => s.source === 'lua');
  expect(fromLua.length).toBeGreaterThan(200);
  expect(new Set(fromLua.map((s) => s.port))).toEqual(new Set([owner]));
  // stats and clear walk every master with SCAN, and touch keys only where the index lives.
  expect(new Set(seen.filter((s) => s.args[0].toUpperCase() === 'SCAN').map((s) => s.port)).size).toBe(3);
});

/** The slot of every master's port, as the cluster reports it now. */
async function slotOwners(): Promise<(slot: number) => number> {
  const masters = (await cluster.nodes()).filter((n) => n.flags.includes('master') && !n.flags.includes('fail'));
  return (slot) => {
    const owner = masters.find((m) => m.slots.some(([a, b]) => slot >= a && slot <= b));
    if (!owner) throw new Error(`no master serves slot ${slot}`);
    return owner.port;
  };
}

test('in a 16-shard index, every script call and every command inside it touches one slot, on the master serving it', async () => {
  const { prefix, lsh } = await setUp(16);
  const vectors = randomVectors(200, 'c');
  const ownerOf = await slotOwners();
  const seen = await monitored(async () => {
    await lsh.index(vectors.map((vector, id) => ({ id, vector }))); // 5 batches of 40, each split over the shards
    await lsh.index(vectors.slice(100, 140).map((vector, id) => ({ id, vector }))); // moves
    await lsh.query(vectors[7], { topK: 5 });
    await lsh.query(vectors[8], { rerank: false });
    await lsh.similar(9, { rerank: false });
    await lsh.inspect(10);
    await lsh.delete([1, 2, 3, 999]);
    await lsh.describe();
    await lsh.stats();
    await lsh.verify();
    await lsh.clear();
  });

  // Each master's MONITOR shows a script call, then the commands it ran (source "lua").
  const calls: { port: number; slots: Set<number>; inside: number }[] = [];
  const current = new Map<number, (typeof calls)[number]>();
  for (const entry of seen) {
    if (/^EVAL(SHA)?$/i.test(entry.args[0])) {
      const call = { port: entry.port, slots: new Set(commandKeys(entry.args).map((k) => calculateSlot(k))), inside: 0 };
      calls.push(call);
      current.set(entry.port, call);
    } else if (entry.source === 'lua') {
      const call = current.get(entry.port);
      if (!call) throw new Error(`a command from Lua on ${entry.port} before any script call: ${entry.args.join(' ')}`);
      for (const key of commandKeys(entry.args)) call.slots.add(calculateSlot(key));
      call.inside++;
    } else {
      current.delete(entry.port);
      // A command lshrs sends itself (stats, verify, inspect, clear): one slot, on its master.
      const keys = commandKeys(entry.args);
      const slots = [...new Set(keys.map((k) => calculateSlot(k)))];
      if (keys.length > 0)
        expect({ args: entry.args.slice(0, 2), slots: slots.length, port: entry.port }).toEqual({
          args: entry.args.slice(0, 2),
          slots: 1,
          port: ownerOf(slots[0]),
        });
    }
  }
  // Writes: 17 preparing calls (the root and the 16 shards), then one per shard a batch touches;
  // queries: one per shard.
  expect(calls.length).toBeGreaterThan(17 + 5 + 16 * 2);
  for (const call of calls) {
    expect(call.slots.size).toBe(1);
    expect(ownerOf([...call.slots][0])).toBe(call.port);
  }
  expect(calls.reduce((n, c) => n + c.inside, 0)).toBeGreaterThan(200);
  // The shards' calls went to all three masters; the index's keys are gone.
  expect(new Set(calls.map((c) => c.port)).size).toBe(3);
  expect(await keysOf(client, prefix)).toEqual([]);
});

test('a 16-shard index spreads its keys over the three masters within 20% of even', async () => {
  const { prefix, lsh } = await setUp(16);
  const next = gaussianStream('spread');
  const items = Array.from({ length: 3000 }, (_, id) => ({ id, vector: Array.from({ length: DIM }, next) }));
  const big = new LSHRS({ redis: client, dim: DIM, prefix: `${prefix}_big`, shards: 16 }); // default 16 bands x 8 rows
  await Promise.all([lsh.index(items), big.index(items)]);
  for (const index of [lsh, big]) {
    const counts: number[] = [];
    for (const port of await masterPorts()) {
      let keys = 0;
      for (const pattern of [`\\{${index.prefix}\\}:*`, `\\{${index.prefix}#*\\}:*`]) {
        let cursor = '0';
        do {
          const [next, found] = (await cluster.command(port, 'SCAN', cursor, 'MATCH', pattern, 'COUNT', 10000)) as [string, string[]];
          cursor = next;
          keys += found.length;
        } while (cursor !== '0');
      }
      counts.push(keys);
    }
    const even = counts.reduce((a, b) => a + b, 0) / 3;
    process.stderr.write(`[slots] ${index.prefix}: keys per master ${counts.join(', ')} (even ${even.toFixed(0)})\n`);
    for (const count of counts) expect(Math.abs(count - even) / even).toBeLessThanOrEqual(0.2);
    // stats counts the same keys per node.
    expect((await index.stats()).nodes.map((n) => n.keys).sort()).toEqual([...counts].sort());
  }
  await Promise.all([lsh.clear(), big.clear()]);
});
