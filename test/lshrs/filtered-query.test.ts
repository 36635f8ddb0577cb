/*
 * Filtered queries against a real PostgreSQL table: every hit matches, the hits are the nearest
 * matching rows (exactly, when the exact scan answers; by recall, when the candidates do), and a
 * bad filter is refused before any statement runs, leaving table and index as they were.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { type Filter, type Id, LSHRS, PostgresVectorStore, type QueryTrace, TRACE_CHANNELS, type VectorStore } from '../../src';
import { gaussianStream } from '../../src/hashing/gaussian';
import { uniqueName, useConnections } from '../support/servers';

const DIM = 16;
const N = 3000;
const next = gaussianStream('filtered-query');
// Clustered data, so that neighbours are meaningful: 40 centres, points spread around them.
const centres = Array.from({ length: 40 }, () => Float32Array.from({ length: DIM }, next));
const vectors = Array.from({ length: N }, (_, i) => Float32Array.from(centres[i % 40], (c) => c + 0.35 * next()));
const queries = Array.from({ length: 12 }, (_, q) => Float32Array.from(centres[(q * 7) % 40], (c) => c + 0.35 * next()));

/** Each row's columns, as the table holds them (year NULL for every 50th row). */
const rowOf = (id: number) => ({
  tenant: id % 100,
  year: id % 50 === 0 ? null : 2000 + (id % 25),
  kind: ['a', 'b', 'c'][id % 3],
  active: id % 2 === 0,
  price: id / 10,
  tag: ['red', 'green', 'blue'][id % 3],
  created: new Date(Date.UTC(2020, 0, 1) + id * 86_400_000),
  meta: { group: id % 10, label: `g${id % 10}`, nested: { x: id % 4 } },
});
type Row = ReturnType<typeof rowOf>;

let redis: Redis;
let pool: pg.Pool;
useConnections((c) => ({ redis, pool } = c));

let table: string;
let store: PostgresVectorStore;
let lsh: LSHRS;

beforeAll(async () => {
  table = uniqueName('filtered');
  const tagType = `${table}_tag`;
  await pool.query(`CREATE TYPE "${tagType}" AS ENUM ('red', 'green', 'blue')`);
  await pool.query(
    `CREATE TABLE "${table}" (id bigint PRIMARY KEY, embedding bytea NOT NULL, text text, tenant int, year smallint,
       kind varchar(8), active boolean, price numeric, tag "${tagType}", created timestamptz, meta jsonb)`,
  );
  store = new PostgresVectorStore({ pool, table });
  lsh = new LSHRS({ redis, dim: DIM, prefix: table, store, expectedSize: N });
  await lsh.index(vectors.map((vector, id) => ({ id, vector, text: `doc ${id}`, row: rowOf(id) })));
  await pool.query(`ANALYZE "${table}"`);
}, 60_000);

const cosine = (a: Float32Array, b: Float32Array) => {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
};

/** The exact top k among the rows `matches` keeps. */
function exact(q: Float32Array, matches: (row: Row, id: number) => boolean, k = 10): number[] {
  const scored: [number, number][] = [];
  for (let id = 0; id < N; id++) if (matches(rowOf(id), id)) scored.push([cosine(q, vectors[id]), id]);
  return scored
    .sort((a, b) => b[0] - a[0])
    .slice(0, k)
    .map(([, id]) => id);
}

/** The query's hits and how the filter found them (its trace). */
async function traced(vector: Float32Array, options: Parameters<LSHRS['query']>[1]): Promise<{ ids: number[]; trace: QueryTrace }> {
  let trace: QueryTrace | undefined;
  const onEnd = (message: unknown) => {
    trace = message as QueryTrace;
  };
  subscribe(`tracing:${TRACE_CHANNELS.query}:asyncEnd`, onEnd);
  try {
    const hits = await lsh.query(vector, options);
    return { ids: hits.map((h) => h.id as number), trace: trace as QueryTrace };
  } finally {
    unsubscribe(`tracing:${TRACE_CHANNELS.query}:asyncEnd`, onEnd);
  }
}

const CASES: [string, Filter, (row: Row, id: number) => boolean][] = [
  ['equality on an int column', { tenant: 7 }, (r) => r.tenant === 7],
  ['a range', { year: { $gte: 2010, $lt: 2020 } }, (r) => r.year !== null && r.year >= 2010 && r.year < 2020],
  ['$in on varchar', { kind: { $in: ['a', 'c'] } }, (r) => r.kind === 'a' || r.kind === 'c'],
  ['$nin excludes NULL', { year: { $nin: [2001, 2002] } }, (r) => r.year !== null && r.year !== 2001 && r.year !== 2002],
  ['IS NULL', { year: null }, (r) => r.year === null],
  ['$or of $and', { $or: [{ active: true, tenant: { $lt: 10 } }, { tag: 'blue' }] }, (r) => (r.active && r.tenant < 10) || r.tag === 'blue'],
  ['$not keeps NULL out of nothing', { $not: { year: { $gt: 2012 } } }, (r) => !(r.year !== null && r.year > 2012)],
  ['numeric and a fraction', { price: { $gt: 99.5, $lte: 250 } }, (r) => r.price > 99.5 && r.price <= 250],
  ['a timestamp from a Date', { created: { $lt: new Date(Date.UTC(2021, 0, 1)) } }, (r) => r.created < new Date(Date.UTC(2021, 0, 1))],
  ['a jsonb key', { 'meta.group': 3 }, (r) => r.meta.group === 3],
  [
    'a jsonb range and a nested key',
    { 'meta.group': { $gte: 5 }, 'meta.nested.x': { $in: [1, 2] } },
    (r) => r.meta.group >= 5 && [1, 2].includes(r.meta.nested.x),
  ],
  ['$sql with its own parameters', { $sql: { where: 'tenant % $1 = $2', params: [4, 1] }, active: false }, (r) => r.tenant % 4 === 1 && !r.active],
  ['an integer column against a fraction', { tenant: { $lt: 2.5 } }, (r) => r.tenant < 2.5],
];

describe('a filtered query', () => {
  test.each(CASES)('returns only matching rows, the nearest of them (%s)', async (_label, filter, matches) => {
    let found = 0;
    let wanted = 0;
    for (const q of queries) {
      const hits = await lsh.query(q, { topK: 10, filter });
      for (const hit of hits) expect(matches(rowOf(hit.id as number), hit.id as number)).toBe(true);
      const truth = exact(q, matches);
      expect(hits.length).toBe(truth.length);
      const got = new Set(hits.map((h) => h.id));
      found += truth.filter((id) => got.has(id)).length;
      wanted += truth.length;
    }
    expect(found / wanted).toBeGreaterThanOrEqual(0.9);
  });

  test('a selective filter is answered by an exact scan of the matching rows', async () => {
    for (const q of queries.slice(0, 4)) {
      const { ids, trace } = await traced(q, { topK: 10, filter: { tenant: 42 } });
      expect(trace.filter).toMatchObject({ exact: true, scanned: N / 100 });
      expect(ids).toEqual(exact(q, (r) => r.tenant === 42));
    }
  });

  test('a broad filter is answered from the candidates, in one round', async () => {
    const { ids, trace } = await traced(queries[0], { topK: 10, filter: { active: true } });
    expect(trace.filter).toMatchObject({ exact: false, rounds: 1, scanned: 0 });
    expect(trace.filter?.matched).toBeGreaterThan(0);
    expect(ids.every((id) => id % 2 === 0)).toBe(true);
  });

  test('an estimate far too high: the query widens, then scans, and the answer is exact', async () => {
    // The store claims every row matches; one row in a hundred does.
    const liar: VectorStore = Object.assign(Object.create(store), { estimateMatching: async () => ({ matching: N, rows: N }) });
    const widened = new LSHRS({ redis, dim: DIM, prefix: table, store: liar, expectedSize: N });
    let trace: QueryTrace | undefined;
    const onEnd = (message: unknown) => {
      trace = message as QueryTrace;
    };
    subscribe(`tracing:${TRACE_CHANNELS.query}:asyncEnd`, onEnd);
    try {
      const hits = await widened.query(queries[1], { topK: 10, filter: { tenant: 13 } });
      expect(hits.map((h) => h.id)).toEqual(exact(queries[1], (r) => r.tenant === 13));
    } finally {
      unsubscribe(`tracing:${TRACE_CHANNELS.query}:asyncEnd`, onEnd);
    }
    expect(trace?.filter?.rounds).toBeGreaterThan(1);
    expect(trace?.filter?.exact).toBe(true);
  });

  test('an estimate far too low: the exact scan stops at its cap and the candidates answer', async () => {
    const liar: VectorStore = Object.assign(Object.create(store), { estimateMatching: async () => ({ matching: 1, rows: N }) });
    const widened = new LSHRS({ redis, dim: DIM, prefix: table, store: liar, expectedSize: N, rerankCandidates: 50 });
    const hits = await widened.query(queries[2], { topK: 10, filter: { active: true } });
    expect(hits.every((h) => (h.id as number) % 2 === 0)).toBe(true);
    const truth = exact(queries[2], (r) => r.active);
    expect(hits.filter((h) => truth.includes(h.id as number)).length).toBeGreaterThanOrEqual(8);
  });

  test('a filter nothing matches returns no hits', async () => {
    expect(await lsh.query(queries[0], { filter: { tenant: 1000 } })).toEqual([]);
    expect(await lsh.query(queries[0], { filter: { kind: { $in: [] } } })).toEqual([]);
  });

  test('columns come back as hit.row, with or without a filter', async () => {
    const [hit] = await lsh.query(vectors[5], { topK: 1, columns: ['tenant', 'kind', 'meta'] });
    expect(hit).toMatchObject({ id: 5, text: 'doc 5', row: { tenant: 5, kind: 'c', meta: rowOf(5).meta } });
    const [scanned] = await lsh.query(vectors[5], { topK: 1, filter: { tenant: 5 }, columns: ['year'] });
    expect(scanned).toMatchObject({ id: 5, row: { year: 2005 } });
  });

  test('similar() takes a filter and leaves the id itself out', async () => {
    const hits = await lsh.similar(10, { topK: 5, filter: { tenant: 10 } });
    expect(hits.map((h) => h.id)).toEqual(exact(vectors[10], (r, id) => r.tenant === 10 && id !== 10, 5));
  });
});

describe('a bad filter', () => {
  const BAD: [string, unknown, RegExp][] = [
    ['an unknown column', { nope: 1 }, /has no column "nope"/],
    ['a column name that is SQL', { 'id; DROP TABLE x; --': 1 }, /has no column/],
    ['text for an int column', { tenant: '7; DROP TABLE x' }, /tenant \(integer\) cannot be compared to string/],
    ['a number for a text column', { kind: 3 }, /kind \(character varying\) cannot be compared/],
    ['a label the enum lacks', { tag: "red' OR '1'='1" }, /has no label/],
    ['NaN', { price: Number.NaN }, /not a finite number/],
    ['a NUL character', { kind: 'a\u0000' }, /NUL/],
    ['an unknown operator', { year: { $regex: '.*' } }, /unknown operator "\$regex"/],
    ['a top-level operator', { $where: 'true' }, /unknown operator "\$where"/],
    ['an array', [{ tenant: 1 }], /plain object/],
    ['$sql beyond its params', { $sql: { where: 'tenant = $2', params: [1] } }, /refers to \$2/],
    ['the vector column', { embedding: 'x' }, /vector column/],
    ['a key path into a non-jsonb column', { 'kind.x': 1 }, /needs a jsonb column/],
    ['a date that is not one', { created: 'yesterday' }, /cannot be compared/],
  ];

  test.each(BAD)('is refused with BAD_OPTION before any statement on the table runs (%s)', async (_label, filter, message) => {
    await lsh.query(queries[0], { topK: 1, filter: { tenant: 1 } }); // the table's columns are read and kept
    const before = await snapshot();
    const spy = jest.spyOn(pool, 'query');
    try {
      await expect(lsh.query(queries[0], { filter: filter as Filter })).rejects.toMatchObject({
        code: 'BAD_OPTION',
        message: expect.stringMatching(message),
      });
      // At most a fresh look at the catalog (a name it did not know may be a column added since).
      for (const [text] of spy.mock.calls) expect(String(text)).toMatch(/FROM pg_attribute/);
    } finally {
      spy.mockRestore();
    }
    expect(await snapshot()).toEqual(before);
  });

  test('unknown columns in `columns`, and a filter without rerank, are refused', async () => {
    await expect(lsh.query(queries[0], { columns: ['nope'] })).rejects.toMatchObject({
      code: 'BAD_OPTION',
      message: expect.stringMatching(/no column "nope"/),
    });
    await expect(lsh.query(queries[0], { filter: { tenant: 1 }, rerank: false })).rejects.toMatchObject({ code: 'BAD_OPTION' });
  });

  test('a store that cannot filter refuses the filter', async () => {
    const plain: VectorStore = { fetch: (ids: readonly Id[]) => store.fetch(ids) };
    const other = new LSHRS({ redis, dim: DIM, prefix: table, store: plain, expectedSize: N });
    await expect(other.query(queries[0], { filter: { tenant: 1 } })).rejects.toMatchObject({
      code: 'BAD_OPTION',
      message: expect.stringMatching(/fetchMatching/),
    });
  });

  /** The table's rows and the index's keys, to show a refused call changed nothing. */
  async function snapshot(): Promise<unknown> {
    const { rows } = await pool.query(
      `SELECT count(*)::int AS n, sum(tenant)::int AS t, md5(string_agg(meta::text, ',' ORDER BY id)) AS m FROM "${table}"`,
    );
    return { rows: rows[0], keys: await redis.dbsize(), meta: await redis.hgetall(`{${table}}:meta`) };
  }
});

describe('rows written with extra columns', () => {
  test('an unknown column in row is refused before anything is written', async () => {
    const before = (await pool.query(`SELECT count(*)::int AS n FROM "${table}"`)).rows[0].n;
    await expect(lsh.ingest(N + 1, vectors[0], 'x')).resolves.toBeDefined();
    await expect(lsh.index([{ id: N + 2, vector: vectors[1], row: { nope: 1 } }])).rejects.toMatchObject({ code: 'BAD_OPTION' });
    expect((await pool.query(`SELECT count(*)::int AS n FROM "${table}"`)).rows[0].n).toBe(before + 1);
    expect(await lsh.inspect(N + 2)).toBeNull();
    await lsh.delete(N + 1);
  });

  test('fetchVectors gets the filter and columns as its second argument', async () => {
    const requests: unknown[] = [];
    const viaCallback = new LSHRS({
      redis,
      dim: DIM,
      prefix: table,
      expectedSize: N,
      fetchVectors: async (ids, request) => {
        requests.push(request);
        const rows = [...(await store.fetchMatching(ids, request ?? {}))];
        return rows.map((r) => ({ id: r.id, vector: r.vector, row: r.row }));
      },
    });
    const hits = await viaCallback.query(queries[3], { topK: 5, filter: { kind: 'b' }, columns: ['kind'] });
    expect(hits.length).toBe(5);
    expect(hits.every((h) => h.row?.kind === 'b')).toBe(true);
    expect(requests[0]).toEqual({ filter: { kind: 'b' }, columns: ['kind'] });
  });
});
