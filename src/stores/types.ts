import type { Id, IdType } from '../ids';
import type { Filter } from './filter';

/** One row as a store hands it back. */
export interface StoredItem {
  id: Id;
  vector: Float32Array;
  text?: string | null;
  /** The columns a query asked for (`columns`), by name. */
  row?: Record<string, unknown>;
}

/** What a filtered query asks of the store: only rows that match `filter`, with `columns`. */
export interface MatchRequest {
  filter?: Filter;
  columns?: readonly string[];
}

/** How many rows a filter matches, as the store estimates it, and how many rows it holds. */
export interface MatchEstimate {
  matching: number;
  rows: number;
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
  /** Other columns of the row, by name. */
  row?: Record<string, unknown>;
}

/**
 * Where the vectors live. lshrs reads candidates from it to rerank them, and writes to it when
 * `upsert`/`delete` exist (a read-only store leaves the rows to the host).
 */
export interface VectorStore {
  /** The rows of these ids, in any order; ids without a row are simply absent. */
  fetch(ids: readonly Id[]): Promise<Iterable<StoredItem>>;
  /**
   * A filtered query's fetch: the rows of these ids that match `request.filter`, each with the
   * `request.columns` as `row`. A store without it cannot serve `filter` or `columns` (BAD_OPTION);
   * one that has it must apply the filter exactly or throw (a filter it cannot apply: BAD_OPTION).
   */
  fetchMatching?(ids: readonly Id[], request: MatchRequest): Promise<Iterable<StoredItem>>;
  /** How many rows `filter` matches, estimated cheaply: lets a query choose an exact scan of them. */
  estimateMatching?(filter: Filter): Promise<MatchEstimate>;
  /**
   * Every row that matches `request.filter` (with its columns), handed to `visit` a page at a
   * time until it returns false; returns the rows visited. Lets a filtered query fall back to an
   * exact answer when the filter is too selective for the index's candidates.
   */
  scanMatching?(request: MatchRequest, visit: (rows: StoredItem[]) => boolean): Promise<number>;
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

/**
 * The `fetchVectors` option: any database, as a function from ids to their rows or vectors. A
 * filtered query (`filter`, `columns`) passes them as `request`: return only the rows that match,
 * with the columns as `row`, or throw when the filter cannot be applied.
 */
export type FetchVectors = (
  ids: readonly Id[],
  request?: MatchRequest,
) => Promise<Iterable<{ id: Id; vector: ArrayLike<number>; text?: string | null; row?: Record<string, unknown> }> | Map<Id, ArrayLike<number>>>;
