/*
 * The write room: batches are validated (prepare.ts), hashed (CPU), and written (the store rows
 * first, when the store writes, then one script call per shard) with hashing and writing overlapped
 * (pipeline.ts). Builds from the store and deletes go the same way.
 */
import { LshrsError } from '../errors';
import type { Hasher } from '../hashing/hasher';
import { commonIdType, type Id, type IdType } from '../ids';
import type { DeleteResult, IndexItem, IndexOptions, IndexResult } from '../options';
import type { IndexShape } from '../params/shape';
import type { RedisIndex, SignedId } from '../redis/redis-index';
import type { StoreWrite, VectorStore } from '../stores/types';
import { runPipeline } from './pipeline';
import { checkOneIdType, prepareItems, prepareStored, type PreparedBatch } from './prepare';
import { storePages } from './store-pages';
import { deleteChannel, deleteTrace, indexChannel, indexTrace, traced, type DeleteTrace, type IndexTrace } from '../tracing';

type StorePageScan = NonNullable<VectorStore['scan']>;

interface HashedBatch {
  batch: PreparedBatch;
  signed: SignedId[];
}

export interface WriterDeps {
  index: RedisIndex;
  shape: IndexShape;
  hasher: Hasher;
  batchSize: number;
  store?: VectorStore;
}

export class Writer {
  private readonly stage = {
    size: (batch: PreparedBatch) => batch.ids.length,
    hash: (batch: PreparedBatch) => this.hash(batch),
    write: (hashed: HashedBatch) => this.write(hashed),
  };

  constructor(private readonly deps: WriterDeps) {}

  /**
   * Upserts many items, `batchSize` per script call; each batch is atomic in Redis. An array is
   * validated whole before anything is written; a stream batch by batch (earlier batches stay).
   */
  index(items: Iterable<IndexItem> | AsyncIterable<IndexItem>, options: IndexOptions): Promise<IndexResult> {
    if (!traced(indexChannel)) return this.runIndex(items, options, this.stage);
    const trace = indexTrace('index', this.deps.index.prefix, false);
    return indexChannel.tracePromise(async () => this.runIndex(items, options, this.tracedStage(trace)), trace);
  }

  private runIndex(items: Iterable<IndexItem> | AsyncIterable<IndexItem>, options: IndexOptions, stage: Writer['stage']): Promise<IndexResult> {
    const { batchSize, shape } = this.deps;
    if (Array.isArray(items)) {
      const list = items as IndexItem[];
      const prepared: PreparedBatch[] = [];
      for (let i = 0; i < list.length; i += batchSize) prepared.push(prepareItems(list.slice(i, i + batchSize), shape.dim));
      if (prepared.length > 1) checkOneIdType(prepared);
      return runPipeline(this.centred(prepared), stage, { ...options, total: list.length });
    }
    async function* batches(): AsyncGenerator<PreparedBatch> {
      let pending: IndexItem[] = [];
      for await (const item of items as AsyncIterable<IndexItem>) {
        pending.push(item);
        if (pending.length === batchSize) {
          yield prepareItems(pending, shape.dim);
          pending = [];
        }
      }
      if (pending.length > 0) yield prepareItems(pending, shape.dim);
    }
    return runPipeline(this.centred(batches()), stage, { ...options, total: options.total ?? null });
  }

  /**
   * The batches as they come, once the mean the index centres on is known: an existing index's,
   * or for a new one the first batch's (see RedisIndex.centring), before that batch is hashed.
   */
  private async *centred(batches: Iterable<PreparedBatch> | AsyncIterable<PreparedBatch>): AsyncGenerator<PreparedBatch> {
    let first = true;
    for await (const batch of batches) {
      if (first) {
        first = false;
        const { store } = this.deps;
        if (store?.upsert && store.check) await store.check();
        this.deps.hasher.useMean(await this.deps.index.centring({ vectors: batch.vectors, count: batch.ids.length, idType: batch.idType }));
      }
      yield batch;
    }
  }

  /** The pipeline's stages, measured into a trace. */
  private tracedStage(trace: IndexTrace): Writer['stage'] {
    return { size: this.stage.size, hash: (batch) => this.hash(batch, trace), write: (hashed) => this.write(hashed, trace) };
  }

  /**
   * Builds the index from every row of the store, in id order with bounded memory. Each batch
   * records its last id in the root meta hash once the whole batch has landed (with one shard, in
   * the same script call), so a build killed at any point resumes after the last batch that landed
   * whole, and redoes at most the one it was writing (see {@link RedisIndex.insert}).
   */
  build(options: IndexOptions): Promise<IndexResult> {
    if (!traced(indexChannel)) return this.runBuild(options);
    const trace = indexTrace('build', this.deps.index.prefix, options.resume ?? false);
    return indexChannel.tracePromise(async () => this.runBuild(options, trace), trace);
  }

  private async runBuild(options: IndexOptions, trace?: IndexTrace): Promise<IndexResult> {
    const { store, index, batchSize, shape } = this.deps;
    if (!store?.scan) {
      throw new LshrsError('NO_STORE', 'index() with no items builds from the store, and this store cannot be read in id order');
    }
    await index.checkedMeta();
    const idType: IdType = (await store.idType?.()) ?? 'str';
    await index.checkIdType(idType);
    const start = await index.startBuild(options.resume ?? false);
    const total = store.count ? await store.count(start.after) : null;
    const invalid = options.skipInvalid ? 'skip' : 'throw';
    let skipped = start.skipped;
    const scan: StorePageScan = store.scan.bind(store);
    const pages = storePages({ scan: trace ? timedScan(scan, trace) : scan }, start.after, batchSize);
    async function* batches(): AsyncGenerator<PreparedBatch> {
      for await (const page of pages) {
        const batch = prepareStored(page.rows, idType, shape.dim, invalid);
        skipped += batch.skipped;
        yield { ...batch, build: { last: page.last, skipped } };
      }
    }
    const counts = await runPipeline(
      this.centred(batches()),
      {
        size: (batch: PreparedBatch) => batch.ids.length,
        hash: (batch: PreparedBatch) => this.hash(batch, trace),
        write: (hashed: HashedBatch) => this.write(hashed, trace),
      },
      { ...options, total },
    ).catch(async (err: unknown) => {
      // Stopped by its signal, the build is no longer running: say so, beside the position it reached.
      if (options.signal?.aborted) await index.setMetaField('buildState', 'interrupted');
      throw err;
    });
    await index.finishBuild();
    return options.skipInvalid ? { ...counts, skipped: skipped - start.skipped } : counts;
  }

  /**
   * The store's rows against the index, page by page in id order (bounded memory): rows with a
   * usable vector that have no reverse record, and rows no index can hold. With `repair`, the
   * missing rows are indexed as they are found (store rows untouched).
   */
  async findUnindexed(repair: boolean): Promise<{ missing: number; invalid: number; examples: Id[]; reindexed: number }> {
    const { store, index, batchSize, shape } = this.deps;
    const found = { missing: 0, invalid: 0, examples: [] as Id[], reindexed: 0 };
    if (!store?.scan) return found;
    const idType: IdType = (await store.idType?.()) ?? 'str';
    for await (const page of storePages({ scan: store.scan.bind(store) }, null, batchSize)) {
      const batch = prepareStored(page.rows, idType, shape.dim, 'skip');
      found.invalid += batch.skipped;
      const indexed = await index.indexedAmong(batch.ids);
      const keep = batch.ids.flatMap((_, i) => (indexed[i] ? [] : [i]));
      if (keep.length === 0) continue;
      found.missing += keep.length;
      for (const i of keep.slice(0, Math.max(0, 20 - found.examples.length))) found.examples.push(batch.ids[i]);
      if (!repair) continue;
      const vectors = new Float32Array(keep.length * shape.dim);
      keep.forEach((i, j) => vectors.set(batch.vectors.subarray(i * shape.dim, (i + 1) * shape.dim), j * shape.dim));
      this.deps.hasher.useMean(await index.centring({ vectors, count: keep.length, idType }));
      const counts = await this.write(this.hash({ idType, ids: keep.map((i) => batch.ids[i]), vectors, texts: [], toStore: false }));
      found.reindexed += counts.added + counts.moved;
    }
    return found;
  }

  /** Removes ids from every bucket through their reverse records, then their store rows. */
  delete(idOrIds: Id | readonly Id[]): Promise<DeleteResult> {
    if (!traced(deleteChannel)) return this.runDelete(idOrIds);
    const trace = deleteTrace(this.deps.index.prefix);
    return deleteChannel.tracePromise(async () => this.runDelete(idOrIds, trace), trace);
  }

  private async runDelete(idOrIds: Id | readonly Id[], trace?: DeleteTrace): Promise<DeleteResult> {
    const { index, store, batchSize } = this.deps;
    const ids = [...new Set(Array.isArray(idOrIds) ? (idOrIds as Id[]) : [idOrIds as Id])];
    const result: DeleteResult = { removed: 0, unknown: 0 };
    if (trace) trace.ids = ids.length;
    const idType = commonIdType(ids);
    if (!idType) return result;
    await index.checkIdType(idType);
    for (let i = 0; i < ids.length; i += batchSize) {
      const batch = ids.slice(i, i + batchSize);
      let mark = trace ? performance.now() : 0;
      if (store?.deleteWithRowLocks) {
        // The buckets go while the rows are held, so a concurrent write cannot index them between.
        let redisMs = 0;
        await store.deleteWithRowLocks(batch, async (some, again) => {
          const started = trace ? performance.now() : 0;
          const counts = await index.remove(idType, some);
          if (trace) redisMs += performance.now() - started;
          if (counts.damaged) result.damaged = (result.damaged ?? 0) + counts.damaged;
          if (again) return; // ids a concurrent write re-created: counted in the first round
          result.removed += counts.removed;
          result.unknown += counts.unknown;
        });
        if (trace) {
          trace.phases.redisMs += redisMs;
          trace.phases.storeMs += performance.now() - mark - redisMs;
        }
        continue;
      }
      const counts = await index.remove(idType, batch);
      result.removed += counts.removed;
      result.unknown += counts.unknown;
      if (counts.damaged) result.damaged = (result.damaged ?? 0) + counts.damaged;
      if (trace) trace.phases.redisMs += performance.now() - mark;
      if (store?.delete) {
        if (trace) mark = performance.now();
        await store.delete(batch);
        if (trace) trace.phases.storeMs += performance.now() - mark;
      }
    }
    return result;
  }

  /** The CPU part of a write: band values and sketches, packed into signatures. */
  private hash(batch: PreparedBatch, trace?: IndexTrace): HashedBatch {
    const started = trace ? performance.now() : 0;
    const { hasher } = this.deps;
    const hashed = hasher.hash(batch.vectors, batch.ids.length);
    const signed = batch.ids.map((id, i) => ({ id, signature: hasher.signature(hashed, i) }));
    if (trace) trace.phases.hashMs += performance.now() - started;
    return { batch, signed };
  }

  /** The I/O part: the store rows first (when the store writes), then the index. */
  private async write({ batch, signed }: HashedBatch, trace?: IndexTrace): Promise<IndexResult> {
    const { index, store, shape } = this.deps;
    await index.checkIdType(batch.idType);
    let mark = trace ? performance.now() : 0;
    if (batch.toStore && store?.upsert) {
      const writes: StoreWrite[] = batch.ids.map((id, i) => ({
        id,
        vector: batch.vectors.subarray(i * shape.dim, (i + 1) * shape.dim),
        text: batch.texts[i],
        ...(batch.rows?.[i] === undefined ? {} : { row: batch.rows[i] }),
      }));
      await store.upsert(writes);
      if (trace) {
        const now = performance.now();
        trace.phases.storeWriteMs += now - mark;
        mark = now;
      }
    }
    const insert = (present?: ReadonlySet<string>) =>
      index.insert(batch.idType, present ? signed.filter((s) => present.has(String(s.id))) : signed, batch.build);
    // With a store that holds rows, indexed while they are held: an id a concurrent delete removed since is left out.
    const counts = store?.withRowLocks ? await store.withRowLocks(batch.ids, insert) : await insert();
    if (trace) {
      trace.phases.redisMs += performance.now() - mark;
      trace.batches += 1;
      trace.items += signed.length;
    }
    return counts;
  }
}

/** A build's store reads, timed into its trace. */
function timedScan(scan: StorePageScan, trace: IndexTrace): StorePageScan {
  return async (after, limit) => {
    const started = performance.now();
    try {
      return await scan(after, limit);
    } finally {
      trace.phases.storeReadMs += performance.now() - started;
    }
  };
}
