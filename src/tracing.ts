/*
 * Tracing through node:diagnostics_channel. A query (and similar), a write (index, ingest, a build)
 * and a delete run inside a TracingChannel when anything subscribes to it, and fill the context
 * object with where their time went; subscribers read it in `asyncEnd` (or `error`). When nothing
 * subscribes, the calls check `hasSubscribers` once and measure, allocate and publish nothing.
 */
import { tracingChannel, type TracingChannel } from 'node:diagnostics_channel';
import type { Id } from './ids';
import type { DeleteResult, IndexResult, QueryOptions } from './options';
import type { Hit } from './query/rerank';

/** The channels' names, for `diagnostics_channel.tracingChannel(name)`. */
export const TRACE_CHANNELS = { query: 'lshrs:query', index: 'lshrs:index', delete: 'lshrs:delete' } as const;

/** Where a query's time went, in milliseconds. */
export interface QueryPhases {
  /** Hashing the query vector and listing the buckets it probes. */
  hashMs: number;
  /**
   * The bucket MGET (one per shard, sent together) and the ids of the candidates kept (one script
   * call per shard); for `similar` without rerank, also its reverse record.
   */
  redisMs: number;
  /** Ranking every record read by its sketch, in the client. */
  rankMs: number;
  /** The store fetch of the candidates; for `similar`, also of the id's own row; a filtered query's estimate and exact scan. */
  fetchMs: number;
  /** Exact cosines and the top k. */
  rerankMs: number;
}

/** How a filtered query found its rows: rounds of candidates, and an exact scan where they did not suffice. */
export interface FilterTrace {
  /** The rows the store estimated the filter matches (null: it gave no estimate). */
  estimated: number | null;
  /** Rounds of candidates (a bucket read and a store fetch each): more than one when too few matched. */
  rounds: number;
  /** Candidates asked of the store in the last round, and how many of them matched. */
  asked: number;
  matched: number;
  /** Rows an exact scan of the matching rows read (0: none ran). */
  scanned: number;
  /** Whether the hits came from the exact scan. */
  exact: boolean;
}

/** The context object of `lshrs:query`. */
export interface QueryTrace {
  operation: 'query' | 'similar';
  prefix: string;
  /** The id of a `similar`. */
  id?: Id;
  /** The query's options, resolved (absent when they were refused). */
  plan?: Readonly<Required<Omit<QueryOptions, 'signal' | 'filter' | 'columns'>>>;
  /** How a filtered query found its rows. */
  filter?: FilterTrace;
  phases: QueryPhases;
  /** Buckets read, over all bands (the query's own and the probes'), in each shard. */
  buckets: number;
  /** Candidates kept by sketch, with their ids. */
  candidates: number;
  /** Bucket records read and ranked (an id in several of the buckets counts in each). */
  membersRead: number;
  /** Bytes of bucket records the MGETs returned. */
  bytesRead: number;
  /** A bucket read was at its cap (`bucketCap`): records past it, in its overflow, were not read. */
  truncated: boolean;
  /** Kept candidates whose ordinal had no id (removed since the buckets were read, or damaged). */
  missingRecords: number;
  /** Candidates fetched from the store and reranked (after topP); 0 without rerank. */
  fetched: number;
  /** Set by diagnostics_channel when the call settles: the hits, or the error. */
  result?: Hit[];
  error?: unknown;
}

/** Where a write's time went, in milliseconds, summed over its batches. The hashing of a batch overlaps the write of the one before, and a build reads the next page meanwhile, so the phases may add up to more than the call took. */
export interface IndexPhases {
  hashMs: number;
  /** A build's reads of the store, page by page. */
  storeReadMs: number;
  /** Rows written to the store (when it writes). */
  storeWriteMs: number;
  /** The script calls. */
  redisMs: number;
}

/** The context object of `lshrs:index`. */
export interface IndexTrace {
  /** `index` for items given (`index(items)`, `ingest`), `build` for a build from the store. */
  operation: 'index' | 'build';
  prefix: string;
  /** A build that continues from its recorded position. */
  resume: boolean;
  /** Batches written, and the ids in them. */
  batches: number;
  items: number;
  phases: IndexPhases;
  result?: IndexResult;
  error?: unknown;
}

/** The context object of `lshrs:delete`. */
export interface DeleteTrace {
  operation: 'delete';
  prefix: string;
  /** Distinct ids asked to be deleted. */
  ids: number;
  phases: { redisMs: number; storeMs: number };
  result?: DeleteResult;
  error?: unknown;
}

export const queryChannel: TracingChannel<unknown, QueryTrace> = tracingChannel(TRACE_CHANNELS.query);
export const indexChannel: TracingChannel<unknown, IndexTrace> = tracingChannel(TRACE_CHANNELS.index);
export const deleteChannel: TracingChannel<unknown, DeleteTrace> = tracingChannel(TRACE_CHANNELS.delete);

/** Whether anything subscribes to a channel (before Node 20.13, TracingChannel has no `hasSubscribers`: then any of its five). */
export function traced(channel: TracingChannel<unknown, object>): boolean {
  return (
    channel.hasSubscribers ??
    (channel.start.hasSubscribers ||
      channel.end.hasSubscribers ||
      channel.asyncStart.hasSubscribers ||
      channel.asyncEnd.hasSubscribers ||
      channel.error.hasSubscribers)
  );
}

export function queryTrace(operation: QueryTrace['operation'], prefix: string): QueryTrace {
  return {
    operation,
    prefix,
    phases: { hashMs: 0, redisMs: 0, rankMs: 0, fetchMs: 0, rerankMs: 0 },
    buckets: 0,
    candidates: 0,
    membersRead: 0,
    bytesRead: 0,
    truncated: false,
    missingRecords: 0,
    fetched: 0,
  };
}

export function indexTrace(operation: IndexTrace['operation'], prefix: string, resume: boolean): IndexTrace {
  return { operation, prefix, resume, batches: 0, items: 0, phases: { hashMs: 0, storeReadMs: 0, storeWriteMs: 0, redisMs: 0 } };
}

export function deleteTrace(prefix: string): DeleteTrace {
  return { operation: 'delete', prefix, ids: 0, phases: { redisMs: 0, storeMs: 0 } };
}
