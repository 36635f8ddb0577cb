import { LshrsError } from './errors';
import { hyperplanes, planesFingerprint } from './hashing/hyperplanes';
import { bandValues, bytesPerBand, packSignature, unpackSignature } from './hashing/signatures';
import { probeSequence, projections, type Probe } from './hashing/probes';
import { commonIdType, decodeId, pageOf, type Id, type IdType } from './ids';
import { fingerprint, mismatchError, resolveShape, shapeFields, type IndexShape, type ShapeOptions } from './params/shape';
import { closeRedis, openRedis, type RedisClient } from './redis/connection';
import {
  clearIndex,
  insertBatch,
  measureIndex,
  queryBuckets,
  readMeta,
  removeBatch,
  type BucketSize,
  type CandidateList,
  type InsertEntry,
  type NodeFootprint,
  type ScriptContext,
} from './redis/index-ops';
import { verifyIndex, type VerifyReport } from './redis/verify';
import { countParquetRows, readParquet, type ParquetColumns } from './parquet/read';
import { indexKeys, indexLayout, type IndexKeys, type IndexLayout } from './redis/keys';
import { checkWaitForReplicas, confirmReplicas, mergeCandidates, settleAll, shardBudget, splitByShard, type WaitForReplicas } from './redis/fanout';
import { rerankByCosine, type Hit } from './rerank';
import { runPipeline, type BuildProgress } from './build/pipeline';
import { storePages, type StorePage } from './build/store-pages';
import { callbackStore } from './stores/callback';
import type { FetchVectors, StoredItem, StoreWrite, VectorStore } from './stores/types';
import { toFloat32, writeVector, type VectorLike } from './vectors';

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
  /** Bands; with `rowsPerBand`, overrides the planner. @defaultValue planned from numPerm and threshold (16 for the defaults) */
  numBands?: number;
  /** Hyperplanes per band (at most 32). @defaultValue planned (8 for the defaults) */
  rowsPerBand?: number;
  /** Cosine at which the planner balances false positives and false negatives. @defaultValue 0.5 */
  threshold?: number;
  /**
   * Ids the index is planned for. With no bands and rows given, the index gets 16 bands of
   * `sizedRows(expectedSize)` rows (buckets of 64 ids or fewer on average; 8 rows up to 16,384 ids,
   * 14 at 1M, 17 at 6.4M), and queries read `defaultProbes(rows)` buckets per band. Fixed for the
   * life of the index, as the rows are. @defaultValue none: the numPerm/threshold planner (16 x 8)
   */
  expectedSize?: number;
  /** Hashes the reverse records are spread over (in each shard); fixed for the life of the index. @defaultValue 65536 */
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
  /** Ids per script call when indexing or deleting. @defaultValue 500 */
  batchSize?: number;
  /** Stage 1 of a query: candidates kept, best by collisions. @defaultValue 4000 */
  maxCandidates?: number;
  /** Stage 2: of those, how many are fetched and reranked, closest by Hamming distance (0: skip). @defaultValue 500 */
  rerankCandidates?: number;
  /**
   * Multi-probe: buckets a query reads per band on average, its own and the ones a few bit flips
   * away (the flips it is least sure of first, over all bands together); 1 reads its own only.
   * @defaultValue defaultProbes(rows): 2 at 8 rows per band (or fewer), doubling with every row more, at most 16
   */
  probes?: number;
}

/** One item to index. */
export interface IndexItem {
  id: Id;
  vector: VectorLike;
  text?: string | null;
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
}

export interface QueryOptions {
  /** Results to return. @defaultValue 10 */
  topK?: number;
  /** Fraction of the collision-ranked candidates that is fetched and reranked, in (0, 1]. @defaultValue 1 */
  topP?: number;
  /** `false` returns the collision ranking without touching the store. @defaultValue true */
  rerank?: boolean;
  /** Stage 1: candidates kept, best by collisions, for this query. @defaultValue the index's maxCandidates */
  maxCandidates?: number;
  /**
   * Stage 2: of those, how many go to the rerank, closest by Hamming distance of the whole
   * signature (computed in the same script call); 0 skips stage 2. @defaultValue the index's rerankCandidates
   */
  rerankCandidates?: number;
  /** Buckets read per band on average (see LSHRSOptions.probes). @defaultValue the index's probes */
  probes?: number;
}

export interface IndexResult {
  /** Ids new to the index. */
  added: number;
  /** Ids that were indexed already and whose buckets changed. */
  moved: number;
  /** Ids indexed already with the same signature. */
  unchanged: number;
}

export interface DeleteResult {
  removed: number;
  /** Ids that were not in the index. */
  unknown: number;
}

export interface IndexDescription extends SavedState {
  idType: IdType | null;
  /** Ids indexed. */
  ids: number;
  /** Ids indexed in each shard (one entry for an index of one shard). */
  shardIds: number[];
  /** Where a build stands: its state and the last id it wrote. */
  build: { state: string; cursor: string } | null;
}

export interface IndexStats extends Omit<IndexDescription, 'lshrs'> {
  /** Buckets by size: `[upTo, count]`, sizes in (upTo/2, upTo]. */
  bucketHistogram: [number, number][];
  /** The largest buckets, largest first. */
  largestBuckets: BucketSize[];
  /** Non-empty band buckets. */
  buckets: number;
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
  /** The stored signature, hex. */
  signature: string;
  buckets: { band: number; value: number; key: string; size: number }[];
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
}

export type RuntimeOptions = Pick<LSHRSOptions, 'redis' | 'store' | 'fetchVectors' | 'batchSize' | 'maxCandidates' | 'rerankCandidates' | 'probes' | 'waitForReplicas'>;

interface PreparedBatch {
  idType: IdType;
  ids: Id[];
  vectors: Float32Array;
  texts: (string | null | undefined)[];
  /** Write the rows to the store too (not when they come from it). */
  toStore: boolean;
  /** Meta fields set in the same script call, e.g. a build's position. */
  setMeta?: Record<string, string>;
}

interface HashedBatch {
  batch: PreparedBatch;
  entries: InsertEntry[];
}

/** Most buckets a query may read per band on average. */
export const MAX_PROBES = 1024;

/**
 * Probes per band for an index of `rows` rows per band: longer bands make smaller buckets that a
 * near neighbour misses more often, so a query reads more of them (measured in BENCHMARKS.md). At
 * most 16: at 1M ids (14 rows) 64 probes cost a 355 ms script call, past any latency goal.
 */
export function defaultProbes(rows: number): number {
  return Math.min(16, Math.max(2, 2 ** (rows - 7)));
}

function baseProbes(values: ArrayLike<number>): Probe[] {
  return Array.from(values, (value, band) => ({ band, value }));
}

const DEFAULTS = { prefix: 'lshrs', batchSize: 500, maxCandidates: 4000, rerankCandidates: 500, topK: 10, topP: 1 } as const;

function intOption(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new LshrsError('BAD_OPTION', `${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/**
 * Nearest-neighbour search over a Redis of LSH buckets and the user's own vector store.
 * Constructing is synchronous and touches no server; the first call checks the stored parameters.
 */
export class LSHRS {
  readonly prefix: string;
  readonly shape: IndexShape;
  readonly batchSize: number;
  readonly maxCandidates: number;
  readonly rerankCandidates: number;
  readonly probes: number;
  private readonly redis: RedisClient;
  private ownsRedis: boolean;
  private readonly store?: VectorStore;
  private readonly layout: IndexLayout;
  /** The root keys: the whole index with one shard; with several, the index-level meta. */
  private readonly keys: IndexKeys;
  private readonly planes: Float32Array;
  /** Script context of the root keys. */
  private readonly ctx: ScriptContext;
  /** Script context of each shard (`[ctx]` with one shard). */
  private readonly shardCtx: readonly ScriptContext[];
  private readonly metaFields: Record<string, string>;
  private readonly waitForReplicas?: WaitForReplicas;
  /** The stored id type, once the first call has read the meta (undefined: not read or empty index). */
  private idType?: IdType;
  private metaChecked = false;
  /** Sharded: this handle has made sure the root and every shard hold the meta (see prepareShards). */
  private shardsReady = false;

  constructor(options: LSHRSOptions) {
    if (!options || typeof options !== 'object') throw new LshrsError('BAD_OPTION', 'LSHRS needs an options object');
    if (options.redis === undefined || options.redis === null) throw new LshrsError('BAD_OPTION', 'LSHRS needs a redis client or URL');
    if (options.store && options.fetchVectors) throw new LshrsError('BAD_OPTION', 'give either store or fetchVectors, not both');
    this.shape = resolveShape(options);
    this.prefix = options.prefix ?? DEFAULTS.prefix;
    this.layout = indexLayout(this.prefix, this.shape.shards);
    this.keys = this.layout.root;
    this.waitForReplicas = checkWaitForReplicas(options.waitForReplicas);
    this.batchSize = intOption('batchSize', options.batchSize ?? DEFAULTS.batchSize, 1, 100_000);
    this.maxCandidates = intOption('maxCandidates', options.maxCandidates ?? DEFAULTS.maxCandidates, 1, 1_000_000);
    this.rerankCandidates = intOption('rerankCandidates', options.rerankCandidates ?? DEFAULTS.rerankCandidates, 0, 1_000_000);
    this.probes = intOption('probes', options.probes ?? defaultProbes(this.shape.rows), 1, MAX_PROBES);
    this.store = options.store ?? (options.fetchVectors ? callbackStore(options.fetchVectors) : undefined);
    this.planes = hyperplanes(this.shape.dim, this.shape.bands * this.shape.rows, this.shape.seed);
    this.metaFields = shapeFields(this.shape, planesFingerprint(this.planes));
    ({ client: this.redis, owned: this.ownsRedis } = openRedis(options.redis));
    this.ctx = {
      client: this.redis,
      keys: this.keys,
      fingerprint: fingerprint(this.metaFields),
      bands: this.shape.bands,
      bytesPerBand: bytesPerBand(this.shape.rows),
      metaFields: this.metaFields,
      onMismatch: (stored) => mismatchError(this.prefix, stored, this.metaFields),
    };
    this.shardCtx = this.shape.shards === 1 ? [this.ctx] : this.layout.shards.map((keys) => ({ ...this.ctx, keys }));
  }

  /** Rebuilds an index handle from {@link LSHRS.toJSON}'s output. */
  static fromJSON(json: SavedState | string, runtime: RuntimeOptions): LSHRS {
    const state = (typeof json === 'string' ? JSON.parse(json) : json) as SavedState;
    if (!state || state.lshrs !== 1) throw new LshrsError('BAD_OPTION', 'not a saved lshrs state (expected { lshrs: 1, ... })');
    return new LSHRS({
      ...runtime,
      prefix: state.prefix,
      dim: state.dim,
      seed: state.seed,
      numBands: state.bands,
      rowsPerBand: state.rows,
      reversePages: state.reversePages,
      shards: state.shards ?? 1,
    });
  }

  /**
   * Opens an index that exists in Redis, with the parameters stored in its meta hash (the CLI's
   * way in). Throws NOT_FOUND when there is no index under the prefix.
   */
  static async open(options: RuntimeOptions & { prefix?: string }): Promise<LSHRS> {
    const prefix = options.prefix ?? DEFAULTS.prefix;
    const opened = openRedis(options.redis);
    try {
      const meta = await opened.client.hgetall(indexKeys(prefix).meta);
      if (!meta.fingerprint) throw new LshrsError('NOT_FOUND', `there is no index "${prefix}" in Redis`);
      const lsh = new LSHRS({
        ...options,
        redis: opened.client,
        prefix,
        dim: Number(meta.dim),
        seed: meta.seed.startsWith('s:') ? meta.seed.slice(2) : Number(meta.seed),
        numBands: Number(meta.bands),
        rowsPerBand: Number(meta.rows),
        reversePages: Number(meta.reversePages),
        shards: Number(meta.shards ?? 1),
      });
      lsh.ownsRedis = opened.owned;
      return lsh;
    } catch (err) {
      if (opened.owned) await closeRedis(opened.client);
      throw err;
    }
  }

  toJSON(): SavedState {
    const { dim, seed, bands, rows, reversePages, shards } = this.shape;
    return { lshrs: 1, prefix: this.prefix, dim, seed, bands, rows, reversePages, shards };
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
    if (items === undefined || items === null) return this.buildFromStore(options);
    const stage = this.pipelineStage();
    if (Array.isArray(items)) {
      const list = items as IndexItem[];
      const prepared: PreparedBatch[] = [];
      for (let i = 0; i < list.length; i += this.batchSize) prepared.push(this.prepare(list.slice(i, i + this.batchSize)));
      if (prepared.length > 1) this.checkOneIdType(prepared);
      return runPipeline(prepared, stage, { ...options, total: list.length });
    }
    const batchSize = this.batchSize;
    const prepare = (batch: IndexItem[]) => this.prepare(batch);
    async function* batches(): AsyncGenerator<PreparedBatch> {
      let pending: IndexItem[] = [];
      for await (const item of items as AsyncIterable<IndexItem>) {
        pending.push(item);
        if (pending.length === batchSize) {
          yield prepare(pending);
          pending = [];
        }
      }
      if (pending.length > 0) yield prepare(pending);
    }
    return runPipeline(batches(), stage, { ...options, total: options.total ?? null });
  }

  /**
   * Streams a parquet file into the store (when it can write) and the index, in bounded memory
   * whatever the file's row groups. Progress totals come from the file's footer.
   */
  async ingestParquet(path: string, columns: ParquetColumns = {}, options: Omit<IndexOptions, 'resume'> = {}): Promise<IndexResult> {
    const total = options.onProgress ? await countParquetRows(path) : undefined;
    return this.index(readParquet(path, columns), { ...options, total });
  }

  /**
   * Builds the index from every row of the store, in id order with bounded memory. Each batch
   * records its last id in the root meta hash once the whole batch has landed (with one shard, in
   * the same script call), so a build killed at any point resumes after the last batch that landed
   * whole, and redoes at most the one it was writing (see {@link LSHRS.insertEntries}).
   */
  private async buildFromStore(options: IndexOptions): Promise<IndexResult> {
    const store = this.store;
    if (!store?.scan) {
      throw new LshrsError('NO_STORE', 'index() with no items builds from the store, and this store cannot be read in id order');
    }
    const meta = await this.checkedMeta();
    const idType: IdType = (await store.idKind?.()) ?? 'str';
    await this.checkBeforeWrite(idType);
    const after = options.resume && meta.buildCursor ? meta.buildCursor : null;
    if (!after) await this.redis.hdel(this.keys.meta, 'buildCursor');
    const total = store.count ? await store.count(after) : null;
    const toBatch = (page: StorePage): PreparedBatch => ({
      ...this.prepareStored(page.rows, idType),
      setMeta: { buildCursor: page.last, buildState: 'running' },
    });
    const counts = await runPipeline(storePages({ scan: store.scan.bind(store) }, after, this.batchSize), {
      size: (page: StorePage) => page.rows.length,
      hash: (page: StorePage) => this.hashBatch(toBatch(page)),
      write: (hashed: HashedBatch) => this.writeHashed(hashed),
    }, { ...options, total });
    if ((await this.redis.hexists(this.keys.meta, 'fingerprint')) === 1) {
      await this.redis.hset(this.keys.meta, 'buildState', 'done');
    }
    return counts;
  }

  /** Removes ids from every bucket through their reverse records, then their store rows. */
  async delete(idOrIds: Id | readonly Id[]): Promise<DeleteResult> {
    const ids = [...new Set(Array.isArray(idOrIds) ? (idOrIds as Id[]) : [idOrIds as Id])];
    const result: DeleteResult = { removed: 0, unknown: 0 };
    const idType = commonIdType(ids);
    if (!idType) return result;
    await this.checkBeforeWrite(idType);
    for (let i = 0; i < ids.length; i += this.batchSize) {
      const batch = ids.slice(i, i + this.batchSize);
      const entries = batch.map((id) => ({ id: String(id), page: pageOf(id, this.shape.reversePages) }));
      // One script call per shard the batch touches, in parallel: each id leaves atomically.
      const parts = splitByShard(entries, (e) => this.layout.shardOf(e.id));
      const counts = await settleAll([...parts].map(([k, part]) => removeBatch(this.shardCtx[k], idType, part)));
      for (const c of counts) {
        result.removed += c.removed;
        result.unknown += c.unknown;
      }
      await this.confirmReplicas(parts.keys());
      if (this.store?.delete) await this.store.delete(batch);
    }
    return result;
  }

  /** The nearest items to `vector`: candidates from the buckets, reranked by exact cosine. */
  async query(vector: VectorLike, options: QueryOptions = {}): Promise<Hit[]> {
    const plan = this.queryPlan(options);
    const q = toFloat32(vector, this.shape.dim, 'query');
    return this.searchVector(q, plan);
  }

  /** Hashes a query vector, lists the buckets it probes, and searches them. */
  private searchVector(q: Float32Array, plan: ReturnType<LSHRS['queryPlan']>): Promise<Hit[]> {
    const values = bandValues(q, 1, this.planes, this.shape);
    const { bands, rows } = this.shape;
    const probes =
      plan.probes > 1 ? probeSequence(values, projections(q, this.planes, this.shape.dim), bands, rows, plan.probes) : baseProbes(values);
    return this.search(probes, packSignature(values, 0, bands, rows), q, plan);
  }

  /**
   * "More like this": the nearest items to an id already indexed, the id itself left out. Reranked,
   * its vector comes from the store; with `rerank: false`, its buckets come from its reverse record.
   */
  async similar(id: Id, options: QueryOptions = {}): Promise<Hit[]> {
    commonIdType([id]);
    const plan = this.queryPlan(options);
    const wider = { ...plan, topK: plan.topK + 1 };
    let hits: Hit[];
    if (plan.rerank) {
      const row = [...(await (this.store as VectorStore).fetch([id]))].find((r) => String(r.id) === String(id));
      if (!row) throw new LshrsError('NOT_FOUND', `id ${JSON.stringify(id)} has no row in the store`);
      const q = toFloat32(row.vector, this.shape.dim, `stored vector of id ${JSON.stringify(id)}`);
      hits = await this.searchVector(q, wider);
    } else {
      const reverseKey = this.layout.shards[this.layout.shardOf(id)].reverse(pageOf(id, this.shape.reversePages));
      const signature = await this.redis.hgetBuffer(reverseKey, String(id));
      if (!signature) throw new LshrsError('NOT_FOUND', `id ${JSON.stringify(id)} is not in the index`);
      // No vector, no projections: only the id's own buckets are read.
      hits = await this.search(baseProbes(unpackSignature(signature, this.shape.bands, this.shape.rows)), signature, null, wider);
    }
    return hits.filter((hit) => String(hit.id) !== String(id)).slice(0, plan.topK);
  }

  private queryPlan(options: QueryOptions) {
    const topK = intOption('topK', options.topK ?? DEFAULTS.topK, 1, 1_000_000);
    const topP = options.topP ?? DEFAULTS.topP;
    if (typeof topP !== 'number' || !(topP > 0 && topP <= 1)) {
      throw new LshrsError('BAD_OPTION', `topP must lie in (0, 1], got ${String(topP)}`);
    }
    const limit = intOption('maxCandidates', options.maxCandidates ?? this.maxCandidates, 1, 1_000_000);
    const closest = intOption('rerankCandidates', options.rerankCandidates ?? this.rerankCandidates, 0, 1_000_000);
    const probes = intOption('probes', options.probes ?? this.probes, 1, MAX_PROBES);
    const rerank = options.rerank ?? true;
    if (rerank && !this.store) {
      throw new LshrsError('NO_STORE', 'a reranked query needs a store or fetchVectors; pass rerank: false for the collision ranking only');
    }
    return { topK, topP, limit, closest, rerank, probes };
  }

  /** One script call for the candidates, then (reranked) one store fetch and exact cosines. */
  private async search(
    probes: readonly Probe[],
    signature: Buffer,
    q: Float32Array | null,
    plan: ReturnType<LSHRS['queryPlan']>,
  ): Promise<Hit[]> {
    const found = await this.candidates(probes, signature, plan);
    if (!found.idType || found.ids.length === 0) return [];
    this.idType = found.idType;
    const ids = found.ids.map((raw) => decodeId(raw, found.idType as IdType));
    if (!plan.rerank || !q) {
      const bits = this.shape.bands * this.shape.rows;
      // Without vectors: the cosine a Hamming distance implies (SimHash), or the share of bands.
      const estimate = (i: number) =>
        found.hamming[i] >= 0 ? Math.cos((Math.PI * found.hamming[i]) / bits) : found.collisions[i] / this.shape.bands;
      return ids.slice(0, plan.topK).map((id, i) => ({ id, score: estimate(i), collisions: found.collisions[i] }));
    }
    const take = Math.ceil(plan.topP * ids.length);
    const candidates = { ids: ids.slice(0, take), collisions: found.collisions.slice(0, take) };
    const rows = await (this.store as VectorStore).fetch(candidates.ids);
    return rerankByCosine(q, candidates, rows, plan.topK);
  }

  /**
   * The query's candidates: one script call, or with shards one per shard, sent together, and
   * their lists merged (see shardBudget and mergeCandidates in redis/fanout.ts).
   */
  private async candidates(probes: readonly Probe[], signature: Buffer, plan: { limit: number; closest: number }): Promise<CandidateList> {
    const request = (keys: IndexKeys, limit: number, closest: number) => ({
      bucketKeys: probes.map((p) => keys.bucket(p.band, p.value)),
      signature,
      limit,
      closest,
      reversePages: this.shape.reversePages,
    });
    if (this.shardCtx.length === 1) return queryBuckets(this.ctx, request(this.keys, plan.limit, plan.closest));
    // The shards' scripts see only their own meta, not the root's: a handle of another shard
    // count (whose shard 0 holds no meta, say) is refused here, once, from the root's parameters.
    if (!this.metaChecked) await this.checkedMeta();
    const budget = shardBudget(plan.limit, plan.closest, this.shardCtx.length);
    const lists = await settleAll(this.shardCtx.map((ctx) => queryBuckets(ctx, request(ctx.keys, budget.limit, budget.closest))));
    return mergeCandidates(lists, plan.limit, plan.closest);
  }

  /** The index's parameters, id type, id count and build state, from its meta hashes alone (cheap). */
  async describe(): Promise<IndexDescription> {
    const meta = await this.checkedMeta();
    const shardMetas = this.shardCtx.length === 1 ? [meta] : await Promise.all(this.shardCtx.map((ctx) => this.redis.hmget(ctx.keys.meta, 'ids', 'idType')));
    const shardIds = shardMetas.map((m) => Number((Array.isArray(m) ? m[0] : m.ids) ?? 0));
    const idType = meta.idType ?? shardMetas.map((m) => (Array.isArray(m) ? m[1] : m.idType)).find((t) => t);
    return {
      ...this.toJSON(),
      idType: idType === 'int' || idType === 'str' ? idType : null,
      ids: shardIds.reduce((a, b) => a + b, 0),
      shardIds,
      build: meta.buildState ? { state: meta.buildState, cursor: meta.buildCursor ?? '' } : null,
    };
  }

  /** Parameters, counts and Redis memory of the index (walks its keys with SCAN: an ops call). */
  async stats(): Promise<IndexStats> {
    const { lshrs: _version, ...description } = await this.describe();
    const footprint = await measureIndex(this.redis, this.layout);
    return {
      ...description,
      buckets: footprint.buckets,
      reversePagesUsed: footprint.reversePagesUsed,
      redisBytes: footprint.bytes,
      bytesPerId: description.ids > 0 ? footprint.bytes / description.ids : null,
      bucketHistogram: footprint.histogram,
      largestBuckets: footprint.largest,
      nodes: footprint.nodes,
    };
  }

  /** An id's buckets and their sizes, from its reverse record; null when the id is not indexed. */
  async inspect(id: Id): Promise<InspectResult | null> {
    commonIdType([id]);
    await this.checkedMeta();
    const page = pageOf(id, this.shape.reversePages);
    const shard = this.layout.shardOf(id);
    const keys = this.layout.shards[shard];
    const signature = await this.redis.hgetBuffer(keys.reverse(page), String(id));
    if (!signature) return null;
    const values = unpackSignature(signature, this.shape.bands, this.shape.rows);
    const bucketKeys = values.map((value, band) => keys.bucket(band, value));
    const sizes = await Promise.all(bucketKeys.map((key) => this.redis.scard(key)));
    return {
      id,
      shard,
      reverseKey: keys.reverse(page),
      signature: signature.toString('hex'),
      buckets: values.map((value, band) => ({ band, value, key: bucketKeys[band], size: sizes[band] })),
    };
  }

  /**
   * Checks the index: every reverse record matches bucket membership, every bucket member has a
   * reverse record, the id count is right, and every id has a store row (when the store can tell).
   * With `repair`, mends what it finds (ids missing from the store leave the index). An ops call.
   */
  async verify(options: { repair?: boolean } = {}): Promise<VerifyReport> {
    await this.checkedMeta();
    return verifyIndex(
      {
        layout: this.layout,
        shards: this.shardCtx,
        rows: this.shape.rows,
        reversePages: this.shape.reversePages,
        batchSize: this.batchSize,
        existing: this.store?.existing?.bind(this.store),
      },
      options.repair ?? false,
    );
  }

  /**
   * Removes every key of this index and nothing else (vectors of a RedisVectorStore stay). Works
   * whatever parameters the index was created with: it is how an index is rebuilt with new ones.
   */
  async clear(): Promise<number> {
    const removed = await clearIndex(this.redis, this.layout);
    this.shardsReady = false;
    this.metaChecked = false;
    this.idType = undefined;
    return removed;
  }

  /** Closes what lshrs opened: a Redis it connected to from a URL, and the store's own connections. */
  async close(): Promise<void> {
    if (this.ownsRedis) await closeRedis(this.redis);
    await this.store?.close?.();
  }

  /** Reads the stored meta and refuses an index created with other parameters. */
  private async checkedMeta(): Promise<Record<string, string>> {
    const meta = await readMeta(this.ctx);
    if (meta.fingerprint !== undefined && meta.fingerprint !== this.ctx.fingerprint) throw this.ctx.onMismatch(meta);
    this.metaChecked = true;
    if (meta.idType === 'int' || meta.idType === 'str') this.idType = meta.idType;
    return meta;
  }

  /**
   * Before the first write touches the store: the parameters and the id type must match the index,
   * so a refused batch changes neither Redis nor the store. The scripts check both again, atomically.
   */
  private async checkBeforeWrite(idType: IdType): Promise<void> {
    if (!this.metaChecked || !this.idType) await this.checkedMeta();
    if (this.idType && this.idType !== idType) {
      const held = this.idType === 'int' ? 'integer' : 'string';
      throw new LshrsError('ID_TYPE', `index "${this.prefix}" holds ${held} ids; got ${held === 'integer' ? 'string' : 'integer'} ids`);
    }
  }

  private checkOneIdType(batches: PreparedBatch[]): void {
    const first = batches[0];
    const other = batches.find((b) => b.idType !== first.idType);
    if (other) {
      throw new LshrsError('ID_TYPE', `ids mix integers and strings (${JSON.stringify(first.ids[0])} and ${JSON.stringify(other.ids[0])})`);
    }
  }

  /** Validates a batch and keeps the last occurrence of a repeated id. */
  private prepare(items: readonly IndexItem[]): PreparedBatch {
    const lastIndex = new Map<string, number>();
    items.forEach((item, i) => {
      if (!item || typeof item !== 'object') throw new LshrsError('BAD_ID', `item ${i} is not an object with id and vector`);
      lastIndex.set(`${typeof item.id}:${String(item.id)}`, i);
    });
    const kept = items.filter((item, i) => lastIndex.get(`${typeof item.id}:${String(item.id)}`) === i);
    const idType = commonIdType(kept.map((item) => item.id)) as IdType;
    const { dim } = this.shape;
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

  private pipelineStage() {
    return {
      size: (batch: PreparedBatch) => batch.ids.length,
      hash: (batch: PreparedBatch) => this.hashBatch(batch),
      write: (hashed: HashedBatch) => this.writeHashed(hashed),
    };
  }

  /** Rows read from the store, validated like any input; their ids arrive as text. */
  private prepareStored(rows: readonly StoredItem[], idType: IdType): PreparedBatch {
    const { dim } = this.shape;
    const vectors = new Float32Array(rows.length * dim);
    const ids = rows.map((row, i) => {
      const id = decodeId(String(row.id), idType);
      writeVector(row.vector, dim, vectors, i * dim, `row ${String(row.id)} of the store`);
      return id;
    });
    commonIdType(ids);
    return { idType, ids, vectors, texts: [], toStore: false };
  }

  /** The CPU part of a write: band values and packed signatures. */
  private hashBatch(batch: PreparedBatch): HashedBatch {
    const { bands, rows, reversePages } = this.shape;
    const values = bandValues(batch.vectors, batch.ids.length, this.planes, this.shape);
    const entries = batch.ids.map((id, i) => ({
      id: String(id),
      page: pageOf(id, reversePages),
      signature: packSignature(values, i * bands, bands, rows),
    }));
    return { batch, entries };
  }

  /** The I/O part: the store rows first (when the store writes), then one script call per shard. */
  private async writeHashed({ batch, entries }: HashedBatch): Promise<IndexResult> {
    const { dim } = this.shape;
    await this.checkBeforeWrite(batch.idType);
    if (batch.toStore && this.store?.upsert) {
      const writes: StoreWrite[] = batch.ids.map((id, i) => ({
        id,
        vector: batch.vectors.subarray(i * dim, (i + 1) * dim),
        text: batch.texts[i],
      }));
      await this.store.upsert(writes);
    }
    const counts = await this.insertEntries(batch.idType, entries, batch.setMeta);
    this.idType = batch.idType;
    return counts;
  }

  /**
   * Upserts hashed entries. With one shard: one script call, `setMeta` (a build's position) in it,
   * atomically. With several: one call per shard the batch touches, in parallel, each atomic for
   * its ids; then, once every part has landed, `setMeta` in the root meta. The position thus only
   * ever names batches that landed whole: a build killed between the parts and the position redoes
   * that one batch on resume (its ids come back unchanged), and one killed mid-batch never skips
   * the parts that had not landed. Recording it on every shard instead would leave shards a batch
   * missed with an older position, and the resume point the minimum of all of them.
   */
  private async insertEntries(idType: IdType, entries: InsertEntry[], setMeta?: Record<string, string>): Promise<IndexResult> {
    const totals: IndexResult = { added: 0, moved: 0, unchanged: 0 };
    const add = (c: IndexResult) => {
      totals.added += c.added;
      totals.moved += c.moved;
      totals.unchanged += c.unchanged;
    };
    if (this.shardCtx.length === 1) {
      add(await insertBatch(this.ctx, idType, entries, setMeta));
      await this.confirmReplicas([0]);
      return totals;
    }
    await this.prepareShards(idType);
    const parts = splitByShard(entries, (e) => this.layout.shardOf(e.id));
    const results = await settleAll([...parts].map(([k, part]) => insertBatch(this.shardCtx[k], idType, part)));
    results.forEach(add);
    if (results.some((r) => r.created)) {
      // A shard had no meta, so the index was cleared since this handle prepared it: the root meta
      // is gone too. Put it (and every shard's) back.
      this.shardsReady = false;
      await this.prepareShards(idType);
    }
    await this.confirmReplicas(parts.keys());
    if (setMeta) await insertBatch(this.ctx, idType, [], setMeta);
    return totals;
  }

  /**
   * Before a sharded handle's first write: the root meta and every shard's meta are created (or
   * checked) by a script call with no ids, the root's first. The root refuses a handle of another
   * shard count, or of other parameters, before any id is written (a shard's script sees only its
   * own meta); every shard then holds the parameters and the id type, so each later call refuses
   * a mismatch atomically; and a one-shard handle meets the sharded parameters in `{prefix}:meta`.
   */
  private async prepareShards(idType: IdType): Promise<void> {
    if (this.shardsReady) return;
    await insertBatch(this.ctx, idType, []);
    await settleAll(this.shardCtx.map((ctx) => insertBatch(ctx, idType, [])));
    this.shardsReady = true;
  }

  /** With `waitForReplicas`: WAIT on the masters that took this batch's writes. */
  private async confirmReplicas(shards: Iterable<number>): Promise<void> {
    if (!this.waitForReplicas) return;
    await confirmReplicas(
      this.redis,
      this.shardCtx.map((ctx) => ctx.keys.slot),
      shards,
      this.waitForReplicas,
    );
  }
}
