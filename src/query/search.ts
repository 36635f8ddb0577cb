/*
 * The query room: a query vector is hashed, the buckets it probes listed (its own, then the
 * cheapest flips), the index asked for their candidates in one script call per shard, and the best
 * fetched from the store in one call and reranked by exact cosine.
 */
import { LshrsError } from '../errors';
import { bandValues, packSignature, unpackSignature } from '../hashing/signatures';
import { probeSequence, projections, type Probe } from '../hashing/probes';
import { commonIdType, decodeId, type Id } from '../ids';
import type { QueryBudget, QueryOptions, QueryPlan } from '../options';
import { resolveQuery } from '../options';
import type { IndexShape } from '../params/shape';
import type { RedisIndex } from '../redis/redis-index';
import type { CandidateList } from '../redis/script-calls';
import type { VectorStore } from '../stores/types';
import { queryChannel, queryTrace, traced, type QueryTrace } from '../tracing';
import { toFloat32, type VectorLike } from '../vectors';
import { rerankByCosine, type Hit } from './rerank';

export interface SearcherDeps {
  index: RedisIndex;
  shape: IndexShape;
  planes: Float32Array;
  budget: QueryBudget;
  store?: VectorStore;
}

/** Only the query's own bucket in each band. */
function ownBuckets(values: ArrayLike<number>): Probe[] {
  return Array.from(values, (value, band) => ({ band, value }));
}

export class Searcher {
  constructor(private readonly deps: SearcherDeps) {}

  /** The nearest items to `vector`: candidates from the buckets, reranked by exact cosine. */
  query(vector: VectorLike, options: QueryOptions): Promise<Hit[]> {
    if (!traced(queryChannel)) return this.runQuery(vector, options);
    const trace = queryTrace('query', this.deps.index.prefix);
    return queryChannel.tracePromise(async () => this.runQuery(vector, options, trace), trace);
  }

  /**
   * "More like this": the nearest items to an id already indexed, the id itself left out. Reranked,
   * its vector comes from the store; with `rerank: false`, its buckets come from its reverse record.
   */
  similar(id: Id, options: QueryOptions): Promise<Hit[]> {
    if (!traced(queryChannel)) return this.runSimilar(id, options);
    const trace = queryTrace('similar', this.deps.index.prefix);
    trace.id = id;
    return queryChannel.tracePromise(async () => this.runSimilar(id, options, trace), trace);
  }

  private runQuery(vector: VectorLike, options: QueryOptions, trace?: QueryTrace): Promise<Hit[]> {
    const plan = this.plan(options, trace);
    return this.searchVector(toFloat32(vector, this.deps.shape.dim, 'query'), plan, options.signal, trace);
  }

  private async runSimilar(id: Id, options: QueryOptions, trace?: QueryTrace): Promise<Hit[]> {
    commonIdType([id]);
    const plan = this.plan(options, trace);
    const wider = { ...plan, topK: plan.topK + 1 };
    const signal = options.signal;
    let hits: Hit[];
    signal?.throwIfAborted();
    const started = trace ? performance.now() : 0;
    if (plan.rerank) {
      const row = [...(await (this.deps.store as VectorStore).fetch([id]))].find((r) => String(r.id) === String(id));
      if (trace) trace.phases.fetchMs += performance.now() - started;
      if (!row) throw new LshrsError('NOT_FOUND', `id ${JSON.stringify(id)} has no row in the store`);
      const q = toFloat32(row.vector, this.deps.shape.dim, `stored vector of id ${JSON.stringify(id)}`);
      hits = await this.searchVector(q, wider, signal, trace);
    } else {
      const record = await this.deps.index.reverseRecord(id);
      if (trace) trace.phases.redisMs += performance.now() - started;
      if (!record) throw new LshrsError('NOT_FOUND', `id ${JSON.stringify(id)} is not in the index`);
      // No vector, no projections: only the id's own buckets are read.
      const { bands, rows } = this.deps.shape;
      hits = await this.search(ownBuckets(unpackSignature(record.signature, bands, rows)), record.signature, null, wider, signal, trace);
    }
    return hits.filter((hit) => String(hit.id) !== String(id)).slice(0, plan.topK);
  }

  private plan(options: QueryOptions, trace: QueryTrace | undefined): QueryPlan {
    const plan = resolveQuery(options, this.deps.budget, this.deps.store !== undefined);
    if (trace) trace.plan = plan;
    return plan;
  }

  /** Hashes a query vector, lists the buckets it probes, and searches them. */
  private searchVector(q: Float32Array, plan: QueryPlan, signal: AbortSignal | undefined, trace: QueryTrace | undefined): Promise<Hit[]> {
    const started = trace ? performance.now() : 0;
    const { shape, planes } = this.deps;
    const values = bandValues(q, 1, planes, shape);
    const probed =
      plan.probes > 1 ? probeSequence(values, projections(q, planes, shape.dim), shape.bands, shape.rows, plan.probes) : ownBuckets(values);
    const signature = packSignature(values, 0, shape.bands, shape.rows);
    if (trace) trace.phases.hashMs += performance.now() - started;
    return this.search(probed, signature, q, plan, signal, trace);
  }

  /**
   * The candidates of the probed buckets, then (reranked) one store fetch and exact cosines. An
   * aborted `signal` stops it before each of the two calls, with the signal's reason.
   */
  private async search(
    probed: readonly Probe[],
    signature: Buffer,
    q: Float32Array | null,
    plan: QueryPlan,
    signal: AbortSignal | undefined,
    trace: QueryTrace | undefined,
  ): Promise<Hit[]> {
    signal?.throwIfAborted();
    let mark = trace ? performance.now() : 0;
    const found = await this.deps.index.candidates(probed, signature, plan);
    if (trace) {
      trace.phases.redisMs += performance.now() - mark;
      trace.buckets = probed.length;
      trace.candidates = found.ids.length;
      trace.membersRead = found.buckets.read;
      trace.truncated = found.buckets.truncated;
      trace.missingRecords = found.buckets.missingRecords;
    }
    const idType = found.idType;
    if (!idType || found.ids.length === 0) return [];
    const ids = found.ids.map((raw) => decodeId(raw, idType));
    if (!plan.rerank || !q) return ids.slice(0, plan.topK).map((id, i) => ({ id, score: this.estimate(found, i), collisions: found.collisions[i] }));
    const take = Math.ceil(plan.topP * ids.length);
    const candidates = { ids: ids.slice(0, take), collisions: found.collisions.slice(0, take) };
    signal?.throwIfAborted();
    if (trace) mark = performance.now();
    const rows = await (this.deps.store as VectorStore).fetch(candidates.ids);
    if (!trace) return rerankByCosine(q, candidates, rows, plan.topK);
    const fetched = performance.now();
    trace.phases.fetchMs += fetched - mark;
    trace.fetched = take;
    const hits = rerankByCosine(q, candidates, rows, plan.topK);
    trace.phases.rerankMs += performance.now() - fetched;
    return hits;
  }

  /** Without vectors: the cosine a Hamming distance implies (SimHash), or the share of bands. */
  private estimate(found: CandidateList, i: number): number {
    const { bands, rows } = this.deps.shape;
    return found.hamming[i] >= 0 ? Math.cos((Math.PI * found.hamming[i]) / (bands * rows)) : found.collisions[i] / bands;
  }
}
