/*
 * The write room: batches are validated (prepare.ts), hashed (CPU), and written (the store rows
 * first, when the store writes, then one script call per shard) with hashing and writing overlapped
 * (pipeline.ts). Builds from the store and deletes go the same way.
 */
import { LshrsError } from '../errors';
import { bandValues, packSignature } from '../hashing/signatures';
import { commonIdType, type Id, type IdType } from '../ids';
import type { DeleteResult, IndexItem, IndexOptions, IndexResult } from '../options';
import type { IndexShape } from '../params/shape';
import type { RedisIndex, SignedId } from '../redis/redis-index';
import type { StoreWrite, VectorStore } from '../stores/types';
import { runPipeline } from './pipeline';
import { checkOneIdType, prepareItems, prepareStored, type PreparedBatch } from './prepare';
import { storePages, type StorePage } from './store-pages';

interface HashedBatch {
  batch: PreparedBatch;
  signed: SignedId[];
}

export interface WriterDeps {
  index: RedisIndex;
  shape: IndexShape;
  planes: Float32Array;
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
    const { batchSize, shape } = this.deps;
    if (Array.isArray(items)) {
      const list = items as IndexItem[];
      const prepared: PreparedBatch[] = [];
      for (let i = 0; i < list.length; i += batchSize) prepared.push(prepareItems(list.slice(i, i + batchSize), shape.dim));
      if (prepared.length > 1) checkOneIdType(prepared);
      return runPipeline(prepared, this.stage, { ...options, total: list.length });
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
    return runPipeline(batches(), this.stage, { ...options, total: options.total ?? null });
  }

  /**
   * Builds the index from every row of the store, in id order with bounded memory. Each batch
   * records its last id in the root meta hash once the whole batch has landed (with one shard, in
   * the same script call), so a build killed at any point resumes after the last batch that landed
   * whole, and redoes at most the one it was writing (see {@link RedisIndex.insert}).
   */
  async build(options: IndexOptions): Promise<IndexResult> {
    const { store, index, batchSize, shape } = this.deps;
    if (!store?.scan) {
      throw new LshrsError('NO_STORE', 'index() with no items builds from the store, and this store cannot be read in id order');
    }
    await index.checkedMeta();
    const idType: IdType = (await store.idType?.()) ?? 'str';
    await index.checkIdType(idType);
    const after = await index.startBuild(options.resume ?? false);
    const total = store.count ? await store.count(after) : null;
    const counts = await runPipeline(
      storePages({ scan: store.scan.bind(store) }, after, batchSize),
      {
        size: (page: StorePage) => page.rows.length,
        hash: (page: StorePage) => this.hash({ ...prepareStored(page.rows, idType, shape.dim), setMeta: index.buildPosition(page.last) }),
        write: (hashed: HashedBatch) => this.write(hashed),
      },
      { ...options, total },
    );
    await index.finishBuild();
    return counts;
  }

  /** Removes ids from every bucket through their reverse records, then their store rows. */
  async delete(idOrIds: Id | readonly Id[]): Promise<DeleteResult> {
    const { index, store, batchSize } = this.deps;
    const ids = [...new Set(Array.isArray(idOrIds) ? (idOrIds as Id[]) : [idOrIds as Id])];
    const result: DeleteResult = { removed: 0, unknown: 0 };
    const idType = commonIdType(ids);
    if (!idType) return result;
    await index.checkIdType(idType);
    for (let i = 0; i < ids.length; i += batchSize) {
      const batch = ids.slice(i, i + batchSize);
      if (store?.deleteWithRowLocks) {
        // The buckets go while the rows are held, so a concurrent write cannot index them between.
        await store.deleteWithRowLocks(batch, async (some, again) => {
          const counts = await index.remove(idType, some);
          if (again) return; // ids a concurrent write re-created: counted in the first round
          result.removed += counts.removed;
          result.unknown += counts.unknown;
        });
        continue;
      }
      const counts = await index.remove(idType, batch);
      result.removed += counts.removed;
      result.unknown += counts.unknown;
      if (store?.delete) await store.delete(batch);
    }
    return result;
  }

  /** The CPU part of a write: band values and packed signatures. */
  private hash(batch: PreparedBatch): HashedBatch {
    const { shape, planes } = this.deps;
    const values = bandValues(batch.vectors, batch.ids.length, planes, shape);
    const signed = batch.ids.map((id, i) => ({ id, signature: packSignature(values, i * shape.bands, shape.bands, shape.rows) }));
    return { batch, signed };
  }

  /** The I/O part: the store rows first (when the store writes), then the index. */
  private async write({ batch, signed }: HashedBatch): Promise<IndexResult> {
    const { index, store, shape } = this.deps;
    await index.checkIdType(batch.idType);
    if (batch.toStore && store?.upsert) {
      const writes: StoreWrite[] = batch.ids.map((id, i) => ({
        id,
        vector: batch.vectors.subarray(i * shape.dim, (i + 1) * shape.dim),
        text: batch.texts[i],
      }));
      await store.upsert(writes);
    }
    if (!store?.withRowLocks) return index.insert(batch.idType, signed, batch.setMeta);
    // Indexed while the rows are held: an id a concurrent delete removed since is left out.
    return store.withRowLocks(batch.ids, (present) =>
      index.insert(
        batch.idType,
        signed.filter((s) => present.has(String(s.id))),
        batch.setMeta,
      ),
    );
  }
}
