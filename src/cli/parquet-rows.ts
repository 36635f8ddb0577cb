import { statSync } from 'node:fs';
import { LshrsError } from '../errors';
import type { IndexItem } from '../options';
import { countParquetRows, readParquet, type ParquetColumns } from '../parquet/read';
import { toFloat32 } from '../vectors';
import { CliError, fileError, oneLine } from './errors';

/**
 * A parquet file as `lshrs load` reads it: DuckDB's errors become one PARQUET line, and a row that
 * fails validation is named by its position in the file and its id ("row 3 (id 12): ...").
 */
export class ParquetRows {
  /** Rows read so far. */
  read = 0;

  constructor(
    readonly file: string,
    readonly columns: ParquetColumns,
  ) {
    try {
      statSync(file);
    } catch (err) {
      throw fileError(file, err);
    }
  }

  private placed(err: unknown): unknown {
    if (err instanceof LshrsError || err instanceof CliError) return err;
    return new CliError('PARQUET', `cannot read ${this.file}: ${oneLine(err instanceof Error ? err.message : String(err))}`);
  }

  /** The first row (the file is closed after it), or undefined for an empty file. */
  async first(): Promise<IndexItem | undefined> {
    const items = readParquet(this.file, this.columns);
    try {
      const first = await items.next();
      return first.done ? undefined : first.value;
    } catch (err) {
      throw this.placed(err);
    } finally {
      await items.return(undefined);
    }
  }

  /** Rows in the file, from its footer. */
  async count(): Promise<number> {
    try {
      return await countParquetRows(this.file);
    } catch (err) {
      throw this.placed(err);
    }
  }

  /** Every row, each vector checked against `dim` (with its position and id in the message). */
  async *rows(dim: number): AsyncGenerator<IndexItem> {
    const items = readParquet(this.file, this.columns);
    try {
      for (;;) {
        let next: IteratorResult<IndexItem>;
        try {
          next = await items.next();
        } catch (err) {
          throw this.placed(err);
        }
        if (next.done) return;
        this.read += 1;
        const item = next.value;
        yield { ...item, vector: toFloat32(item.vector, dim, `row ${this.read} (id ${JSON.stringify(item.id)})`) };
      }
    } finally {
      await items.return(undefined);
    }
  }
}
