import { LshrsError } from '../errors';
import type { Id } from '../ids';
import { float32FromLE } from '../float32';
import type { IndexItem } from '../options';
import { quoteIdent } from '../sql';
import { checkOptionNames, optionNames } from '../validate';

export interface ParquetColumns {
  /** @defaultValue "id" */
  idColumn?: string;
  /** A list or fixed-size array of floats, or float32 little-endian bytes. @defaultValue "embedding" */
  vectorColumn?: string;
  /** A string column, or `null` for none. @defaultValue "text" */
  textColumn?: string | null;
}

const COLUMNS = optionNames<ParquetColumns>({ idColumn: true, vectorColumn: true, textColumn: true });

/** Refuses a column option readParquet does not know (a misspelt one would read the default column). */
export const checkParquetColumns = (columns: ParquetColumns) => checkOptionNames(columns, COLUMNS, 'readParquet');

type DuckDB = typeof import('@duckdb/node-api');

async function loadDuckDB(): Promise<DuckDB> {
  try {
    return await import('@duckdb/node-api');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') {
      throw new LshrsError('BAD_OPTION', 'reading parquet needs the optional dependency @duckdb/node-api: npm install @duckdb/node-api');
    }
    // Installed but not loadable (a native binding for another platform, say): say so, not "install it".
    throw new LshrsError('BAD_OPTION', `@duckdb/node-api, which reads parquet, failed to load: ${(err as Error).message.split('\n')[0]}`);
  }
}

const quoteLiteral = (text: string) => `'${text.replace(/'/g, "''")}'`;

function toId(value: unknown, row: number): Id {
  if (typeof value === 'bigint') {
    if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new LshrsError('BAD_ID', `parquet row ${row}: id ${value} is not a non-negative safe integer`);
    }
    return Number(value);
  }
  if (typeof value === 'number' || typeof value === 'string') return value;
  throw new LshrsError('BAD_ID', `parquet row ${row}: id is ${value === null ? 'null' : typeof value}`);
}

function toVector(value: unknown, row: number): Float32Array | readonly number[] {
  const v = value as { bytes?: Uint8Array; items?: readonly unknown[] } | null;
  if (v?.bytes instanceof Uint8Array) return float32FromLE(v.bytes);
  if (Array.isArray(v?.items)) return v.items as number[];
  throw new LshrsError('DIMENSION', `parquet row ${row}: embedding is neither a list of floats nor float32 bytes`);
}

/**
 * Streams `{ id, vector, text }` items from a parquet file in file order, a chunk of rows at a time:
 * DuckDB reads the file, so memory stays bounded however large its row groups are. Feed it to
 * `lsh.index(...)`.
 */
export async function* readParquet(path: string, columns: ParquetColumns = {}): AsyncGenerator<IndexItem> {
  checkParquetColumns(columns);
  const { DuckDBInstance } = await loadDuckDB();
  const idColumn = columns.idColumn ?? 'id';
  const vectorColumn = columns.vectorColumn ?? 'embedding';
  const textColumn = columns.textColumn === null ? null : (columns.textColumn ?? 'text');
  // One thread: DuckDB's threads each decode a row group of their own, and two row groups of a file
  // written with the default 122,880 rows x 384 floats overran the memory limit before the first
  // row (out of memory at 512 MB). One thread holds one row group's buffers at a time, whatever
  // their size; decoding is not what bounds a load (hashing and the writes are).
  const instance = await DuckDBInstance.create(':memory:', { memory_limit: '512MB', threads: '1' });
  const connection = await instance.connect();
  try {
    const source = `read_parquet(${quoteLiteral(path)})`;
    const described = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`);
    const present = new Set(described.getRowObjects().map((r) => String(r.column_name)));
    const wanted = textColumn ? [idColumn, vectorColumn, textColumn] : [idColumn, vectorColumn];
    for (const name of wanted) {
      if (!present.has(name)) throw new LshrsError('BAD_OPTION', `parquet file ${path} has no column "${name}"`);
    }
    const result = await connection.stream(`SELECT ${wanted.map(quoteIdent).join(', ')} FROM ${source}`);
    let row = 0;
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      const [ids, vectors, texts] = chunk.getColumns();
      for (let i = 0; i < chunk.rowCount; i++, row++) {
        const text = texts?.[i];
        yield {
          id: toId(ids[i], row),
          vector: toVector(vectors[i], row),
          text: text === undefined || text === null ? null : String(text),
        };
      }
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Rows in a parquet file, from its footer (no data is read). */
export async function countParquetRows(path: string): Promise<number> {
  const { DuckDBInstance } = await loadDuckDB();
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const result = await connection.runAndReadAll(`SELECT count(*) AS n FROM read_parquet(${quoteLiteral(path)})`);
    return Number(result.getRowObjects()[0].n);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
