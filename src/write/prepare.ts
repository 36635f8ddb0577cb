/* Turning what a caller or a store hands over into validated float32 batches. */
import { LshrsError } from '../errors';
import { commonIdType, decodeId, type Id, type IdType } from '../ids';
import type { IndexItem } from '../options';
import type { StoredItem } from '../stores/types';
import { writeVector } from '../vectors';

/** A validated batch: ids of one type and their vectors, row-major. */
export interface PreparedBatch {
  idType: IdType;
  ids: Id[];
  vectors: Float32Array;
  texts: (string | null | undefined)[];
  /** Write the rows to the store too (not when they come from it). */
  toStore: boolean;
  /** Meta fields set in the same script call, e.g. a build's position. */
  setMeta?: Record<string, string>;
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
  });
  return { idType, ids: kept.map((item) => item.id), vectors, texts: kept.map((item) => item.text), toStore: true };
}

/** Rows read from the store, validated like any input; their ids arrive as text. */
export function prepareStored(rows: readonly StoredItem[], idType: IdType, dim: number): PreparedBatch {
  const vectors = new Float32Array(rows.length * dim);
  const ids = rows.map((row, i) => {
    const id = decodeId(String(row.id), idType);
    writeVector(row.vector, dim, vectors, i * dim, `row ${String(row.id)} of the store`);
    return id;
  });
  commonIdType(ids);
  return { idType, ids, vectors, texts: [], toStore: false };
}

/** An array's batches must share one id type, checked before the first is written. */
export function checkOneIdType(batches: readonly PreparedBatch[]): void {
  const first = batches[0];
  const other = batches.find((b) => b.idType !== first.idType);
  if (other) {
    throw new LshrsError('ID_TYPE', `ids mix integers and strings (${JSON.stringify(first.ids[0])} and ${JSON.stringify(other.ids[0])})`);
  }
}
