import type { Redis } from 'ioredis';
import type pg from 'pg';
import { LSHRS, PostgresVectorStore, RedisVectorStore, readParquet } from '../../src';
import { uniqueName, useConnections } from '../support/servers';

// From JavaScript nothing type-checks an options object, so a misspelt name would be ignored and
// its default used. Every options object refuses names it does not know, naming the one meant.
let redis: Redis;
let pool: pg.Pool;
useConnections((c) => ({ redis, pool } = c));

/** An options object as a JavaScript caller passes it: no type check. */
const js = (options: object) => options as never;

const refused = (message: string) => expect.objectContaining({ name: 'LshrsError', code: 'BAD_OPTION', message });

test('new LSHRS refuses an unknown option, naming it and the option it resembles', () => {
  expect(() => new LSHRS(js({ redis, dim: 8, rerankCandidate: 100 }))).toThrow(
    refused('unknown LSHRS option "rerankCandidate" (did you mean rerankCandidates?)'),
  );
  expect(() => new LSHRS(js({ redis, dim: 8, num_bands: 4, rowsPerBand: 4 }))).toThrow(
    refused('unknown LSHRS option "num_bands" (did you mean numBands?)'),
  );
  // Checked before the other options, so the typo is what the caller hears about.
  expect(() => new LSHRS(js({ redis, dimension: 8 }))).toThrow(refused('unknown LSHRS option "dimension"'));
  expect(() => new LSHRS(js({ redis, dim: 8, colour: 'red' }))).toThrow(refused('unknown LSHRS option "colour"'));
  expect(() => new LSHRS(js({ redis, dim: 8, waitForReplicas: { replicas: 1, timeout: 100 } }))).toThrow(
    refused('unknown waitForReplicas option "timeout" (did you mean timeoutMs?)'),
  );
});

test('query and similar refuse unknown options before touching Redis or the store', async () => {
  const prefix = uniqueName('options');
  const lsh = new LSHRS({ redis, dim: 4, prefix });
  await lsh.index([
    { id: 1, vector: [1, 0, 0, 0] },
    { id: 2, vector: [0, 1, 0, 0] },
  ]);
  await expect(lsh.query([1, 0, 0, 0], js({ topk: 1, rerank: false }))).rejects.toEqual(refused('unknown query option "topk" (did you mean topK?)'));
  await expect(lsh.query([1, 0, 0, 0], js({ rerank: false, rerankCandidate: 10 }))).rejects.toEqual(
    refused('unknown query option "rerankCandidate" (did you mean rerankCandidates?)'),
  );
  // The Python lshrs' spelling.
  await expect(lsh.similar(1, js({ rerank: false, top_p: 0.5 }))).rejects.toEqual(refused('unknown query option "top_p" (did you mean topP?)'));
  // Spelt right, the same query runs.
  expect((await lsh.query([1, 0, 0, 0], { topK: 1, rerank: false, rerankCandidates: 10 })).map((h) => h.id)).toEqual([1]);
  await lsh.clear();
});

test('index, ingestParquet and verify refuse unknown options, and nothing is written', async () => {
  const prefix = uniqueName('options');
  const lsh = new LSHRS({ redis, dim: 4, prefix });
  await expect(lsh.index([{ id: 1, vector: [1, 0, 0, 0] }], js({ onProgres: () => {} }))).rejects.toEqual(
    refused('unknown index option "onProgres" (did you mean onProgress?)'),
  );
  await expect(lsh.index(undefined, js({ resum: true }))).rejects.toEqual(refused('unknown index option "resum" (did you mean resume?)'));
  expect((await lsh.describe()).ids).toBe(0);
  // A parquet load cannot resume (it is not a build from the store), and its columns are checked too.
  await expect(lsh.ingestParquet('items.parquet', {}, js({ resume: true }))).rejects.toEqual(refused('unknown ingestParquet option "resume"'));
  await expect(lsh.ingestParquet('items.parquet', js({ idColum: 'key' }))).rejects.toEqual(
    refused('unknown readParquet option "idColum" (did you mean idColumn?)'),
  );
  await expect(readParquet('items.parquet', js({ vector: 'v' })).next()).rejects.toEqual(refused('unknown readParquet option "vector"'));
  await expect(lsh.verify(js({ repiar: true }))).rejects.toEqual(refused('unknown verify option "repiar" (did you mean repair?)'));
});

test('LSHRS.open and LSHRS.fromJSON refuse what their runtime options do not take', async () => {
  const prefix = uniqueName('options');
  const lsh = new LSHRS({ redis, dim: 4, prefix });
  await lsh.ingest(1, [1, 0, 0, 0]);
  await expect(LSHRS.open(js({ redis, prefx: prefix }))).rejects.toEqual(refused('unknown LSHRS.open option "prefx" (did you mean prefix?)'));
  // The parameters come from the saved state: a dim passed beside it would be ignored.
  expect(() => LSHRS.fromJSON(lsh.toJSON(), js({ redis, dim: 8 }))).toThrow(refused('unknown LSHRS.fromJSON option "dim"'));
  expect(() => LSHRS.fromJSON(lsh.toJSON(), js({ redis, batchsize: 10 }))).toThrow(
    refused('unknown LSHRS.fromJSON option "batchsize" (did you mean batchSize?)'),
  );
  await expect(LSHRS.open({ redis, prefix })).resolves.toBeInstanceOf(LSHRS);
  await lsh.clear();
});

test('the vector stores refuse unknown options', async () => {
  const table = uniqueName('options');
  expect(() => new PostgresVectorStore(js({ pool, table, textColum: 'body' }))).toThrow(
    refused('unknown PostgresVectorStore option "textColum" (did you mean textColumn?)'),
  );
  await expect(PostgresVectorStore.createTable(pool, js({ table, vectortype: 'real[]' }))).rejects.toEqual(
    refused('unknown createTable option "vectortype" (did you mean vectorType?)'),
  );
  expect((await pool.query('SELECT to_regclass($1) AS t', [table])).rows[0].t).toBeNull();
  expect(() => new RedisVectorStore(js({ redis, page: 16 }))).toThrow(refused('unknown RedisVectorStore option "page" (did you mean pages?)'));
});
