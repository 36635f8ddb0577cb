import type { Id, IdType } from '../ids';

/** One row as a store hands it back. */
export interface StoredItem {
  id: Id;
  vector: Float32Array;
  text?: string | null;
}

/** One row as a scan in id order hands it back: a row whose vector is NULL comes back with `vector: null`. */
export interface ScannedRow {
  id: Id;
  vector: Float32Array | null;
  /** Why `vector` is null when the column itself is not NULL: the error a build reports for the row (e.g. an array with a NULL element). */
  invalid?: string;
}

/** One row to write; vectors reach stores validated, as float32. */
export interface StoreWrite {
  id: Id;
  vector: Float32Array;
  text?: string | null;
}

/**
 * Where the vectors live. lshrs reads candidates from it to rerank them, and writes to it when
 * `upsert`/`delete` exist (a read-only store leaves the rows to the host).
 */
export interface VectorStore {
  /** The rows of these ids, in any order; ids without a row are simply absent. */
  fetch(ids: readonly Id[]): Promise<Iterable<StoredItem>>;
  upsert?(items: readonly StoreWrite[]): Promise<void>;
  /**
   * Refuses a store that cannot take writes (a missing table or column, an unreachable server)
   * before lshrs writes anything: the first write of a new index fixes its mean in Redis first.
   */
  check?(): Promise<void>;
  delete?(ids: readonly Id[]): Promise<void>;
  /**
   * Rows in id order after `after` (exclusive; from the start when null), at most `limit`, ids as
   * text, every row of the range included (a NULL vector as null): the build ends at an empty page.
   * Lets `index()` build from the whole store with bounded memory and resume by position.
   */
  scan?(after: string | null, limit: number): Promise<ScannedRow[]>;
  /** Rows after `after` (all rows when null). */
  count?(after: string | null): Promise<number>;
  /** Whether the store's ids are integers ('int') or strings ('str'). */
  idType?(): Promise<IdType>;
  /** The ids of these that have a row (as text). */
  existing?(ids: readonly Id[]): Promise<Set<string>>;
  /**
   * Runs `fn`, the index's part of a write (after `upsert`, or for rows a build read), while the
   * rows of `ids` are held against every other lshrs write and delete of them, passing the ids
   * that still have a row (as text); the others are not indexed. With {@link deleteWithRowLocks},
   * an upsert racing a delete of the same id never leaves it indexed without a row.
   */
  withRowLocks?<T>(ids: readonly Id[], fn: (present: ReadonlySet<string>) => Promise<T>): Promise<T>;
  /**
   * `delete`, calling `unindex` while the rows are held, before they go; again (`again: true`) for
   * ids whose rows a concurrent write committed meanwhile, which are then deleted too.
   */
  deleteWithRowLocks?(ids: readonly Id[], unindex: (ids: readonly Id[], again: boolean) => Promise<void>): Promise<void>;
  /** Releases what the store opened itself (never a pool or client the host passed in). */
  close?(): Promise<void>;
}

/** The `fetchVectors` option: any database, as a function from ids to their rows or vectors. */
export type FetchVectors = (
  ids: readonly Id[],
) => Promise<Iterable<{ id: Id; vector: ArrayLike<number>; text?: string | null }> | Map<Id, ArrayLike<number>>>;
