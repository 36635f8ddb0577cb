import { LshrsError } from '../errors';
import type { Id } from '../ids';
import type { IndexItem } from '../lshrs';
import { float32FromLE } from '../stores/float32';

export interface ParquetColumns {
  /** @defaultValue "id" */
  idColumn?: string;
  /** A list of floats, or float32 little-endian bytes. @defaultValue "embedding" */
  vectorColumn?: string;
  /** A string column, or `null` for none. @defaultValue "text" */
  textColumn?: string | null;
}

// hyparquet ships only ES modules; a dynamic import keeps this package loadable with require().
type Hyparquet = typeof import('hyparquet');
let hyparquet: Promise<Hyparquet> | undefined;
const loadHyparquet = () => (hyparquet ??= import('hyparquet'));

const decoder = new TextDecoder();

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

function toVector(value: unknown, row: number): Float32Array | number[] {
  if (value instanceof Uint8Array) return float32FromLE(value);
  if (Array.isArray(value)) return value as number[];
  if (value instanceof Float32Array || value instanceof Float64Array) return Array.from(value);
  throw new LshrsError('DIMENSION', `parquet row ${row}: embedding is neither a list of floats nor float32 bytes`);
}

/**
 * Streams `{ id, vector, text }` items from a parquet file, one row group at a time (a row group is
 * the most that is held in memory). Feed it to `lsh.index(...)`.
 */
export async function* readParquet(path: string, columns: ParquetColumns = {}): AsyncGenerator<IndexItem> {
  const { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } = await loadHyparquet();
  const idColumn = columns.idColumn ?? 'id';
  const vectorColumn = columns.vectorColumn ?? 'embedding';
  const textColumn = columns.textColumn === null ? null : (columns.textColumn ?? 'text');
  const file = await asyncBufferFromFile(path);
  const metadata = await parquetMetadataAsync(file);
  const wanted = textColumn ? [idColumn, vectorColumn, textColumn] : [idColumn, vectorColumn];
  const present = new Set(metadata.schema.map((element) => element.name));
  for (const name of wanted) {
    if (!present.has(name)) throw new LshrsError('BAD_OPTION', `parquet file ${path} has no column "${name}"`);
  }
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    // utf8: false keeps unannotated byte arrays (float32 embeddings) as bytes; UTF8 columns stay strings.
    const rows = await parquetReadObjects({ file, metadata, columns: wanted, rowStart, rowEnd, utf8: false });
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      const at = rowStart + i;
      const text = textColumn ? row[textColumn] : undefined;
      yield {
        id: toId(row[idColumn], at),
        vector: toVector(row[vectorColumn], at),
        text: text === undefined || text === null ? null : text instanceof Uint8Array ? decoder.decode(text) : String(text),
      };
    }
    rowStart = rowEnd;
  }
}
