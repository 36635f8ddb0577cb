// A master is killed (SIGKILL) while queries and ingests run: its replica takes over, the host's
// ioredis Cluster follows the new topology, queries go on, and the index is consistent afterwards.
// Once for an index of one shard (on the killed master), once for one of 16 shards (a third of
// them on it) written with waitForReplicas, each on a cluster of its own.
import calculateSlot from 'cluster-key-slot';
import type { Cluster } from 'ioredis';
import type pg from 'pg';
import { startCluster, waitUntil, type ThrowawayCluster } from '../../dev/cluster';
import { LSHRS, PostgresVectorStore } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import { pageOf } from '../../src/ids';
import { indexLayout } from '../../src/redis/keys';
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
 * an id whose write failed is left out (its outcome is unknown). `confirmed` holds the ids whose
 * last acknowledged write no WAIT reported short (`shortfalls` counts the reports so far).
 */
function startLoad(lsh: LSHRS, base: number[][], maxMs: number, shortfalls: () => number = () => 0) {
  const ops: Op[] = [];
  const expected = new Map<number, boolean>();
  const confirmed = new Set<number>();
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
      const settle = (written: number[], present: boolean, shortBefore: number) => {
        written.forEach((id) => expected.set(id, present));
        written.forEach((id) => (shortfalls() === shortBefore ? confirmed.add(id) : confirmed.delete(id)));
      };
      ids.forEach((id) => expected.delete(id));
      ids.forEach((id) => confirmed.delete(id));
      let shortBefore = shortfalls();
      if (await record('write', async () => void (await lsh.index(ids.map((id, k) => ({ id, vector: vectors[k] })))))) {
        settle(ids, true, shortBefore);
      }
      if (round >= 2) {
        const gone = ids.map((id) => id - 2 * PER_ROUND).filter((id) => id % 2 === 0);
        gone.forEach((id) => expected.delete(id));
        gone.forEach((id) => confirmed.delete(id));
        shortBefore = shortfalls();
        if (await record('write', async () => void (await lsh.delete(gone)))) settle(gone, false, shortBefore);
      }
    }
  })();
  return {
    ops,
    expected,
    confirmed,
    wrongAnswers: () => wrongAnswers,
    okSince: (kind: Op['kind'], since: number) => ops.filter((o) => o.kind === kind && o.ok && o.startedAt >= since).length,
    async stop() {
      stopped = true;
      await Promise.all([queries, writes]);
    },
  };
}

let pool: pg.Pool;

beforeAll(() => {
  pool = newPool();
});

afterAll(async () => {
  await pool?.end();
});

/** A fresh cluster and a host client for one test; both are stopped whatever the test did. */
async function withCluster(run: (cluster: ThrowawayCluster, client: Cluster) => Promise<void>): Promise<void> {
  const cluster = await startCluster({ nodeTimeoutMs: 2000 });
  const client = newCluster(cluster);
  try {
    await run(cluster, client);
  } finally {
    await client.quit().catch(() => undefined);
    await cluster.stop();
  }
}

/** Whether each id has a reverse record in its shard. */
async function indexed(client: Cluster, prefix: string, shards: number, ids: readonly number[]): Promise<boolean[]> {
  const layout = indexLayout(prefix, shards);
  const found = new Map<number, boolean>();
  // A cluster pipeline must stay on one node: one per shard.
  await Promise.all(
    layout.shards.map(async (keys, k) => {
      const mine = ids.filter((id) => layout.shardOf(id) === k);
      const pipeline = client.pipeline();
      for (const id of mine) pipeline.hexists(keys.reverse(pageOf(id, 65536)), String(id));
      ((await pipeline.exec()) ?? []).forEach(([err, reply], i) => {
        if (err) throw err;
        found.set(mine[i], reply === 1);
      });
    }),
  );
  return ids.map((id) => found.get(id) as boolean);
}

test(
  'a killed master is replaced by its replica, queries go on, and the index stays consistent',
  () =>
    withCluster(async (cluster, client) => {
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
        const baseIds = Array.from({ length: BASE }, (_, id) => id);
        expect((await indexed(client, prefix, 1, baseIds)).filter((found) => !found)).toEqual([]);
        // Reverse records and buckets agree, and the meta counts them right, on the new master.
        expect(await consistencyProblems(client, prefix, BANDS, ROWS)).toEqual([]);
        expect((await lsh.stats()).ids).toBeGreaterThanOrEqual(BASE);

        // Writes of the load acknowledged by the old master but never replicated are lost; count them.
        const ids = [...load.expected.keys()];
        const found = await indexed(client, prefix, 1, ids);
        const lost = ids.filter((id, i) => found[i] !== load.expected.get(id)).length;

        const queries = load.ops.filter((o) => o.kind === 'query');
        process.stderr.write(
          `[failover] promoted ${promotedAt - killedAt} ms and healthy ${healthyAt - killedAt} ms after the kill; ` +
            `${queries.length} queries, ${load.ops.length - queries.length} writes, ${failed.length} failed ` +
            `(${[...new Set(failed.map((o) => o.error))].join('; ') || 'none'}); ${lost} acknowledged writes lost\n`,
        );
      } finally {
        await load.stop();
      }
    }),
  120_000,
);

test(
  'a 16-shard index written with waitForReplicas loses no confirmed write when a master dies, and queries go on',
  () =>
    withCluster(async (cluster, client) => {
      const prefix = uniqueName('failover16');
      await PostgresVectorStore.createTable(pool, { table: prefix });
      const store = new PostgresVectorStore({ pool, table: prefix });
      let shortfalls = 0;
      const lsh = new LSHRS({
        redis: client,
        dim: DIM,
        prefix,
        store,
        numBands: BANDS,
        rowsPerBand: ROWS,
        batchSize: 100,
        shards: 16,
        // The promoted replica has no replica of its own (its master is dead): WAIT there times out,
        // and the write is reported, not confirmed. A second: on a loaded 2-core machine a healthy
        // replica may lag a few hundred ms, which is not a shortfall.
        waitForReplicas: { replicas: 1, timeoutMs: 1000, onShortfall: () => shortfalls++ },
      });
      const base = vectorsFrom('base', BASE);
      await lsh.index(base.map((vector, id) => ({ id, vector })));
      expect(shortfalls).toBe(0); // every batch of the base was confirmed by a replica of each master

      // The master of shard 0 dies; it serves about a third of the shards.
      const layout = indexLayout(prefix, 16);
      const owner = await cluster.masterOfSlot(layout.shards[0].slot);
      const [replica] = await cluster.replicasOf(owner);
      const onOwner: number[] = [];
      for (let k = 0; k < 16; k++) if ((await cluster.masterOfSlot(layout.shards[k].slot)) === owner) onOwner.push(k);
      expect(onOwner.length).toBeGreaterThanOrEqual(5);

      const load = startLoad(lsh, base, 60_000, () => shortfalls);
      try {
        await waitUntil('the load to get going', async () => load.okSince('query', 0) >= 50 && load.okSince('write', 0) >= 5, 20_000);
        expect(shortfalls).toBe(0);
        const killedAt = Date.now();
        await cluster.killNode(owner);
        await waitUntil(`the replica on ${replica} to become master`, async () => (await cluster.role(replica)) === 'master', 30_000);
        const promotedAt = Date.now();
        await cluster.waitUntilHealthy(30_000);
        const healthyAt = Date.now();
        await waitUntil(
          'queries and writes to go on after the failover',
          async () => load.okSince('query', healthyAt) >= 50 && load.okSince('write', healthyAt) >= 5,
          30_000,
        );
        await load.stop();

        for (const k of onOwner) expect(client.slots[layout.shards[k].slot][0]).toBe(`127.0.0.1:${replica}`);
        const failed = load.ops.filter((o) => !o.ok);
        expect(failed.filter((o) => o.startedAt >= healthyAt)).toEqual([]);
        expect(load.wrongAnswers()).toBe(0);
        // Writes since the failover touched the promoted master, which has no replica: reported short.
        expect(shortfalls).toBeGreaterThan(0);

        // The base, and every write of the load that WAIT confirmed, survived.
        const baseIds = Array.from({ length: BASE }, (_, id) => id);
        expect((await indexed(client, prefix, 16, baseIds)).filter((found) => !found)).toEqual([]);
        const confirmedIds = [...load.confirmed];
        expect(confirmedIds.length).toBeGreaterThan(0);
        const found = await indexed(client, prefix, 16, confirmedIds);
        expect(confirmedIds.filter((id, i) => found[i] !== load.expected.get(id))).toEqual([]);
        // Consistent in every shard, the killed master's included, by the library's own check.
        expect(await consistencyProblems(client, prefix, BANDS, ROWS)).toEqual([]);
        const report = await lsh.verify();
        expect(report).toMatchObject({ missingFromBuckets: 0, strayInBuckets: 0, consistent: true });

        const ids = [...load.expected.keys()];
        const all = await indexed(client, prefix, 16, ids);
        const lost = ids.filter((id, i) => all[i] !== load.expected.get(id)).length;
        const queries = load.ops.filter((o) => o.kind === 'query');
        process.stderr.write(
          `[failover 16 shards] promoted ${promotedAt - killedAt} ms and healthy ${healthyAt - killedAt} ms after the kill; ` +
            `${queries.length} queries, ${load.ops.length - queries.length} writes, ${failed.length} failed ` +
            `(${[...new Set(failed.map((o) => o.error))].join('; ') || 'none'}); ${shortfalls} WAIT shortfalls; ` +
            `${lost} acknowledged writes lost (none that WAIT confirmed)\n`,
        );
      } finally {
        await load.stop();
      }
    }),
  120_000,
);
