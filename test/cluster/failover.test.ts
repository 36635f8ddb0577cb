// A master is killed (SIGKILL) while queries and ingests run: its replica takes over, the host's
// ioredis Cluster follows the new topology, queries go on, and the index is consistent afterwards.
import calculateSlot from 'cluster-key-slot';
import type { Cluster } from 'ioredis';
import type pg from 'pg';
import { startCluster, waitUntil, type ThrowawayCluster } from '../../scripts/lib/cluster';
import { LSHRS, PostgresVectorStore } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import { masterConnection, newCluster } from '../support/cluster';
import { consistencyProblems } from '../support/inspect-redis';
import { newPool, uniqueName } from '../support/servers';

const DIM = 24;
const BANDS = 8;
const ROWS = 4;
/** Ids 0 .. BASE-1 are written, and confirmed by the replica with WAIT, before the load starts. */
const BASE = 1000;
/** Ids the load adds per write round (and the even half of them it deletes two rounds later). */
const PER_ROUND = 10;

function vectorsFrom(seed: string, count: number): number[][] {
  const next = gaussianStream(seed);
  return Array.from({ length: count }, () => Array.from({ length: DIM }, next));
}

interface Op {
  kind: 'query' | 'write';
  startedAt: number;
  ok: boolean;
  error?: string;
}

/**
 * Queries (of the ids written before the load, so each has one right answer) and writes (new ids,
 * then deletes of some of them) in two loops, until stopped, at most `maxMs` and a bounded count.
 * `expected` holds, per id the load wrote, whether its last acknowledged write left it indexed;
 * an id whose write failed is left out (its outcome is unknown).
 */
function startLoad(lsh: LSHRS, base: number[][], maxMs: number) {
  const ops: Op[] = [];
  const expected = new Map<number, boolean>();
  let wrongAnswers = 0;
  let stopped = false;
  const deadline = Date.now() + maxMs;
  const going = () => !stopped && Date.now() < deadline;
  const record = async (kind: Op['kind'], work: () => Promise<void>) => {
    const op: Op = { kind, startedAt: Date.now(), ok: false };
    try {
      await work();
      op.ok = true;
    } catch (err) {
      op.error = (err as Error).message;
    }
    ops.push(op);
    return op.ok;
  };
  const queries = (async () => {
    for (let i = 0; i < 20_000 && going(); i++) {
      const id = (i * 37) % base.length;
      await record('query', async () => {
        const [best] = await lsh.query(base[id], { topK: 1 });
        if (best?.id !== id) wrongAnswers++;
      });
    }
  })();
  const writes = (async () => {
    for (let round = 0; round < 2_000 && going(); round++) {
      const first = base.length + round * PER_ROUND;
      const ids = Array.from({ length: PER_ROUND }, (_, k) => first + k);
      const vectors = vectorsFrom(`round ${round}`, PER_ROUND);
      ids.forEach((id) => expected.delete(id));
      if (await record('write', async () => void (await lsh.index(ids.map((id, k) => ({ id, vector: vectors[k] })))))) {
        ids.forEach((id) => expected.set(id, true));
      }
      if (round >= 2) {
        const gone = ids.map((id) => id - 2 * PER_ROUND).filter((id) => id % 2 === 0);
        gone.forEach((id) => expected.delete(id));
        if (await record('write', async () => void (await lsh.delete(gone)))) gone.forEach((id) => expected.set(id, false));
      }
    }
  })();
  return {
    ops,
    expected,
    wrongAnswers: () => wrongAnswers,
    okSince: (kind: Op['kind'], since: number) => ops.filter((o) => o.kind === kind && o.ok && o.startedAt >= since).length,
    async stop() {
      stopped = true;
      await Promise.all([queries, writes]);
    },
  };
}

let cluster: ThrowawayCluster;
let client: Cluster;
let pool: pg.Pool;

beforeAll(async () => {
  cluster = await startCluster({ nodeTimeoutMs: 2000 });
  client = newCluster(cluster);
  pool = newPool();
}, 120_000);

afterAll(async () => {
  // Each step runs whatever the one before did, so a failed test leaks no connection or server.
  await Promise.allSettled([client?.quit(), pool?.end()]);
  await cluster?.stop();
});

test('a killed master is replaced by its replica, queries go on, and the index stays consistent', async () => {
  const prefix = uniqueName('failover');
  const slot = calculateSlot(`{${prefix}}`);
  await PostgresVectorStore.createTable(pool, { table: prefix });
  const store = new PostgresVectorStore({ pool, table: prefix });
  const lsh = new LSHRS({ redis: client, dim: DIM, prefix, store, numBands: BANDS, rowsPerBand: ROWS, batchSize: 100 });
  const base = vectorsFrom('base', BASE);
  await lsh.index(base.map((vector, id) => ({ id, vector })));

  const owner = await cluster.masterOfSlot(slot);
  const [replica] = await cluster.replicasOf(owner);
  expect(replica).toBeDefined();
  // WAIT on the connection that carried the writes: the replica has acknowledged all of them.
  const ownerConnection = masterConnection(client, slot);
  expect(ownerConnection.options.port).toBe(owner);
  expect(await ownerConnection.call('WAIT', 1, 5000)).toBe(1);

  const load = startLoad(lsh, base, 60_000);
  try {
    await waitUntil('the load to get going', async () => load.okSince('query', 0) >= 50 && load.okSince('write', 0) >= 5, 20_000);
    const killedAt = Date.now();
    await cluster.killNode(owner);

    await waitUntil(`the replica on ${replica} to become master`, async () => (await cluster.role(replica)) === 'master', 30_000);
    const promotedAt = Date.now();
    const seen = await cluster.nodes(replica);
    expect(seen.find((n) => n.port === owner)?.flags).toContain('fail');
    expect(seen.find((n) => n.port === replica)?.flags).toContain('master');
    expect(await cluster.masterOfSlot(slot, replica)).toBe(replica);
    await cluster.waitUntilHealthy(30_000);
    const healthyAt = Date.now();

    await waitUntil(
      'queries and writes to go on after the failover',
      async () => load.okSince('query', healthyAt) >= 50 && load.okSince('write', healthyAt) >= 5,
      30_000,
    );
    await load.stop();

    // ioredis follows the new topology: the index's slot is served by the promoted replica.
    expect(client.slots[slot][0]).toBe(`127.0.0.1:${replica}`);
    const failed = load.ops.filter((o) => !o.ok);
    // Every operation started once the cluster was healthy again succeeded; every answer was right.
    expect(failed.filter((o) => o.startedAt >= healthyAt)).toEqual([]);
    expect(load.wrongAnswers()).toBe(0);

    // The writes the replica had acknowledged (WAIT) all survived.
    const held = client.pipeline();
    for (let id = 0; id < BASE; id++) held.hexists(`{${prefix}}:r:${id}`, String(id));
    expect(((await held.exec()) ?? []).filter(([err, found]) => err || found !== 1)).toEqual([]);
    // Reverse records and buckets agree, and the meta counts them right, on the new master.
    expect(await consistencyProblems(client, prefix, BANDS, ROWS)).toEqual([]);
    expect((await lsh.stats()).ids).toBeGreaterThanOrEqual(BASE);

    // Writes of the load acknowledged by the old master but never replicated are lost; count them.
    const check = client.pipeline();
    const ids = [...load.expected.keys()];
    for (const id of ids) check.hexists(`{${prefix}}:r:${id % 65536}`, String(id));
    const replies = (await check.exec()) ?? [];
    const lost = ids.filter((id, i) => (replies[i][1] === 1) !== load.expected.get(id)).length;

    const queries = load.ops.filter((o) => o.kind === 'query');
    process.stderr.write(
      `[failover] promoted ${promotedAt - killedAt} ms and healthy ${healthyAt - killedAt} ms after the kill; ` +
        `${queries.length} queries, ${load.ops.length - queries.length} writes, ${failed.length} failed ` +
        `(${[...new Set(failed.map((o) => o.error))].join('; ') || 'none'}); ${lost} acknowledged writes lost\n`,
    );
  } finally {
    await load.stop();
  }
}, 120_000);
