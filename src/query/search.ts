/*
 * The query room: a query vector is hashed (centred, as the index is), the buckets it probes
 * listed (its own in each band, then the cheapest flips, as many in each band), their records
 * gathered with one MGET per shard, every record ranked by its sketch here in the client, the
 * best turned into ids (one bounded script call per shard), fetched from the store in one call
 * and reranked by exact cosine.
 */
import { LshrsError } from '../errors';
import type { Hasher } from '../hashing/hasher';
import { rankRecords, SketchScorer } from '../hashing/sketch-rank';
import { unpackSignature } from '../hashing/signatures';
import { tableProbes } from '../hashing/table-probes';
import { commonIdType, decodeId, type Id, type IdType } from '../ids';
import type { QueryBudget, QueryOptions, QueryPlan } from '../options';
import { resolveQuery } from '../options';
import type { IndexShape } from '../params/shape';
import type { RedisIndex } from '../redis/redis-index';
import type { VectorStore } from '../stores/types';
import { queryChannel, queryTrace, traced, type QueryTrace } from '../tracing';
import { toFloat32, type VectorLike } from '../vectors';
import { rerankByCosine, type Hit } from './rerank';

export interface SearcherDeps {
  index: RedisIndex;
  shape: IndexShape;
  hasher: Hasher;
  budget: QueryBudget;
  store?: VectorStore;
}

/** What a query asks the buckets: the values to read, `perBand` per band, and how to rank records. */
interface BucketQuery {
  values: Uint32Array;
  perBand: number;
  scorer: SketchScorer;
  /** The scorer's largest score (every sketch bit disagreeing), to turn a score into a cosine estimate. */
  maxScore: number;
}

/** The candidates kept by sketch, best first, with their ids. */
interface Ranked {
  ids: Id[];
  collisions: number[];
  /** Cosine estimates from the sketch (for results without rerank). */
  estimates: number[];
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
   * its vector comes from the store; with `rerank: false`, its buckets and sketch come from its
   * reverse record.
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
      await this.deps.index.checkedMeta();
      const record = await this.deps.index.reverseRecord(id);
      if (trace) trace.phases.redisMs += performance.now() - started;
      if (!record) throw new LshrsError('NOT_FOUND', `id ${JSON.stringify(id)} is not in the index`);
      hits = await this.search(this.recordQuery(record.signature.subarray(4), plan.probes), null, wider, signal, trace);
    }
    return hits.filter((hit) => String(hit.id) !== String(id)).slice(0, plan.topK);
  }

  private plan(options: QueryOptions, trace: QueryTrace | undefined): QueryPlan {
    const plan = resolveQuery(options, this.deps.budget, this.deps.store !== undefined);
    if (trace) trace.plan = plan;
    return plan;
  }

  /** Hashes a query vector, lists the buckets it probes, and searches them. */
  private async searchVector(q: Float32Array, plan: QueryPlan, signal: AbortSignal | undefined, trace: QueryTrace | undefined): Promise<Hit[]> {
    const { shape, hasher, index } = this.deps;
    hasher.useMean(await index.centring());
    const started = trace ? performance.now() : 0;
    const hashed = hasher.hash(q, 1);
    const proj = hashed.projections;
    const perBand = Math.min(plan.probes, 2 ** Math.min(shape.rows, 30));
    const values = perBand > 1 ? tableProbes(hashed.values, proj, shape.bands, shape.rows, perBand) : hashed.values;
    let maxScore = 0;
    for (let b = hasher.sketchStart; b < hasher.planeCount; b++) maxScore += Math.abs(proj[b]);
    const asked: BucketQuery = { values, perBand, scorer: new SketchScorer(proj, hasher.sketchStart, shape.sketchBits), maxScore };
    if (trace) trace.phases.hashMs += performance.now() - started;
    return this.search(asked, q, plan, signal, trace);
  }

  /**
   * An indexed item's buckets and those a few bit flips away (fewest flips first: without its
   * vector, no bit is known to be less sure than another), ranked by Hamming distance to its sketch.
   */
  private recordQuery(signature: Uint8Array, probes: number): BucketQuery {
    const { shape, hasher } = this.deps;
    const own = Uint32Array.from(unpackSignature(signature, shape.bands, shape.rows));
    const sketch = signature.subarray(hasher.valueBytes);
    // Unit projections: every flip costs the same, and the asymmetric score becomes the Hamming distance.
    const proj = new Float64Array(hasher.planeCount).fill(1);
    for (let b = 0; b < shape.sketchBits; b++) proj[hasher.sketchStart + b] = sketch[b >> 3] & (1 << (b & 7)) ? 1 : -1;
    const perBand = Math.min(probes, 2 ** Math.min(shape.rows, 30));
    const values = perBand > 1 ? tableProbes(own, proj, shape.bands, shape.rows, perBand) : own;
    return { values, perBand, scorer: new SketchScorer(proj, hasher.sketchStart, shape.sketchBits), maxScore: shape.sketchBits };
  }

  /**
   * The records of the probed buckets, ranked by sketch, then (reranked) one store fetch and exact
   * cosines. An aborted `signal` stops it before each call, with the signal's reason.
   */
  private async search(
    asked: BucketQuery,
    q: Float32Array | null,
    plan: QueryPlan,
    signal: AbortSignal | undefined,
    trace: QueryTrace | undefined,
  ): Promise<Hit[]> {
    signal?.throwIfAborted();
    const ranked = await this.candidates(asked, plan.rerank && q ? plan.rerankCandidates : plan.topK, signal, trace);
    if (!ranked || ranked.ids.length === 0) return [];
    if (!plan.rerank || !q) {
      return ranked.ids.slice(0, plan.topK).map((id, i) => ({ id, score: ranked.estimates[i], collisions: ranked.collisions[i] }));
    }
    const take = Math.ceil(plan.topP * ranked.ids.length);
    const candidates = { ids: ranked.ids.slice(0, take), collisions: ranked.collisions.slice(0, take) };
    signal?.throwIfAborted();
    const mark = trace ? performance.now() : 0;
    const rows = await (this.deps.store as VectorStore).fetch(candidates.ids);
    if (!trace) return rerankByCosine(q, candidates, rows, plan.topK);
    const fetched = performance.now();
    trace.phases.fetchMs += fetched - mark;
    trace.fetched = take;
    const hits = rerankByCosine(q, candidates, rows, plan.topK);
    trace.phases.rerankMs += performance.now() - fetched;
    return hits;
  }

  /** The `keep` best records of the probed buckets by sketch, as ids (null: an empty index). */
  private async candidates(asked: BucketQuery, keep: number, signal: AbortSignal | undefined, trace: QueryTrace | undefined): Promise<Ranked | null> {
    const { index } = this.deps;
    let mark = trace ? performance.now() : 0;
    const gathered = await index.gather(asked.values, asked.perBand);
    if (trace) {
      trace.phases.redisMs += performance.now() - mark;
      trace.buckets = asked.values.length;
      trace.bytesRead = gathered.bytes;
      trace.truncated = gathered.full > 0;
      mark = performance.now();
    }
    const idType: IdType | undefined = gathered.idType;
    if (!idType) return null;
    const ranked = rankRecords(gathered.shards, index.recordSize, asked.scorer, keep);
    if (trace) {
      trace.phases.rankMs += performance.now() - mark;
      trace.membersRead = ranked.recordsRead;
    }
    signal?.throwIfAborted();
    if (trace) mark = performance.now();
    const raw = await index.idsOf(ranked.shard, ranked.ordinal);
    const out: Ranked = { ids: [], collisions: [], estimates: [] };
    let missing = 0;
    raw.forEach((id, i) => {
      if (id === null) {
        missing++;
        return;
      }
      out.ids.push(decodeId(id, idType));
      out.collisions.push(ranked.collisions[i]);
      out.estimates.push(Math.cos((Math.PI * ranked.score[i]) / (asked.maxScore || 1)));
    });
    if (trace) {
      trace.phases.redisMs += performance.now() - mark;
      trace.candidates = out.ids.length;
      trace.missingRecords = missing;
    }
    return out;
  }
}
