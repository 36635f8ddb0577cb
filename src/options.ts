/*
 * Every option and result type of the public API, the defaults beside them, and their resolution
 * and validation (once, at construction or at the start of a call).
 */
import { LshrsError } from './errors';
import type { Id, IdType } from './ids';
import type { ShapeOptions } from './params/shape';
import type { RedisClient } from './redis/connection';
import type { WaitForReplicas } from './redis/fanout';
import type { StoreInfo } from './redis/meta';
import type { BucketSize, NodeFootprint } from './redis/ops';
import { checkColumnNames, type Filter, parseFilter } from './stores/filter';
import type { FetchVectors, MatchRequest, VectorStore } from './stores/types';
import { checkOptionNames, intOption, optionNames } from './validate';
import type { VectorLike } from './vectors';

export type { StoreInfo } from './redis/meta';

export interface LSHRSOptions extends ShapeOptions {
  /** An ioredis `Redis` or `Cluster` the host holds (never closed by lshrs), or a URL (closed by `close()`). */
  redis: RedisClient | string;
  /** Vector dimension, fixed for the life of the index. */
  dim: number;
  /** Where vectors live, for the rerank and, when it can write, for ingest and delete. */
  store?: VectorStore;
  /** Any other database: a function from ids to their vectors (read-only). Instead of `store`. */
  fetchVectors?: FetchVectors;
  /** Names the index: every key is `{prefix}:...` (with shards, shard k's are `{prefix#k.salt}:...`). @defaultValue "lshrs" */
  prefix?: string;
  /** Seed of the random hyperplanes. @defaultValue 42 */
  seed?: number | string;
  /** Hyperplane budget the (bands, rows) planner may spend. @defaultValue 128 */
  numPerm?: number;
  /** Bands (hash tables); with `rowsPerBand`, overrides the planner. @defaultValue 4 (SIZED_BANDS) */
  numBands?: number;
  /** Hyperplanes per band (at most 32): each bucket is one value of them. @defaultValue sizedRows(expectedSize) */
  rowsPerBand?: number;
  /** Cosine at which the planner balances false positives and false negatives. @defaultValue 0.5 */
  threshold?: number;
  /**
   * Ids the index is planned for. With no bands and rows given, the index gets 4 bands of
   * `sizedRows(expectedSize)` rows (buckets of about 64 ids on average; 8 rows up to 16,384 ids,
   * 14 at 1M, 17 at 6.4M), and queries read `defaultProbes(rows)` buckets per band. Fixed for the
   * life of the index, as the rows are. `numPerm` or `threshold` given instead plan bands and rows
   * by the S-curve. @defaultValue 1,000,000
   */
  expectedSize?: number;
  /**
   * Bits of the sketch every bucket record carries: a query ranks all it reads by them in the
   * client, and fetches the best `rerankCandidates`. Fixed for the life of the index.
   * @defaultValue 256
   */
  sketchBits?: number;
  /**
   * The most records one bucket string holds (duplicates or a narrow cone make giant buckets);
   * past it, records wait in the bucket's overflow list, which queries never read, so a query's
   * bytes per bucket are bounded. Fixed for the life of the index. @defaultValue 4096
   */
  bucketCap?: number;
  /**
   * Centring: the mean vector is subtracted before hashing, which spreads data that sits in a
   * cone (as embeddings do) over the buckets. `true` estimates it from the first batch written to
   * a new index (at least 64 vectors; a smaller first batch leaves the index uncentred) or takes
   * the one an existing index stores; `false` hashes raw vectors; a vector is the mean to use.
   * Fixed for the life of the index. @defaultValue true
   */
  centre?: boolean | ArrayLike<number>;
  /**
   * Hashes the reverse records are spread over (in each shard); fixed for the life of the index.
   * @defaultValue sized by `expectedSize` (about 48-96 ids a page, `sizedReversePages`), else 65536
   */
  reversePages?: number;
  /**
   * Shards the ids are spread over, each under its own hash tag (its own Redis Cluster slot, so
   * the shards of one index spread over the masters); fixed for the life of the index. A write
   * batch becomes one script call per shard it touches, a query one per shard, in parallel.
   * @defaultValue 1 (every key under `{prefix}`)
   */
  shards?: number;
  /**
   * After every write batch, `WAIT` until this many replicas of each master written to acknowledged
   * it, at most `timeoutMs`; fewer throw NOT_REPLICATED (the batch stands on the master), or are
   * passed to `onShortfall`. Narrows what a failover can lose; see the README.
   * @defaultValue none: no waiting
   */
  waitForReplicas?: WaitForReplicas;
  /**
   * Write to a Redis whose `maxmemory-policy` is `allkeys-*`, which evicts keys without a TTL (all
   * of lshrs' keys): buckets and reverse records would vanish silently. Refused by default with
   * EVICTION_POLICY on a handle's first write (where the user's rights allow reading the policy).
   * @defaultValue false
   */
  allowEviction?: boolean;
  /** Ids per script call when indexing or deleting. @defaultValue 500 */
  batchSize?: number;
  /** Candidates fetched from the store and reranked by exact cosine, the closest by sketch. @defaultValue 500 */
  rerankCandidates?: number;
  /**
   * Multi-probe: buckets a query reads in each band, its own and the ones a few bit flips away
   * (the flips it is least sure of first); 1 reads its own only.
   * @defaultValue defaultProbes(rows, bands): 15 at 4 x 8, 77 at 4 x 11, 406 at 4 x 14, 2,142 at 4 x 17
   */
  probes?: number;
}

/** One item to index. */
export interface IndexItem {
  id: Id;
  vector: VectorLike;
  text?: string | null;
  /** Other columns of the item's store row, by name (PostgresVectorStore: scalar or JSON values; objects go to json/jsonb columns). */
  row?: Record<string, unknown>;
}

/** What `onProgress` receives after every batch that lands in Redis. */
export interface BuildProgress {
  /** Items written in this call. */
  done: number;
  /** Items this call will write, when known. */
  total: number | null;
  /** Items per second so far. */
  rate: number;
  /** Seconds left at that rate, when the total is known. */
  etaSeconds: number | null;
}

export interface IndexOptions {
  /** Called after every batch that lands in Redis. */
  onProgress?: (progress: BuildProgress) => void;
  /** Stops between two batches; the batch in flight lands first. */
  signal?: AbortSignal;
  /** With no items: continue a build from the position it recorded, instead of from the start. */
  resume?: boolean;
  /** How many items a stream will yield, when the caller knows: progress then has a total and an ETA. */
  total?: number;
  /**
   * With no items (a build from the store): a row whose vector is NULL or unusable (wrong length,
   * NaN, all zeros) is skipped and counted (`skipped` in the result, `build.skipped` in describe()
   * and stats()) instead of stopping the build with an error that names the row.
   * @defaultValue false
   */
  skipInvalid?: boolean;
}

export interface QueryOptions {
  /** Results to return. @defaultValue 10 */
  topK?: number;
  /** Fraction of the `rerankCandidates` that is fetched and reranked, in (0, 1]. @defaultValue 1 */
  topP?: number;
  /** `false` returns the sketch ranking without touching the store. @defaultValue true */
  rerank?: boolean;
  /** Candidates fetched and reranked, the closest by sketch. @defaultValue the index's rerankCandidates */
  rerankCandidates?: number;
  /** Buckets read in each band (see LSHRSOptions.probes). @defaultValue the index's probes */
  probes?: number;
  /**
   * Only rows that match: `{ tenant: 7, year: { $gt: 2020 } }` (see {@link Filter}). Applied by the
   * store in its one fetch of the candidates; when too few candidates match, the query widens
   * them, then answers by an exact scan of the matching rows (a store with `scanMatching`).
   */
  filter?: Filter;
  /** Other columns of each hit's row, returned as `hit.row`, from the same fetch. */
  columns?: readonly string[];
  /**
   * Stops the query before its next step (the Redis call, the store fetch): the call then rejects
   * with the signal's reason (an `AbortError` unless the reason is given). A step in flight finishes.
   */
  signal?: AbortSignal;
}

/** What a write (`index`, `ingest`, a build) did to the index. */
export interface IndexResult {
  /** Ids new to the index. */
  added: number;
  /** Ids that were indexed already and whose buckets changed. */
  moved: number;
  /** Ids indexed already with the same signature. */
  unchanged: number;
  /** A build with `skipInvalid`: rows of the store left out because their vector was NULL or unusable. */
  skipped?: number;
}

export interface DeleteResult {
  removed: number;
  /** Ids that were not in the index. */
  unknown: number;
  /**
   * Present when some were: removed ids that a bucket their reverse record names no longer held
   * (an evicted or damaged bucket). The index was not whole: run verify({ repair: true }).
   */
  damaged?: number;
}

/** The saved state: these few numbers rebuild the hashing bit for bit. */
export interface SavedState {
  lshrs: 1;
  prefix: string;
  dim: number;
  seed: number | string;
  bands: number;
  rows: number;
  reversePages: number;
  /** Absent in states saved before shards existed: 1. */
  shards: number;
  sketchBits: number;
  bucketCap: number;
  /** The mean the index centres on; null: none; absent: not known yet (centre: true, nothing written). */
  mean?: number[] | null;
}

export interface IndexDescription extends SavedState {
  idType: IdType | null;
  /** Ids indexed. */
  ids: number;
  /** Ids indexed in each shard (one entry for an index of one shard). */
  shardIds: number[];
  /** Where a build stands: its state, the last id it wrote, and the rows it skipped (skipInvalid). */
  build: { state: string; cursor: string; skipped: number } | null;
  /** The store recorded with `recordStore`, or null. */
  store: StoreInfo | null;
}

export interface IndexStats extends Omit<IndexDescription, 'lshrs'> {
  /** Buckets by size: `[upTo, count]`, sizes in (upTo/2, upTo]. */
  bucketHistogram: [number, number][];
  /** The largest buckets, largest first. */
  largestBuckets: BucketSize[];
  /** Non-empty band buckets. */
  buckets: number;
  /**
   * Buckets at their cap (`bucketCap` records), with `records` more waiting in their overflow
   * lists: duplicate or near-identical vectors, or data in a narrow cone. Queries read only the
   * first `bucketCap` records of such a bucket, so recall suffers near them.
   */
  giantBuckets: { over: number; count: number; overflowRecords: number };
  /** Reverse-record hashes in use. */
  reversePagesUsed: number;
  /** MEMORY USAGE summed over every key of the index. */
  redisBytes: number;
  bytesPerId: number | null;
  /** Keys and bytes of the index on each data node: every master of a cluster, or the one server. */
  nodes: NodeFootprint[];
}

export interface InspectResult {
  id: Id;
  /** The id's shard (0 in an index of one shard). */
  shard: number;
  reverseKey: string;
  /** The id's ordinal: the first 4 bytes of each of its bucket records. */
  ordinal: number;
  /** Its band values and sketch, hex. */
  signature: string;
  /** Its buckets: records in each bucket string (`size`) and in its overflow list. */
  buckets: { band: number; value: number; key: string; size: number; overflow: number }[];
}

export type RuntimeOptions = Pick<
  LSHRSOptions,
  'redis' | 'store' | 'fetchVectors' | 'batchSize' | 'rerankCandidates' | 'probes' | 'waitForReplicas' | 'allowEviction'
>;

// The names each options object takes: any other is refused (JavaScript callers have no type check
// to catch a misspelt one, which would otherwise be ignored).
const LSHRS_OPTIONS = optionNames<LSHRSOptions>({
  redis: true,
  dim: true,
  store: true,
  fetchVectors: true,
  prefix: true,
  seed: true,
  numPerm: true,
  numBands: true,
  rowsPerBand: true,
  threshold: true,
  expectedSize: true,
  sketchBits: true,
  bucketCap: true,
  centre: true,
  reversePages: true,
  shards: true,
  waitForReplicas: true,
  batchSize: true,
  rerankCandidates: true,
  probes: true,
  allowEviction: true,
});
const RUNTIME_OPTIONS = optionNames<RuntimeOptions>({
  redis: true,
  store: true,
  fetchVectors: true,
  batchSize: true,
  rerankCandidates: true,
  probes: true,
  waitForReplicas: true,
  allowEviction: true,
});
const INDEX_OPTIONS = optionNames<IndexOptions>({ onProgress: true, signal: true, resume: true, total: true, skipInvalid: true });
const QUERY_OPTIONS = optionNames<QueryOptions>({
  topK: true,
  topP: true,
  rerank: true,
  rerankCandidates: true,
  probes: true,
  filter: true,
  columns: true,
  signal: true,
});

/** The option names of `new LSHRS(options)`. */
export const checkLshrsOptions = (options: object) => checkOptionNames(options, LSHRS_OPTIONS, 'LSHRS');
/** The runtime option names of `LSHRS.fromJSON` and, with `prefix`, of `LSHRS.open`. */
export const checkRuntimeOptions = (options: object, call: 'LSHRS.fromJSON' | 'LSHRS.open') =>
  checkOptionNames(options, call === 'LSHRS.open' ? [...RUNTIME_OPTIONS, 'prefix'] : RUNTIME_OPTIONS, call);
/** The option names of `index` (and, without `resume`, of `ingestParquet`). */
export const checkIndexOptions = (options: object, call: 'index' | 'ingestParquet') =>
  checkOptionNames(options, call === 'index' ? INDEX_OPTIONS : INDEX_OPTIONS.filter((name) => name !== 'resume'), call);

/**
 * Limits of what one query may ask for, so that no option value, however large, holds the host's
 * Redis for long: a query's MGET reads probes x bands buckets, each at most `bucketCap` records.
 */
/** Most buckets a query may read per band. */
export const MAX_PROBES = 4096;
/** Most candidates fetched and reranked (rerankCandidates). */
export const MAX_RERANK = 5_000;
/** Most results (topK). */
export const MAX_TOP_K = 10_000;

export const DEFAULTS = { prefix: 'lshrs', batchSize: 500, rerankCandidates: 500, topK: 10, topP: 1 } as const;

/**
 * Probes per band for an index of `bands` x `rows`. Planned from the size the rows are sized for
 * (sizedRows: n = 64 x 2^rows ids, buckets of ~64): the records a query must read for recall@10
 * of 0.9 grow as n^0.8 (about 100,000 at 1M ids, with a margin for real data over synthetic; see
 * BENCHMARKS.md), spread over every band's probes.
 */
export function defaultProbes(rows: number, bands = 4): number {
  const size = 64 * 2 ** rows;
  const records = 100_000 * (size / 1e6) ** 0.8;
  return Math.max(1, Math.min(MAX_PROBES, 2 ** Math.min(rows, 30), Math.ceil(records / (bands * 64))));
}

/** The query budget of a handle, or of one query. */
export interface QueryBudget {
  rerankCandidates: number;
  probes: number;
}

/** A query's options, resolved and validated against the handle's budget. */
export interface QueryPlan extends QueryBudget {
  topK: number;
  topP: number;
  rerank: boolean;
  /** The filter and columns, when the query has either. */
  match?: MatchRequest;
}

/** The handle-wide options of a write or query, resolved (the shape is resolved by resolveShape). */
export interface ResolvedOptions extends QueryBudget {
  prefix: string;
  batchSize: number;
}

export function resolveOptions(options: LSHRSOptions, rows: number, bands: number): ResolvedOptions {
  return {
    prefix: options.prefix ?? DEFAULTS.prefix,
    batchSize: intOption('batchSize', options.batchSize ?? DEFAULTS.batchSize, 1, 100_000),
    ...resolveBudget(options, { rerankCandidates: DEFAULTS.rerankCandidates, probes: defaultProbes(rows, bands) }),
  };
}

function resolveBudget(options: Partial<QueryBudget>, fallback: QueryBudget): QueryBudget {
  return {
    rerankCandidates: intOption('rerankCandidates', options.rerankCandidates ?? fallback.rerankCandidates, 1, MAX_RERANK),
    probes: intOption('probes', options.probes ?? fallback.probes, 1, MAX_PROBES),
  };
}

/** A query's plan: its options over the handle's budget; a reranked query needs a store. */
export function resolveQuery(options: QueryOptions, budget: QueryBudget, hasStore: boolean): QueryPlan {
  checkOptionNames(options, QUERY_OPTIONS, 'query');
  const topK = intOption('topK', options.topK ?? DEFAULTS.topK, 1, MAX_TOP_K);
  const topP = options.topP ?? DEFAULTS.topP;
  if (typeof topP !== 'number' || !(topP > 0 && topP <= 1)) {
    throw new LshrsError('BAD_OPTION', `topP must lie in (0, 1], got ${String(topP)}`);
  }
  const resolved = resolveBudget(options, budget);
  const rerank = options.rerank ?? true;
  if (rerank && !hasStore) {
    throw new LshrsError('NO_STORE', 'a reranked query needs a store or fetchVectors; pass rerank: false for the sketch ranking only');
  }
  const plan: QueryPlan = { topK, topP, rerank, ...resolved };
  if (options.filter === undefined && options.columns === undefined) return plan;
  if (!rerank) throw new LshrsError('BAD_OPTION', 'filter and columns are answered by the store: they need rerank: true');
  if (options.filter !== undefined) parseFilter(options.filter);
  if (options.columns !== undefined) checkColumnNames(options.columns);
  plan.match = { filter: options.filter, columns: options.columns };
  return plan;
}
