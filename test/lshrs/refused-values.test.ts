/* Values that are not vectors, refused with a message that says what they are. */
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { LSHRS, PostgresVectorStore } from '../../src';
import { toFloat32 } from '../../src/vectors';
import { uniqueName, useConnections } from '../support/servers';

let redis: Redis;
let pool: pg.Pool;
useConnections((c) => ({ redis, pool } = c));

test('an element that is not a number is named by its kind, not printed as if it were one', async () => {
  const refused = (vector: unknown[]) => () => toFloat32(vector, 4, 'v');
  expect(refused(['1', 2, 3, 4])).toThrow(expect.objectContaining({ code: 'NOT_FINITE', message: 'v: vector[0] is a string, not a number' }));
  expect(refused([1, 2, 3, null])).toThrow(expect.objectContaining({ code: 'NOT_FINITE', message: 'v: vector[3] is null, not a number' }));
  expect(refused([1, undefined, 3, 4])).toThrow('v: vector[1] is undefined, not a number');
  expect(refused([1, 2, [3], 4])).toThrow('v: vector[2] is an array, not a number');
  expect(refused([1, 2, 3, true])).toThrow('v: vector[3] is a boolean, not a number');
  expect(refused([1, 2, 3, Number.NaN])).toThrow('v: vector[3] is NaN, not a finite number');
  const lsh = new LSHRS({ redis, dim: 4, prefix: uniqueName('refused') });
  await expect(lsh.index([{ id: 1, vector: [1, '2', 3, 4] as unknown as number[] }])).rejects.toThrow('item 1: vector[1] is a string, not a number');
});

test('a NULL element of a real[] row is named, whether the row is read to build or to rerank', async () => {
  const table = uniqueName('null_element');
  await PostgresVectorStore.createTable(pool, { table, vectorType: 'real[]' });
  const store = new PostgresVectorStore({ pool, table });
  const prefix = uniqueName('null_element');
  const lsh = new LSHRS({ redis, dim: 4, prefix, store });
  await lsh.index([
    { id: 1, vector: [1, 2, 3, 4] },
    { id: 2, vector: [1, 2, 3, 5] },
  ]);
  await pool.query(`UPDATE "${table}" SET embedding[4] = NULL WHERE id = 1`);
  const message = `row 1 of ${table}: vector[3] is null, not a number`;
  await expect(lsh.query([1, 2, 3, 4])).rejects.toThrow(expect.objectContaining({ code: 'BAD_STORE', message }));
  const rebuilt = new LSHRS({ redis, dim: 4, prefix: uniqueName('null_element_build'), store });
  await expect(rebuilt.index()).rejects.toThrow(expect.objectContaining({ code: 'BAD_STORE', message }));
});
