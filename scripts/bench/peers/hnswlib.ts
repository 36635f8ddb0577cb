/*
 * hnswlib-node: in-process HNSW (C++), built from the vectors in memory, then an ef sweep over the
 * same held-out queries. Its calls take plain arrays, so each vector is converted on the way in;
 * that conversion is part of what a Node user pays and stays inside the timings.
 *
 * hnswlib-node is not a dependency of the repository: node-gyp compiles it at install, which needs a
 * C++ toolchain, and `npm install` must work without one. It is loaded when present; when it is
 * missing the bench skips this peer and its report says why and how to add it.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dataset, Neighbours } from '../dataset';
import { recallAt } from '../ground-truth';
import { medianPercentiles, now, percentiles, progress, type Percentiles } from '../timing';
import type { PeerResult } from './types';

export interface HnswOptions {
  m: number;
  efConstruction: number;
  efs: number[];
  repeats: number;
}

export const HNSW_DEFAULTS = { m: 16, efConstruction: 200, efs: [10, 20, 40, 80, 160, 320] };

export const HNSW_PEER = 'hnswlib-node (HNSW, in process)';

/** The part of hnswlib-node's API the peer calls (typed here: the package may be absent). */
interface HierarchicalNSW {
  initIndex(options: { maxElements: number; m: number; efConstruction: number; randomSeed: number }): void;
  addPoint(point: number[], label: number): void;
  writeIndexSync(path: string): void;
  setEf(ef: number): void;
  searchKnn(query: number[], k: number): { neighbors: number[] };
}
type HnswModule = { HierarchicalNSW: new (space: 'cosine', dim: number) => HierarchicalNSW };

/** hnswlib-node, or why it cannot be loaded here. */
export async function loadHnswlib(): Promise<HnswModule | { missing: string }> {
  const name = 'hnswlib-node'; // a variable, so the type check does not need the package
  try {
    // A CommonJS addon: under tsx's ESM loader its exports may come as the namespace's `default`.
    const loaded = (await import(name)) as HnswModule & { default?: HnswModule };
    return typeof loaded.HierarchicalNSW === 'function' ? loaded : (loaded.default as HnswModule);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why =
      code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND' ? 'not installed' : `not loadable (${(err as Error).message.split('\n')[0]})`;
    return { missing: `hnswlib-node is ${why}: \`npm install --no-save hnswlib-node@3\` adds it (node-gyp compiles it, with a C++ compiler)` };
  }
}

export async function hnswPeer(data: Dataset, truth: Neighbours, options: HnswOptions): Promise<PeerResult> {
  const hnswlib = await loadHnswlib();
  if ('missing' in hnswlib) {
    progress(`  skipped: ${hnswlib.missing}`);
    return { peer: HNSW_PEER, points: [], skipped: hnswlib.missing };
  }
  const index = new hnswlib.HierarchicalNSW('cosine', data.dim);
  index.initIndex({ maxElements: data.n, m: options.m, efConstruction: options.efConstruction, randomSeed: 100 });
  const started = now();
  for (const chunk of data.chunks()) {
    for (let r = 0; r < chunk.count; r++) index.addPoint(Array.from(chunk.data.subarray(r * data.dim, (r + 1) * data.dim)), chunk.start + r);
  }
  const buildSeconds = (now() - started) / 1000;
  progress(`  hnswlib-node built at ${(data.n / buildSeconds).toFixed(0)} vectors/s`);

  const dir = mkdtempSync(join(tmpdir(), 'lshrs-bench-hnsw-'));
  let bytes: number;
  try {
    index.writeIndexSync(join(dir, 'index.bin'));
    bytes = statSync(join(dir, 'index.bin')).size;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const points = [];
  const queries = Array.from({ length: data.queryCount }, (_, q) => data.queries.subarray(q * data.dim, (q + 1) * data.dim));
  for (const ef of options.efs) {
    index.setEf(ef);
    const repeats: Percentiles[] = [];
    const recall = { at1: 0, at10: 0 };
    for (let r = 0; r < options.repeats; r++) {
      const latencies = new Float64Array(queries.length);
      queries.forEach((vector, q) => {
        const t = now();
        const found = index.searchKnn(Array.from(vector), 10);
        latencies[q] = now() - t;
        if (r === 0) {
          recall.at1 += recallAt(truth, q, found.neighbors, 1);
          recall.at10 += recallAt(truth, q, found.neighbors, 10);
        }
      });
      repeats.push(percentiles(latencies));
    }
    points.push({
      setting: `ef ${ef}`,
      queries: queries.length,
      latency: medianPercentiles(repeats),
      recall: { at1: recall.at1 / queries.length, at10: recall.at10 / queries.length },
    });
  }
  return {
    peer: HNSW_PEER,
    build: {
      seconds: buildSeconds,
      vectorsPerSecond: data.n / buildSeconds,
      what: `addPoint from memory, M ${options.m}, efConstruction ${options.efConstruction}, one thread`,
    },
    bytesPerVector: bytes / data.n,
    bytesWhat: 'its saved index file (graph and vectors)',
    points,
  };
}
