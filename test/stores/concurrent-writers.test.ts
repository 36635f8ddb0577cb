/*
 * Several lshrs clients writing the same PostgreSQL table and index at once, each with its own
 * pool and Redis connection, as separate service instances would.
 */
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { type Id, LSHRS, PostgresVectorStore } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import { newPool, newRedis, uniqueName, useConnections } from '../support/servers';

const DIM = 8;
const next = gaussianStream('concurrent-writers');
const vectorOf = () => Float32Array.from({ length: DIM }, next);

let redis: Redis;
let pool: pg.Pool;
useConnections((c) => ({ redis, pool } = c));

/** A deterministic shuffle (xorshift), so a failure replays. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed | 1;
  for (let i = out.length - 1; i > 0; i--) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const j = (s >>> 0) % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

interface Client {
  lsh: LSHRS;
  redis: Redis;
  pool: pg.Pool;
}

function openClients(n: number, prefix: string, table: string): Client[] {
  return Array.from({ length: n }, () => {
    const clientRedis = newRedis();
    const clientPool = newPool();
    const store = new PostgresVectorStore({ pool: clientPool, table });
    return { redis: clientRedis, pool: clientPool, lsh: new LSHRS({ redis: clientRedis, dim: DIM, prefix, store, batchSize: 1000 }) };
  });
}

async function closeClients(clients: Client[]): Promise<void> {
  await Promise.all(clients.map((c) => Promise.allSettled([c.redis.quit(), c.pool.end()])));
}

/** The ids (as text) that have a row, and those the index holds (through their reverse records). */
async function state(table: string, lsh: LSHRS, ids: readonly Id[]): Promise<{ rows: Set<string>; indexed: Set<string> }> {
  const { rows } = await pool.query<{ id: string }>(`SELECT id::text AS id FROM "${table}" WHERE id = ANY($1)`, [ids.map(String)]);
  const indexed = new Set<string>();
  for (const id of ids) if (await lsh.inspect(id)) indexed.add(String(id));
  return { rows: new Set(rows.map((r) => r.id)), indexed };
}

test.each([
  ['bigint ids', 'bigint'],
  // An order other than the database's (byte order here): upserts, deletes and holds must all lock
  // in the column's order, not in the order of their parameters' type.
  ['text ids of a column with an ICU collation', 'text COLLATE "und-x-icu"'],
])('8 clients upserting and deleting overlapping batches in different orders meet no deadlock: %s', async (_label, idType) => {
  const table = uniqueName('deadlock');
  const prefix = table;
  await pool.query(`CREATE TABLE "${table}" (id ${idType} PRIMARY KEY, embedding bytea NOT NULL, text text)`);
  const clients = openClients(8, prefix, table);
  try {
    const ids: Id[] = Array.from({ length: 400 }, (_, i) => (idType === 'bigint' ? i : `${'aBcD'[i % 4]}${i}`));
    const failures: unknown[] = [];
    for (let round = 0; round < 10; round++) {
      const results = await Promise.allSettled(
        clients.map(({ lsh }, c) => {
          // Overlapping batches: each client takes 300 of the same 400 ids, in its own order.
          const batch = shuffled(ids, round * 97 + c * 13 + 1).slice(0, 300);
          if ((round + c) % 4 === 3) return lsh.delete(batch);
          return lsh.index(batch.map((id) => ({ id, vector: vectorOf(), text: `r${round}` })));
        }),
      );
      for (const r of results) if (r.status === 'rejected') failures.push(r.reason);
    }
    expect(failures.map((err) => `${(err as { code?: string }).code}: ${(err as Error).message}`)).toEqual([]);
  } finally {
    await closeClients(clients);
  }
});

describe('an upsert racing a delete of the same ids', () => {
  test("a delete that lands whole between an upsert's rows and its index write: the ids stay out of the index", async () => {
    const table = uniqueName('race_upsert_first');
    await PostgresVectorStore.createTable(pool, { table });
    const ids = [3, 1, 2];
    const deleter = new LSHRS({ redis, dim: DIM, prefix: table, store: new PostgresVectorStore({ pool, table }) });
    // The rows are written, then, before the write touches the index, the delete runs to its end.
    class DeletedMeanwhile extends PostgresVectorStore {
      async upsert(items: Parameters<PostgresVectorStore['upsert']>[0]): Promise<void> {
        await super.upsert(items);
        await deleter.delete(ids);
      }
    }
    const writer = new LSHRS({ redis, dim: DIM, prefix: table, store: new DeletedMeanwhile({ pool, table }) });
    await writer.index(ids.map((id) => ({ id, vector: vectorOf() })));
    expect(await state(table, writer, ids)).toEqual({ rows: new Set(), indexed: new Set() });
    expect(await writer.verify()).toMatchObject({ consistent: true, ids: 0, missingFromStore: [] });
  });

  test("a write that lands whole between a delete's hold and its unindex: its rows are deleted too", async () => {
    const table = uniqueName('race_delete_first');
    await PostgresVectorStore.createTable(pool, { table });
    const ids = [7, 5, 6];
    const writer = new LSHRS({ redis, dim: DIM, prefix: table, store: new PostgresVectorStore({ pool, table }) });
    const indexOnly = new LSHRS({ redis, dim: DIM, prefix: table }); // the same index, no store: delete touches Redis only
    const store = new PostgresVectorStore({ pool, table });
    const rounds: boolean[] = [];
    await store.deleteWithRowLocks(ids, async (some, again) => {
      rounds.push(again);
      // The rows did not exist when the delete held them; a write creates and indexes them now.
      if (!again) await writer.index(ids.map((id) => ({ id, vector: vectorOf() })));
      await indexOnly.delete(some);
    });
    expect(rounds).toEqual([false, true]);
    expect(await state(table, writer, ids)).toEqual({ rows: new Set(), indexed: new Set() });
  });

  test.each([['bigint'], ['text']] as const)(
    '%s ids: afterwards each id is either a row and indexed, or neither; never indexed without a row',
    async (idType) => {
      const table = uniqueName(`race_${idType}`);
      const prefix = table;
      await PostgresVectorStore.createTable(pool, { table, idType });
      const [writer, deleter] = openClients(2, prefix, table);
      const probe = new LSHRS({ redis, dim: DIM, prefix, store: new PostgresVectorStore({ pool, table }) });
      try {
        const problems: string[] = [];
        for (let round = 0; round < 30; round++) {
          const ids: Id[] = Array.from({ length: 40 }, (_, i) => (idType === 'bigint' ? round * 100 + i : `r${round}-${i}`));
          // Every other round the ids exist already (an update racing the delete), else they are new.
          if (round % 2 === 0) await probe.index(ids.map((id) => ({ id, vector: vectorOf() })));
          const items = shuffled(ids, round + 1).map((id) => ({ id, vector: vectorOf() }));
          const toDelete = shuffled(ids, round + 7);
          const upsert = () => writer.lsh.index(items);
          const remove = () => deleter.lsh.delete(toDelete);
          // Which starts first alternates; both are in flight together.
          await Promise.all(round % 4 < 2 ? [upsert(), remove()] : [remove(), upsert()]);
          const { rows, indexed } = await state(table, probe, ids);
          for (const id of ids.map(String)) {
            if (indexed.has(id) && !rows.has(id)) problems.push(`round ${round}: ${id} indexed without a row`);
            if (rows.has(id) && !indexed.has(id)) problems.push(`round ${round}: ${id} has a row and is not indexed`);
          }
        }
        expect(problems).toEqual([]);
        const report = await probe.verify();
        expect(report).toMatchObject({ consistent: true, missingFromStore: [] });
      } finally {
        await closeClients([writer, deleter]);
      }
    },
  );
});
