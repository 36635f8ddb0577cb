/* Turning what a caller or a store hands over into validated float32 batches. */
import { LshrsError } from '../errors';
import { commonIdType, decodeId, idTypeOf, type Id, type IdType } from '../ids';
import type { IndexItem } from '../options';
import type { BuildPosition } from '../redis/redis-index';
import type { ScannedRow } from '../stores/types';
import { writeVector } from '../vectors';

/** A validated batch: ids of one type and their vectors, row-major. */
export interface PreparedBatch {
  idType: IdType;
  ids: Id[];
  vectors: Float32Array;
  texts: (string | null | undefined)[];
  /** The items' other columns (`row`), when any has them. */
  rows?: (Record<string, unknown> | undefined)[];
  /** Write the rows to the store too (not when they come from it). */
  toStore: boolean;
  /** A build's batch: the position recorded when it lands. */
  build?: BuildPosition;
}

/** Validates a batch of items and keeps the last occurrence of a repeated id. */
export function prepareItems(items: readonly IndexItem[], dim: number): PreparedBatch {
  const lastIndex = new Map<string, number>();
  items.forEach((item, i) => {
    if (!item || typeof item !== 'object') throw new LshrsError('BAD_ID', `item ${i} is not an object with id and vector`);
    lastIndex.set(`${typeof item.id}:${String(item.id)}`, i);
  });
  const kept = items.filter((item, i) => lastIndex.get(`${typeof item.id}:${String(item.id)}`) === i);
  const idType = commonIdType(kept.map((item) => item.id)) as IdType;
  const vectors = new Float32Array(kept.length * dim);
  kept.forEach((item, i) => {
    const label = `item ${JSON.stringify(item.id)}`;
    writeVector(item.vector, dim, vectors, i * dim, label);
    if (item.text !== undefined && item.text !== null && typeof item.text !== 'string') {
      throw new LshrsError('BAD_OPTION', `${label}: text must be a string, got ${typeof item.text}`);
    }
    if (item.row !== undefined && (typeof item.row !== 'object' || item.row === null || Array.isArray(item.row))) {
      throw new LshrsError('BAD_OPTION', `${label}: row must be an object of column values`);
    }
  });
  const batch: PreparedBatch = { idType, ids: kept.map((item) => item.id), vectors, texts: kept.map((item) => item.text), toStore: true };
  if (kept.some((item) => item.row !== undefined)) batch.rows = kept.map((item) => item.row);
  return batch;
}

/** What a build does with a row it cannot index (NULL or unusable vector). */
export type InvalidRows = 'throw' | 'skip';

/**
 * Rows read from the store, validated like any input; their ids arrive as text. A row whose vector
 * is NULL, of the wrong length, NaN or zero stops the build with an error naming the row, or with
 * `skip`, is left out and counted in `skipped`.
 */
export function prepareStored(rows: readonly ScannedRow[], idType: IdType, dim: number, invalid: InvalidRows): PreparedBatch & { skipped: number } {
  const vectors = new Float32Array(rows.length * dim);
  const ids: Id[] = [];
  let skipped = 0;
  for (const row of rows) {
    const id = decodeId(String(row.id), idType);
    idTypeOf(id);
    try {
      if (row.vector === null) {
        throw new LshrsError(
          'BAD_STORE',
          row.invalid ??
            `row ${String(row.id)} of the store has no vector (NULL); fix the row, or build with skipInvalid: true to skip and count such rows`,
        );
      }
      writeVector(row.vector, dim, vectors, ids.length * dim, `row ${String(row.id)} of the store`);
    } catch (err) {
      if (invalid === 'skip' && err instanceof LshrsError) {
        skipped++;
        continue;
      }
      throw err;
    }
    ids.push(id);
  }
  return { idType, ids, vectors: vectors.subarray(0, ids.length * dim), texts: [], toStore: false, skipped };
}

/** An array's batches must share one id type, checked before the first is written. */
export function checkOneIdType(batches: readonly PreparedBatch[]): void {
  const first = batches[0];
  const other = batches.find((b) => b.idType !== first.idType);
  if (other) {
    throw new LshrsError('ID_TYPE', `ids mix integers and strings (${JSON.stringify(first.ids[0])} and ${JSON.stringify(other.ids[0])})`);
  }
}
