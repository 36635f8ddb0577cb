/*
 * The index in Redis: its key layout, its shards (one shard is the trivial case; nothing above this
 * class branches on the shard count), the script calls and the meta hash. The facade and the write
 * and query rooms talk to Redis only through it.
 */
import { LshrsError } from '../errors';
import { bytesPerBand, unpackSignature } from '../hashing/signatures';
import { pageOf, type Id, type IdType } from '../ids';
import type { DeleteResult, IndexDescription, IndexResult } from '../options';
import type { IndexShape } from '../params/shape';
import { dataNodes, keyPrefixOf, nodeName, type RedisClient } from './connection';
import { checkWaitForReplicas, confirmReplicas, settleAll, splitByShard, type WaitForReplicas } from './fanout';
import { DIRECT_ORDINAL_LIMIT, indexKeys, indexLayout, type IndexKeys, type IndexLayout } from './keys';
import { buildOf, decodeMean, encodeShape, fingerprint, mismatchError, shardIdCounts, storedIdType, storeOf, type MetaHash } from './meta';
import { clearIndex, measureIndex, type IndexFootprint } from './ops';
import { gatherBuckets, idsOfOrdinals, insertBatch, lostError, readMeta, removeBatch, type ScriptContext } from './script-calls';
import { verifyIndex, type VerifyReport } from './verify';

export interface RedisIndexOptions {
  client: RedisClient;
  prefix: string;
  shape: IndexShape;
  /** The hyperplanes' fingerprint (hashing/hyperplanes planesFingerprint). */
  planes: string;
  waitForReplicas?: WaitForReplicas;
  /** Write even to a Redis that evicts keys without a TTL (see LSHRSOptions.allowEviction). */
  allowEviction?: boolean;
}

/** Where a build from the store stands once a batch has landed. */
export interface BuildPosition {
  /** The batch's last id, as text: a resume continues after it. */
  last: string;
  /** Rows skipped so far (skipInvalid). */
  skipped: number;
}

/** One id and its packed signature, to upsert. */
export interface SignedId {
  id: Id;
  signature: Buffer;
}

/** What the meta hashes alone say of the index (cheap). */
export type MetaSummary = Pick<IndexDescription, 'idType' | 'ids' | 'shardIds' | 'build' | 'store'>;

/** An id's reverse record and the buckets it names. */
export interface IdBuckets {
  shard: number;
  reverseKey: string;
  ordinal: number;
  /** Its band values and sketch, as its bucket records and reverse record hold them. */
  signature: Buffer;
  /** Each bucket's records (at most the cap) and its overflow's. */
  buckets: { band: number; value: number; key: string; size: number; overflow: number }[];
}

/** What a query's buckets held, over every shard. */
export interface GatheredBuckets {
  idType: IdType | undefined;
  /** Per shard, one bucket string (or null) per key asked for. */
  shards: (Buffer | null)[][];
  /** Bytes of bucket records read. */
  bytes: number;
  /** Buckets read at their cap: they may hold more records in their overflow, which queries never read. */
  full: number;
}

/** Fewest vectors a new index estimates its mean from; a smaller first batch leaves it uncentred. */
export const MIN_CENTRE_SAMPLE = 64;

export class RedisIndex {
  readonly prefix: string;
  readonly shape: IndexShape;
  readonly client: RedisClient;
  private readonly layout: IndexLayout;
  /** The root tag `{prefix}`: the whole index with one shard; with several, the index-level meta. */
  private readonly root: ScriptContext;
  /** Each shard's script context (`[root]` with one shard). */
  private readonly shards: readonly ScriptContext[];
  private readonly waitForReplicas?: WaitForReplicas;
  /** The stored id type, once a call has seen it (undefined: not read yet, or an empty index). */
  private idType?: IdType;
  private metaChecked = false;
  /** Sharded: this handle has made sure the root and every shard hold the meta (see prepareShards). */
  private shardsReady = false;
  /** The eviction policy of every data node was read (or allowed) before this handle's first write. */
  private evictionChecked: boolean;
  private readonly planes: string;
  /** The mean the index hashes against (null: none); undefined until known (see centring). */
  private mean?: Float32Array | null;

  constructor(options: RedisIndexOptions) {
    this.prefix = options.prefix;
    this.shape = options.shape;
    this.client = options.client;
    this.waitForReplicas = checkWaitForReplicas(options.waitForReplicas);
    this.evictionChecked = options.allowEviction === true;
    this.layout = indexLayout(this.prefix, this.shape.shards);
    this.planes = options.planes;
    const keyPrefix = keyPrefixOf(this.client);
    const contextOf = (keys: IndexKeys): ScriptContext => ({
      client: this.client,
      keys,
      base: keyPrefix + keys.tag,
      fingerprint: '',
      bands: this.shape.bands,
      bytesPerBand: bytesPerBand(this.shape.rows),
      sketchBytes: this.shape.sketchBits / 8,
      bucketCap: this.shape.bucketCap,
      reversePages: this.shape.reversePages,
      metaFields: {},
      onMismatch: (stored) => mismatchError(this.prefix, stored, this.root.metaFields),
    });
    this.root = contextOf(this.layout.root);
    this.shards = this.shape.shards === 1 ? [this.root] : this.layout.shards.map(contextOf);
    const centre = this.shape.centre;
    this.setMean(centre === true ? null : centre === false ? null : centre);
    if (centre === true) this.mean = undefined;
  }

  /** The mean, when this handle knows it: null for none, undefined before it has read or written the index. */
  knownMean(): Float32Array | null | undefined {
    return this.mean;
  }

  /** Bytes of one bucket record: a 4-byte ordinal and the sketch. */
  get recordSize(): number {
    return 4 + this.shape.sketchBits / 8;
  }

  private setMean(mean: Float32Array | null): void {
    this.mean = mean;
    const metaFields = encodeShape(this.shape, this.planes, mean);
    for (const ctx of new Set([this.root, ...this.shards])) {
      ctx.metaFields = metaFields;
      ctx.fingerprint = fingerprint(metaFields);
    }
  }

  /**
   * The mean this index hashes against (null: none), fixed once per handle. An existing index's
   * stored mean is taken (with `centre: true`; a handle given another centre is refused by the
   * fingerprint); a new index with `centre: true` takes the mean of `sample`, the first batch it is
   * written, when that holds at least MIN_CENTRE_SAMPLE vectors, and creates its meta with it at
   * once, before anything is hashed: of several writers racing to create the index, the first fixes
   * the mean and the others take it. Without a sample (a query on an empty index), null, and
   * nothing is fixed yet.
   */
  async centring(sample?: { vectors: Float32Array; count: number; idType: IdType }): Promise<Float32Array | null> {
    if (this.mean !== undefined) return this.mean;
    if (!sample) {
      const meta = await readMeta(this.root);
      if (meta.fingerprint === undefined) return null;
      const stored = decodeMean(meta);
      this.setMean(stored);
      return stored;
    }
    await this.checkIdType(sample.idType); // takes the stored mean, when there is an index
    if (this.mean !== undefined) return this.mean;
    const mean = sample.count >= MIN_CENTRE_SAMPLE ? meanOf(sample.vectors, sample.count, this.shape.dim) : null;
    this.setMean(mean);
    try {
      await insertBatch(this.root, sample.idType, []);
    } catch (err) {
      if (!(err instanceof LshrsError && err.code === 'PARAMS_MISMATCH')) throw err;
      // Another writer created the index first: its mean stands, if nothing else differs.
      this.mean = undefined;
      await this.checkedMeta();
    }
    return this.mean as unknown as Float32Array | null;
  }

  /**
   * Runs a call that checks the fingerprint. A handle that has not learnt the mean yet (nothing
   * written, nothing read) sends the fingerprint of no mean; when another writer created the index
   * in between, the call is refused: the index's mean is then taken and the call made once more
   * (refused again if another parameter differs).
   */
  private async withMean<T>(run: () => Promise<T>): Promise<T> {
    if (this.mean !== undefined) return run();
    try {
      return await run();
    } catch (err) {
      if (!(err instanceof LshrsError && err.code === 'PARAMS_MISMATCH') || this.mean !== undefined) throw err;
      await this.checkedMeta();
      return run();
    }
  }

  /** The meta hash of the index under `prefix`, whatever its parameters (empty when there is none). */
  static readStoredMeta(client: RedisClient, prefix: string): Promise<MetaHash> {
    return client.hgetall(indexKeys(prefix).meta);
  }

  /** The reverse page of an id: the small hash that holds its record. */
  pageOf(id: Id): number {
    return pageOf(id, this.shape.reversePages);
  }

  /** Reads the root meta and refuses an index created with other parameters, or lost since this handle saw it. */
  async checkedMeta(): Promise<MetaHash> {
    const meta = await this.observedMeta(this.root);
    if (this.mean === undefined && meta.fingerprint !== undefined) this.setMean(decodeMean(meta));
    if (meta.fingerprint !== undefined && meta.fingerprint !== this.root.fingerprint) throw this.root.onMismatch(meta);
    this.metaChecked = true;
    this.idType = storedIdType(meta) ?? this.idType;
    return meta;
  }

  /**
   * A tag's meta, checked against what this handle has seen of it: a meta that is gone, carries
   * another epoch, or counts fewer writes than a build of this handle made is INDEX_LOST.
   */
  private async observedMeta(ctx: ScriptContext): Promise<MetaHash> {
    const meta = await readMeta(ctx);
    const seq = Number(meta.seq ?? 0);
    if (ctx.view && (meta.epoch !== ctx.view.epoch || seq < ctx.view.seq)) throw lostError(ctx, `${meta.epoch ?? ''}:${seq}`);
    if (meta.epoch) ctx.view = { epoch: meta.epoch, seq: Math.max(seq, ctx.view?.seq ?? 0) };
    return meta;
  }

  /**
   * Before the first write touches the store: the parameters and the id type must match the index,
   * so a refused batch changes neither Redis nor the store. The scripts check both again, atomically.
   */
  async checkIdType(idType: IdType): Promise<void> {
    if (!this.evictionChecked) await this.checkEvictionPolicy();
    if (!this.metaChecked || !this.idType) await this.checkedMeta();
    if (this.idType && this.idType !== idType) {
      const held = this.idType === 'int' ? 'integer' : 'string';
      throw new LshrsError('ID_TYPE', `index "${this.prefix}" holds ${held} ids; got ${held === 'integer' ? 'string' : 'integer'} ids`);
    }
  }

  /**
   * Refuses a Redis whose maxmemory-policy evicts keys without a TTL (allkeys-*), on every data
   * node, where the user's rights allow reading it (an ACL user without CONFIG cannot tell, and is
   * not refused: the README says what to check). volatile-* policies never evict lshrs' keys.
   */
  private async checkEvictionPolicy(): Promise<void> {
    for (const node of await dataNodes(this.client)) {
      let policy: string | undefined;
      try {
        policy = ((await node.config('GET', 'maxmemory-policy')) as string[])[1];
      } catch {
        continue; // NOPERM, or CONFIG renamed away: the policy cannot be read with these rights
      }
      if (policy?.startsWith('allkeys-')) {
        throw new LshrsError(
          'EVICTION_POLICY',
          `Redis at ${nodeName(node)} has maxmemory-policy ${policy}, which evicts keys without a TTL: the index would lose buckets ` +
            'silently. Use noeviction or a volatile-* policy, or pass allowEviction: true',
        );
      }
    }
    this.evictionChecked = true;
  }

  /**
   * Upserts signed ids. With `build` (a build from the store, at the last id of this batch)
   * the call also records the position and refuses an index behind this handle's writes. With one
   * shard: one script call, the position in it, atomically. With several: one call per shard the
   * batch touches, in parallel, each atomic for its ids; then, once every part has landed, the
   * position in the root meta. The position thus only ever names batches that landed whole: a build
   * killed between the parts and the position redoes that one batch on resume (its ids come back
   * unchanged), and one killed mid-batch never skips the parts that had not landed. Recording it on
   * every shard instead would leave shards a batch missed with an older position, and the resume
   * point the minimum of all of them.
   */
  async insert(idType: IdType, signed: readonly SignedId[], build?: BuildPosition): Promise<IndexResult> {
    // Each id at most once per batch (prepareItems keeps the last of a repeated id).
    const entries = signed.map(({ id, signature }) => ({ id: String(id), page: this.pageOf(id), signature }));
    const setMeta = build && { buildCursor: build.last, buildState: 'running', buildSkipped: String(build.skipped) };
    const check = build ? 'sequence' : 'epoch';
    const totals: IndexResult = { added: 0, moved: 0, unchanged: 0 };
    const add = (c: IndexResult) => {
      totals.added += c.added;
      totals.moved += c.moved;
      totals.unchanged += c.unchanged;
    };
    if (this.shards.length === 1) {
      add(await insertBatch(this.root, idType, entries, setMeta, check));
      await this.confirmReplicas([0]);
    } else {
      await this.prepareShards(idType);
      const parts = splitByShard(entries, (e) => this.layout.shardOf(e.id));
      const results = await settleAll([...parts].map(([k, part]) => insertBatch(this.shards[k], idType, part, {}, check)));
      results.forEach(add);
      await this.confirmReplicas(parts.keys());
      if (setMeta) await insertBatch(this.root, idType, [], setMeta, check);
    }
    this.idType = idType;
    return totals;
  }

  /** Removes ids from every bucket through their reverse records: one script call per shard touched, in parallel. */
  async remove(idType: IdType, ids: readonly Id[]): Promise<DeleteResult> {
    const entries = ids.map((id) => ({ id: String(id), page: this.pageOf(id) }));
    const parts = splitByShard(entries, (e) => this.layout.shardOf(e.id));
    const counts = await this.withMean(() => settleAll([...parts].map(([k, part]) => removeBatch(this.shards[k], idType, part))));
    await this.confirmReplicas(parts.keys());
    const total = counts.reduce(
      (sum, c) => ({ removed: sum.removed + c.removed, unknown: sum.unknown + c.unknown, damaged: sum.damaged + c.damaged }),
      {
        removed: 0,
        unknown: 0,
        damaged: 0,
      },
    );
    // `damaged` only where there were some, so a clean delete reads { removed, unknown }.
    return total.damaged > 0 ? total : { removed: total.removed, unknown: total.unknown };
  }

  /**
   * What the buckets of these band values hold: one MGET per shard (each on its own slot), sent
   * together. `values` lists `perBand` bucket values for each band in turn.
   */
  async gather(values: Uint32Array, perBand: number): Promise<GatheredBuckets> {
    // The shards' identities are their own metas, not the root's: a handle of another shard count
    // (whose shard 0 holds no meta, say) is refused here, once, from the root's parameters.
    if (this.shards.length > 1 && !this.metaChecked) await this.checkedMeta();
    const keysOf = (ctx: ScriptContext) => Array.from(values, (value, i) => ctx.keys.bucket(Math.floor(i / perBand), value));
    const replies = await this.withMean(() => settleAll(this.shards.map((ctx) => gatherBuckets(ctx, keysOf(ctx)))));
    const full = this.shape.bucketCap * this.recordSize;
    const gathered: GatheredBuckets = { idType: undefined, shards: [], bytes: 0, full: 0 };
    for (const reply of replies) {
      gathered.idType ??= reply.idType;
      gathered.shards.push(reply.buckets);
      for (const bucket of reply.buckets) {
        if (!bucket) continue;
        gathered.bytes += bucket.length;
        if (bucket.length >= full) gathered.full++;
      }
    }
    if (gathered.idType) this.idType = gathered.idType;
    return gathered;
  }

  /**
   * The ids of (shard, ordinal) pairs: a direct ordinal (an integer id below 2^31) is its id; the
   * others take one ids.lua call per shard involved, null for one removed since.
   */
  async idsOf(shards: ArrayLike<number>, ordinals: ArrayLike<number>, idType: IdType): Promise<(string | null)[]> {
    const byShard = new Map<number, number[]>();
    const ids: (string | null)[] = new Array(ordinals.length).fill(null);
    for (let i = 0; i < ordinals.length; i++) {
      if (idType === 'int' && ordinals[i] < DIRECT_ORDINAL_LIMIT) {
        ids[i] = String(ordinals[i]);
        continue;
      }
      const list = byShard.get(shards[i]);
      if (list) list.push(i);
      else byShard.set(shards[i], [i]);
    }
    await settleAll(
      [...byShard].map(async ([shard, positions]) => {
        const found = await idsOfOrdinals(
          this.shards[shard],
          positions.map((i) => ordinals[i]),
        );
        positions.forEach((i, j) => {
          ids[i] = found[j];
        });
      }),
    );
    return ids;
  }

  /** An id's reverse record and where it lives; null when the id is not indexed. */
  async reverseRecord(id: Id): Promise<{ shard: number; key: string; signature: Buffer } | null> {
    const shard = this.layout.shardOf(id);
    const key = this.layout.shards[shard].reverse(this.pageOf(id));
    const signature = await this.client.hgetBuffer(key, String(id));
    return signature ? { shard, key, signature } : null;
  }

  /** Which of these ids have a reverse record: one pipeline per shard (one slot each), in parallel. */
  async indexedAmong(ids: readonly Id[]): Promise<boolean[]> {
    const found = new Map<string, boolean>();
    const parts = splitByShard(ids, (id) => this.layout.shardOf(id));
    await Promise.all(
      [...parts].map(async ([k, part]) => {
        const pipeline = this.client.pipeline();
        for (const id of part) pipeline.hexists(this.layout.shards[k].reverse(this.pageOf(id)), String(id));
        ((await pipeline.exec()) ?? []).forEach(([err, reply], i) => {
          if (err) throw err;
          found.set(String(part[i]), reply === 1);
        });
      }),
    );
    return ids.map((id) => found.get(String(id)) === true);
  }

  /** An id's buckets and their sizes, from its reverse record; null when the id is not indexed. */
  async idBuckets(id: Id): Promise<IdBuckets | null> {
    await this.checkedMeta();
    const record = await this.reverseRecord(id);
    if (!record) return null;
    const keys = this.layout.shards[record.shard];
    const signature = record.signature.subarray(4);
    const values = unpackSignature(signature, this.shape.bands, this.shape.rows);
    const pipeline = this.client.pipeline();
    for (const [band, value] of values.entries()) pipeline.strlen(keys.bucket(band, value)).llen(keys.overflow(band, value));
    const sizes = ((await pipeline.exec()) ?? []).map(([err, n]) => {
      if (err) throw err;
      return Number(n);
    });
    return {
      shard: record.shard,
      reverseKey: record.key,
      ordinal: record.signature.readUInt32BE(0),
      signature: Buffer.from(signature),
      buckets: values.map((value, band) => ({
        band,
        value,
        key: keys.bucket(band, value),
        size: sizes[2 * band] / this.recordSize,
        overflow: sizes[2 * band + 1],
      })),
    };
  }

  /**
   * Where a build from the store starts: after the recorded position when resuming, else from the
   * start (the old position dropped). Returns the id to continue after (or null) and the rows
   * skipped before it.
   */
  async startBuild(resume: boolean): Promise<{ after: string | null; skipped: number }> {
    const meta = await this.checkedMeta();
    if (resume && meta.buildCursor) return { after: meta.buildCursor, skipped: Number(meta.buildSkipped ?? 0) };
    await this.client.hdel(this.root.keys.meta, 'buildCursor', 'buildSkipped');
    return { after: null, skipped: 0 };
  }

  /** Marks a finished build done (unless the index was cleared meanwhile). */
  async finishBuild(): Promise<void> {
    await this.setMetaField('buildState', 'done');
  }

  /**
   * Sets one descriptive field of the root meta, never a parameter: `store` (what `recordStore`
   * records) or `buildState`. Only on an index that exists (false when nothing was written yet), so
   * no meta without parameters is left behind; refuses a handle of other parameters.
   */
  async setMetaField(field: 'store' | 'buildState', value: string): Promise<boolean> {
    const meta = await this.checkedMeta();
    if (meta.fingerprint === undefined) return false;
    await this.client.hset(this.root.keys.meta, field, value);
    return true;
  }

  /** The root meta and each shard's (the root twice for an index of one shard), checked. */
  private async metas(): Promise<{ root: MetaHash; shards: MetaHash[] }> {
    const root = await this.checkedMeta();
    const shards = this.shards.length === 1 ? [root] : await Promise.all(this.shards.map((ctx) => this.observedMeta(ctx)));
    return { root, shards };
  }

  /** The id type, id count and build state, from the meta hashes alone (cheap). */
  async summary(): Promise<MetaSummary> {
    const { root, shards } = await this.metas();
    const shardIds = shardIdCounts(shards);
    return {
      idType: storedIdType(root, ...shards) ?? null,
      ids: shardIds.reduce((a, b) => a + b, 0),
      shardIds,
      build: buildOf(root),
      store: storeOf(root),
    };
  }

  /** Keys, bytes and bucket sizes of the index on every node (walks its keys with SCAN: an ops call). */
  footprint(): Promise<IndexFootprint> {
    return measureIndex(this.client, this.layout, this.recordSize);
  }

  /** Checks (and with `repair` mends) the index against itself and the store; see verifyIndex. */
  async verify(options: { repair: boolean; batchSize: number; existing?: (ids: readonly Id[]) => Promise<Set<string>> }): Promise<VerifyReport> {
    return verifyIndex(
      {
        layout: this.layout,
        metas: await this.metas(),
        shards: this.shards,
        rows: this.shape.rows,
        recordSize: this.recordSize,
        reversePages: this.shape.reversePages,
        pageOf: (id) => this.pageOf(id),
        batchSize: options.batchSize,
        existing: options.existing,
      },
      options.repair,
    );
  }

  /** Removes every key of this index, whatever parameters or shard count it was created with. */
  async clear(): Promise<number> {
    const removed = await clearIndex(this.client, this.layout);
    for (const ctx of new Set([this.root, ...this.shards])) ctx.view = undefined;
    this.shardsReady = false;
    this.metaChecked = false;
    this.idType = undefined;
    if (this.shape.centre === true) this.mean = undefined;
    return removed;
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
    await insertBatch(this.root, idType, []);
    await settleAll(this.shards.map((ctx) => insertBatch(ctx, idType, [])));
    this.shardsReady = true;
  }

  /** With `waitForReplicas`: WAIT on the masters that took this batch's writes. */
  private async confirmReplicas(shards: Iterable<number>): Promise<void> {
    if (!this.waitForReplicas) return;
    await confirmReplicas(
      this.client,
      this.shards.map((ctx) => ctx.keys.slot),
      shards,
      this.waitForReplicas,
    );
  }
}

/** The mean of `count` vectors of `dim` dimensions, accumulated in doubles. */
function meanOf(vectors: Float32Array, count: number, dim: number): Float32Array {
  const sum = new Float64Array(dim);
  for (let v = 0; v < count; v++) for (let i = 0; i < dim; i++) sum[i] += vectors[v * dim + i];
  return Float32Array.from(sum, (x) => x / count);
}
