import { LshrsError } from './errors';
import { Hasher } from './hashing/hasher';
import { planesFingerprint } from './hashing/hyperplanes';
import { commonIdType, type Id } from './ids';
import {
  checkIndexOptions,
  checkLshrsOptions,
  checkRuntimeOptions,
  DEFAULTS,
  resolveOptions,
  type DeleteResult,
  type IndexDescription,
  type IndexItem,
  type IndexOptions,
  type IndexResult,
  type IndexStats,
  type InspectResult,
  type LSHRSOptions,
  type QueryOptions,
  type RuntimeOptions,
  type SavedState,
  type StoreInfo,
} from './options';
import { checkParquetColumns, countParquetRows, readParquet, type ParquetColumns } from './parquet/read';
import { resolveShape, type IndexShape } from './params/shape';
import { Searcher } from './query/search';
import type { Hit } from './query/rerank';
import { closeRedis, openRedis, type RedisClient } from './redis/connection';
import { decodeShape } from './redis/meta';
import { RedisIndex } from './redis/redis-index';
import { indexStats } from './redis/stats';
import type { VerifyReport } from './redis/verify';
import { callbackStore } from './stores/callback';
import type { VectorStore } from './stores/types';
import type { VectorLike } from './vectors';
import { checkOptionNames } from './validate';
import { Writer } from './write/writer';

/**
 * Nearest-neighbour search over a Redis of LSH buckets and the user's own vector store.
 * Constructing is synchronous and touches no server; the first call checks the stored parameters.
 * The facade wires the rooms together: writes go to write/, queries to query/, both through the
 * one RedisIndex (redis/), which alone knows keys, scripts and shards.
 */
export class LSHRS {
  readonly prefix: string;
  readonly shape: IndexShape;
  readonly batchSize: number;
  readonly rerankCandidates: number;
  readonly probes: number;
  private readonly redis: RedisClient;
  private ownsRedis: boolean;
  private readonly store?: VectorStore;
  private readonly redisIndex: RedisIndex;
  private readonly writer: Writer;
  private readonly searcher: Searcher;

  constructor(options: LSHRSOptions) {
    if (!options || typeof options !== 'object') throw new LshrsError('BAD_OPTION', 'LSHRS needs an options object');
    checkLshrsOptions(options);
    if (options.redis === undefined || options.redis === null) throw new LshrsError('BAD_OPTION', 'LSHRS needs a redis client or URL');
    if (options.store && options.fetchVectors) throw new LshrsError('BAD_OPTION', 'give either store or fetchVectors, not both');
    this.shape = resolveShape(options);
    const resolved = resolveOptions(options, this.shape.rows, this.shape.bands);
    ({ prefix: this.prefix, batchSize: this.batchSize, rerankCandidates: this.rerankCandidates, probes: this.probes } = resolved);
    this.store = options.store ?? (options.fetchVectors ? callbackStore(options.fetchVectors) : undefined);
    const hasher = new Hasher(this.shape);
    ({ client: this.redis, owned: this.ownsRedis } = openRedis(options.redis));
    this.redisIndex = new RedisIndex({
      client: this.redis,
      prefix: this.prefix,
      shape: this.shape,
      planes: planesFingerprint(hasher.planes),
      waitForReplicas: options.waitForReplicas,
      allowEviction: options.allowEviction,
    });
    this.writer = new Writer({ index: this.redisIndex, shape: this.shape, hasher, batchSize: this.batchSize, store: this.store });
    this.searcher = new Searcher({ index: this.redisIndex, shape: this.shape, hasher, budget: resolved, store: this.store });
  }

  /** Rebuilds an index handle from {@link LSHRS.toJSON}'s output. */
  static fromJSON(json: SavedState | string, runtime: RuntimeOptions): LSHRS {
    const state = (typeof json === 'string' ? JSON.parse(json) : json) as SavedState;
    if (state?.lshrs !== 1) throw new LshrsError('BAD_OPTION', 'not a saved lshrs state (expected { lshrs: 1, ... })');
    checkRuntimeOptions(runtime, 'LSHRS.fromJSON');
    return new LSHRS({
      ...runtime,
      prefix: state.prefix,
      dim: state.dim,
      seed: state.seed,
      numBands: state.bands,
      rowsPerBand: state.rows,
      reversePages: state.reversePages,
      shards: state.shards ?? 1,
      sketchBits: state.sketchBits,
      bucketCap: state.bucketCap,
      centre: state.mean === undefined ? true : state.mean === null ? false : state.mean,
    });
  }

  /**
   * Opens an index that exists in Redis, with the parameters stored in its meta hash (the CLI's
   * way in). Throws NOT_FOUND when there is no index under the prefix.
   */
  static async open(options: RuntimeOptions & { prefix?: string }): Promise<LSHRS> {
    checkRuntimeOptions(options, 'LSHRS.open');
    const prefix = options.prefix ?? DEFAULTS.prefix;
    const opened = openRedis(options.redis);
    try {
      const meta = await RedisIndex.readStoredMeta(opened.client, prefix);
      if (!meta.fingerprint) throw new LshrsError('NOT_FOUND', `there is no index "${prefix}" in Redis`);
      const lsh = new LSHRS({ ...options, redis: opened.client, prefix, ...decodeShape(meta) });
      lsh.ownsRedis = opened.owned;
      return lsh;
    } catch (err) {
      if (opened.owned) await closeRedis(opened.client);
      throw err;
    }
  }

  /** The saved state; its `mean` is known once the handle has written to or read the index. */
  toJSON(): SavedState {
    const { dim, seed, bands, rows, reversePages, shards, sketchBits, bucketCap } = this.shape;
    const mean = this.redisIndex.knownMean();
    return {
      lshrs: 1,
      prefix: this.prefix,
      dim,
      seed,
      bands,
      rows,
      reversePages,
      shards,
      sketchBits,
      bucketCap,
      ...(mean === undefined ? {} : { mean: mean && Array.from(mean) }),
    };
  }

  /** Upserts one item: its store row (when the store can write), then its buckets. */
  async ingest(id: Id, vector: VectorLike, text?: string | null): Promise<IndexResult> {
    return this.index([{ id, vector, text }]);
  }

  /**
   * Upserts many items, `batchSize` per script call; each batch is atomic in Redis. An array is
   * validated whole before anything is written; a stream batch by batch (earlier batches stay).
   * With no items, builds the index from the whole store (see {@link IndexOptions.resume}).
   */
  async index(items?: Iterable<IndexItem> | AsyncIterable<IndexItem>, options: IndexOptions = {}): Promise<IndexResult> {
    checkIndexOptions(options, 'index');
    if (items === undefined || items === null) return this.writer.build(options);
    return this.writer.index(items, options);
  }

  /**
   * Streams a parquet file into the store (when it can write) and the index, in bounded memory
   * whatever the file's row groups. Progress totals come from the file's footer.
   */
  async ingestParquet(path: string, columns: ParquetColumns = {}, options: Omit<IndexOptions, 'resume'> = {}): Promise<IndexResult> {
    checkParquetColumns(columns);
    checkIndexOptions(options, 'ingestParquet');
    const total = options.onProgress ? await countParquetRows(path) : undefined;
    return this.index(readParquet(path, columns), { ...options, total });
  }

  /** Removes ids from every bucket through their reverse records, then their store rows. */
  async delete(idOrIds: Id | readonly Id[]): Promise<DeleteResult> {
    return this.writer.delete(idOrIds);
  }

  /** The nearest items to `vector`: candidates from the buckets, reranked by exact cosine. */
  async query(vector: VectorLike, options: QueryOptions = {}): Promise<Hit[]> {
    return this.searcher.query(vector, options);
  }

  /**
   * "More like this": the nearest items to an id already indexed, the id itself left out. Reranked,
   * its vector comes from the store; with `rerank: false`, its buckets come from its reverse record.
   */
  async similar(id: Id, options: QueryOptions = {}): Promise<Hit[]> {
    return this.searcher.similar(id, options);
  }

  /** The index's parameters, id type, id count and build state, from its meta hashes alone (cheap). */
  async describe(): Promise<IndexDescription> {
    const summary = await this.redisIndex.summary();
    return { ...this.toJSON(), ...summary };
  }

  /**
   * Records in the index's meta which store it is built from (`describe().store`), for tools that
   * open it by prefix alone, as the command line does. Descriptive only: queries and writes never
   * read it. Returns false, recording nothing, while the index does not exist yet (nothing written).
   */
  async recordStore(info: StoreInfo): Promise<boolean> {
    if (!info || typeof info !== 'object' || typeof info.kind !== 'string' || info.kind === '') {
      throw new LshrsError('BAD_OPTION', 'recordStore needs { kind, ... } with a non-empty kind');
    }
    return this.redisIndex.setMetaField('store', JSON.stringify(info));
  }

  /** Parameters, counts and Redis memory of the index (walks its keys with SCAN: an ops call). */
  async stats(): Promise<IndexStats> {
    const { lshrs: _version, ...description } = await this.describe();
    return indexStats(description, await this.redisIndex.footprint());
  }

  /** An id's buckets and their sizes, from its reverse record; null when the id is not indexed. */
  async inspect(id: Id): Promise<InspectResult | null> {
    commonIdType([id]);
    const found = await this.redisIndex.idBuckets(id);
    if (!found) return null;
    return {
      id,
      shard: found.shard,
      reverseKey: found.reverseKey,
      ordinal: found.ordinal,
      signature: found.signature.toString('hex'),
      buckets: found.buckets,
    };
  }

  /**
   * Checks the index: every reverse record matches bucket membership, every bucket member has a
   * reverse record, the id count is right, every id has a store row (when the store can tell), and
   * every store row is indexed (when the store can be read in id order). With `repair`, mends what
   * it finds (ids missing from the store leave the index, rows missing from the index join it). An
   * ops call.
   */
  async verify(options: { repair?: boolean } = {}): Promise<VerifyReport> {
    checkOptionNames(options, ['repair'], 'verify');
    const repair = options.repair ?? false;
    const report = await this.redisIndex.verify({ repair, batchSize: this.batchSize, existing: this.store?.existing?.bind(this.store) });
    if (!this.store?.scan) return report;
    // The store's side: rows the index lacks (a wipe, a rollback, a lost write), in id order.
    const unindexed = await this.writer.findUnindexed(repair);
    report.missingFromIndex = unindexed.missing;
    report.invalidRows = unindexed.invalid;
    report.examples.missingFromIndex = unindexed.examples;
    report.consistent &&= unindexed.missing === 0;
    if (repair && unindexed.missing > 0) report.reindexed = unindexed.reindexed;
    return report;
  }

  /**
   * Removes every key of this index and nothing else (vectors of a RedisVectorStore stay). Works
   * whatever parameters the index was created with: it is how an index is rebuilt with new ones.
   */
  async clear(): Promise<number> {
    return this.redisIndex.clear();
  }

  /** Closes what lshrs opened: a Redis it connected to from a URL, and the store's own connections. */
  async close(): Promise<void> {
    if (this.ownsRedis) await closeRedis(this.redis);
    await this.store?.close?.();
  }
}
