/* Values that are not vectors, refused with a message that says what they are. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { LSHRS, PostgresVectorStore } from '../../src';
import { readVectorFile } from '../../src/cli/context';
import { float32ToLE } from '../../src/float32';
import { toFloat32 } from '../../src/vectors';
import { lshrs } from '../support/cli';
import { uniqueName, useConnections } from '../support/servers';

let redis: Redis;
let pool: pg.Pool;
useConnections((c) => ({ redis, pool } = c));

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lshrs-refused-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

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

test('a .f32 file whose length is not a multiple of 4 bytes is refused, not cut', async () => {
  const file = join(dir, 'q.f32');
  writeFileSync(file, Buffer.concat([float32ToLE(Float32Array.from([1, 2, 3])), Buffer.from([0])])); // 13 bytes
  expect(() => readVectorFile(file)).toThrow(
    expect.objectContaining({ code: 'DIMENSION', message: `${file} has 13 bytes, not a whole number of float32 values (4 bytes each)` }),
  );
  // The command line: an index of dimension 3, which the first 12 bytes would have fitted.
  const prefix = uniqueName('f32');
  await new LSHRS({ redis, dim: 3, prefix }).ingest(1, [1, 2, 3]);
  const result = lshrs(['--prefix', prefix, 'query', '--vector', file, '--no-rerank']);
  expect({ status: result.status, stderr: result.stderr }).toEqual({
    status: 2, // the command line's exit code for an error
    stderr: `lshrs: ${file} has 13 bytes, not a whole number of float32 values (4 bytes each)\n`,
  });
});
