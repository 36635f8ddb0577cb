import type { Percentiles } from '../timing';

/** One operating point of a peer (one ef, say), over the same held-out queries as lshrs. */
export interface PeerPoint {
  setting: string;
  /** Queries timed (the exact scan may time a subset at large n; the report says so). */
  queries: number;
  latency: Percentiles;
  /** recall@100 only where the peer was asked for 100 results. */
  recall: { at1: number; at10: number; at100?: number };
}

export interface PeerResult {
  peer: string;
  /** Build from vectors in memory (or, for pgvector, from rows in its table). */
  build?: { seconds: number; vectorsPerSecond: number; what: string };
  /** Bytes the peer's index (with its vectors) takes per vector. */
  bytesPerVector?: number;
  bytesWhat?: string;
  points: PeerPoint[];
  note?: string;
  /** Set when the peer could not run here; the report prints it instead of figures. */
  skipped?: string;
}
