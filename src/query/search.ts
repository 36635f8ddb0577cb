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
import { MAX_PROBES, resolveQuery } from '../options';
import type { IndexShape } from '../params/shape';
import type { GatheredBuckets, RedisIndex } from '../redis/redis-index';
import type { MatchRequest, StoredItem, VectorStore } from '../stores/types';
import { type FilterTrace, queryChannel, queryTrace, traced, type QueryTrace } from '../tracing';
import { toFloat32, type VectorLike } from '../vectors';
import { type Candidates, ExactTopK, rerankByCosine, type Hit } from './rerank';

/**
 * The most candidates a filtered query asks the store about in one round (ids looked up in Redis
 * and matched in the store): past it, an exact scan of the matching rows is the cheaper answer.
 */
export const FILTER_MAX_CANDIDATES = 16_384;
/**
 * A filtered query reads more buckets than an unfiltered one: the nearest matching rows lie
 * farther away, where fewer of them share the query's buckets. Its probes are the query's times
 * selectivity^-FILTER_PROBE_EXPONENT (measured at 1M: 10% needs ~4x the probes for the recall an
 * unfiltered query has, 50% ~1.6x), at most FILTER_MAX_PROBES times, which is also how far a
 * query whose candidates match too few widens them.
 */
export const FILTER_PROBE_EXPONENT = 0.6;
export const FILTER_MAX_PROBES = 8;

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

/** The bucket query for a number of probes per band (a filtered query may widen them). */
type Probe = (probes: number) => BucketQuery;

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
      hits = await this.search((probes) => this.recordQuery(record.signature.subarray(4), probes), null, wider, signal, trace);
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
    let maxScore = 0;
    for (let b = hasher.sketchStart; b < hasher.planeCount; b++) maxScore += Math.abs(proj[b]);
    const scorer = new SketchScorer(proj, hasher.sketchStart, shape.sketchBits);
    const probe: Probe = (probes) => {
      const perBand = Math.min(probes, 2 ** Math.min(shape.rows, 30));
      const values = perBand > 1 ? tableProbes(hashed.values, proj, shape.bands, shape.rows, perBand) : hashed.values;
      return { values, perBand, scorer, maxScore };
    };
    if (trace) trace.phases.hashMs += performance.now() - started;
    return this.search(probe, q, plan, signal, trace);
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
    probe: Probe,
    q: Float32Array | null,
    plan: QueryPlan,
    signal: AbortSignal | undefined,
    trace: QueryTrace | undefined,
  ): Promise<Hit[]> {
    signal?.throwIfAborted();
    if (plan.match?.filter !== undefined && q) return this.searchMatching(probe, q, plan, plan.match, signal, trace);
    const asked = probe(plan.probes);
    const ranked = await this.candidates(asked, plan.rerank && q ? plan.rerankCandidates : plan.topK, signal, trace);
    if (!ranked || ranked.ids.length === 0) return [];
    if (!plan.rerank || !q) {
      return ranked.ids.slice(0, plan.topK).map((id, i) => ({ id, score: ranked.estimates[i], collisions: ranked.collisions[i] }));
    }
    const candidates = this.fetched(ranked, plan);
    signal?.throwIfAborted();
    const store = this.deps.store as VectorStore;
    const match = plan.match;
    // `columns` alone: the same fetch, with the columns.
    const fetch = match ? () => this.matchingFetch(store)(candidates.ids, match) : () => store.fetch(candidates.ids);
    const rows = await this.timedFetch(fetch, candidates.ids.length, trace);
    return this.reranked(q, candidates, rows, plan.topK, trace);
  }

  /** The store's `fetchMatching`; BAD_OPTION for a store without one. */
  private matchingFetch(store: VectorStore): NonNullable<VectorStore['fetchMatching']> {
    if (!store.fetchMatching) {
      throw new LshrsError(
        'BAD_OPTION',
        'filter and columns need a store that applies them: PostgresVectorStore, fetchVectors, or a VectorStore with fetchMatching',
      );
    }
    return store.fetchMatching.bind(store);
  }

  /** The part of the ranked candidates a reranked query fetches (`topP`). */
  private fetched(ranked: Ranked, plan: QueryPlan): Candidates {
    const take = Math.ceil(plan.topP * ranked.ids.length);
    return { ids: ranked.ids.slice(0, take), collisions: ranked.collisions.slice(0, take) };
  }

  private async timedFetch(fetch: () => Promise<Iterable<StoredItem>>, count: number, trace: QueryTrace | undefined): Promise<Iterable<StoredItem>> {
    if (!trace) return fetch();
    const mark = performance.now();
    const rows = await fetch();
    trace.phases.fetchMs += performance.now() - mark;
    trace.fetched += count;
    return rows;
  }

  private reranked(q: Float32Array, candidates: Candidates, rows: Iterable<StoredItem>, topK: number, trace: QueryTrace | undefined): Hit[] {
    if (!trace) return rerankByCosine(q, candidates, rows, topK);
    const mark = performance.now();
    const hits = rerankByCosine(q, candidates, rows, topK);
    trace.phases.rerankMs += performance.now() - mark;
    return hits;
  }

  /**
   * A query with a filter: the candidates go to the store's `fetchMatching`, which
   * returns those that match. The store's estimate of the selectivity sizes the query: the
   * candidates asked about (rerankCandidates / selectivity) and the probes (FILTER_PROBE_EXPONENT).
   * When fewer match than half the rerankCandidates, the query widens (the selectivity seen, then
   * more probes) up to FILTER_MAX_CANDIDATES and FILTER_MAX_PROBES x probes, then answers from an
   * exact scan of the matching rows (`scanMatching`), which it also starts with when the estimate
   * says the candidates could not hold enough.
   */
  private async searchMatching(
    probe: Probe,
    q: Float32Array,
    plan: QueryPlan,
    request: MatchRequest,
    signal: AbortSignal | undefined,
    trace: QueryTrace | undefined,
  ): Promise<Hit[]> {
    const store = this.deps.store as VectorStore;
    const fetchMatching = this.matchingFetch(store);
    const fetch = (ranked: Ranked) => {
      const candidates = this.fetched(ranked, plan);
      return this.timedFetch(() => fetchMatching(candidates.ids, request), candidates.ids.length, trace).then((rows) => ({
        candidates,
        rows: [...rows],
      }));
    };
    const filter = request.filter as NonNullable<MatchRequest['filter']>;
    const stats: FilterTrace = { estimated: null, rounds: 0, asked: 0, matched: 0, scanned: 0, exact: false };
    if (trace) trace.filter = stats;
    const scan = store.scanMatching ? (cap: number) => this.exactScan(q, plan, request, cap, stats, signal, trace) : undefined;
    const wanted = plan.rerankCandidates;
    let selectivity = 1;
    const mark = trace ? performance.now() : 0;
    const estimate = store.estimateMatching ? await store.estimateMatching(filter) : undefined;
    if (trace) trace.phases.fetchMs += performance.now() - mark;
    if (estimate) {
      stats.estimated = estimate.matching;
      selectivity = Math.min(1, Math.max(estimate.matching, 1) / Math.max(estimate.rows, 1));
      if (scan && wanted / selectivity > FILTER_MAX_CANDIDATES) {
        // The estimate says the candidates cannot hold enough matching rows: scan them, unless
        // (an estimate can be far off) there are many more than it said.
        const cap = Math.max(4 * estimate.matching, (wanted * Math.max(estimate.rows, 1)) / FILTER_MAX_CANDIDATES);
        const hits = await scan(cap);
        if (hits) return hits;
        selectivity = Math.max(selectivity, cap / Math.max(estimate.rows, 1));
      }
    }
    const maxProbes = Math.min(MAX_PROBES, plan.probes * FILTER_MAX_PROBES);
    let probes = Math.min(maxProbes, Math.round(plan.probes * selectivity ** -FILTER_PROBE_EXPONENT));
    let read: { probes: number; asked: BucketQuery; gathered: GatheredBuckets } | undefined;
    for (;;) {
      signal?.throwIfAborted();
      const keep = Math.min(FILTER_MAX_CANDIDATES, Math.ceil(wanted / selectivity));
      if (read?.probes !== probes) {
        const asked = probe(probes);
        read = { probes, asked, gathered: await this.gather(asked, trace) };
      }
      const ranked = await this.ranked(read.asked, read.gathered, keep, signal, trace);
      if (!ranked || ranked.ids.length === 0) return [];
      const { candidates, rows } = await fetch(ranked);
      stats.rounds++;
      stats.asked = candidates.ids.length;
      stats.matched = rows.length;
      if (rows.length >= wanted / 2) return this.reranked(q, candidates, rows, plan.topK, trace);
      // Too few matched: more candidates where the selectivity seen allows, else more probes.
      const seen = Math.max(rows.length, 1) / candidates.ids.length;
      const exhausted = ranked.ids.length < keep;
      const canGrow = keep < FILTER_MAX_CANDIDATES && !exhausted && seen < selectivity;
      const canProbe = probes < maxProbes;
      if (!canGrow && !canProbe) {
        const hits = scan ? await scan(Number.POSITIVE_INFINITY) : null;
        return hits ?? this.reranked(q, candidates, rows, plan.topK, trace);
      }
      if (canGrow) selectivity = seen;
      else probes = Math.min(maxProbes, probes * 4);
    }
  }

  /** The exact answer among the matching rows, scanned from the store; null when there were more than `cap`. */
  private async exactScan(
    q: Float32Array,
    plan: QueryPlan,
    request: MatchRequest,
    cap: number,
    stats: FilterTrace,
    signal: AbortSignal | undefined,
    trace: QueryTrace | undefined,
  ): Promise<Hit[] | null> {
    signal?.throwIfAborted();
    const store = this.deps.store as VectorStore;
    const idType: IdType = store.idType ? await store.idType() : 'str';
    const best = new ExactTopK(q, plan.topK, (id) => decodeId(String(id), idType));
    const mark = trace ? performance.now() : 0;
    let over = false;
    await (store.scanMatching as NonNullable<VectorStore['scanMatching']>)(request, (rows) => {
      best.add(rows);
      stats.scanned += rows.length;
      over = stats.scanned > cap;
      return !over;
    });
    if (trace) trace.phases.fetchMs += performance.now() - mark;
    if (over) return null;
    stats.exact = true;
    return best.result();
  }

  /** The `keep` best records of the probed buckets by sketch, as ids (null: an empty index). */
  private async candidates(asked: BucketQuery, keep: number, signal: AbortSignal | undefined, trace: QueryTrace | undefined): Promise<Ranked | null> {
    return this.ranked(asked, await this.gather(asked, trace), keep, signal, trace);
  }

  /** The records of the probed buckets: one MGET per shard. */
  private async gather(asked: BucketQuery, trace: QueryTrace | undefined): Promise<GatheredBuckets> {
    const mark = trace ? performance.now() : 0;
    const gathered = await this.deps.index.gather(asked.values, asked.perBand);
    if (trace) {
      trace.phases.redisMs += performance.now() - mark;
      trace.buckets = asked.values.length;
      trace.bytesRead = gathered.bytes;
      trace.truncated = gathered.full > 0;
    }
    return gathered;
  }

  /** The `keep` best of the gathered records by sketch, as ids (null: an empty index). */
  private async ranked(
    asked: BucketQuery,
    gathered: GatheredBuckets,
    keep: number,
    signal: AbortSignal | undefined,
    trace: QueryTrace | undefined,
  ): Promise<Ranked | null> {
    const { index } = this.deps;
    let mark = trace ? performance.now() : 0;
    const idType: IdType | undefined = gathered.idType;
    if (!idType) return null;
    const ranked = rankRecords(gathered.shards, index.recordSize, asked.scorer, keep);
    if (trace) {
      trace.phases.rankMs += performance.now() - mark;
      trace.membersRead = ranked.recordsRead;
    }
    signal?.throwIfAborted();
    if (trace) mark = performance.now();
    const raw = await index.idsOf(ranked.shard, ranked.ordinal, idType);
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
