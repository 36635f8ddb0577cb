/*
 * Hashing throughput: vectors per second through what an index build does to each vector before
 * its script call, the index's Hasher (projections on the bands x rows bucket planes and the
 * sketchBits sketch planes, centred on the mean of the first batch, then the band values and the
 * packed sketch), on one thread and on one worker thread per core (each hashing its share of one
 * shared block).
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Hasher } from '../../src/hashing/hasher';
import type { IndexShape } from '../../src/params/shape';
import type { Dataset } from './dataset';
import { median, now } from './timing';

export interface HashingFigures {
  bands: number;
  rows: number;
  /** Bits of each record's sketch: its planes are hashed beside the bands x rows bucket planes. */
  sketchBits: number;
  /** Planes every vector is projected on: bands x rows + sketchBits. */
  planes: number;
  /** Whether the vectors were centred (on the mean of the block's first batch) before projection. */
  centred: boolean;
  vectors: number;
  oneThread: number;
  /** Vectors per second with `workers` threads; absent when workers were not run. */
  workers?: { threads: number; vectorsPerSecond: number };
}

/** Vectors of the first batch of a build (the default batchSize), whose mean a new index centres on. */
const FIRST_BATCH = 500;

// Worker threads do not inherit tsx's loader hooks: each registers tsx's CommonJS hook, then loads
// the TypeScript worker.
const WORKER_BOOT = `require(${JSON.stringify(require.resolve('tsx/cjs'))}); require(${JSON.stringify(join(__dirname, 'hash-worker.ts'))});`;

/** The first `count` rows of the data set in a SharedArrayBuffer. */
function sharedBlock(data: Dataset, count: number): Float32Array {
  const block = new Float32Array(new SharedArrayBuffer(count * data.dim * 4));
  for (const chunk of data.chunks()) {
    if (chunk.start >= count) break;
    const take = Math.min(chunk.count, count - chunk.start);
    block.set(chunk.data.subarray(0, take * data.dim), chunk.start * data.dim);
  }
  return block;
}

function once(worker: Worker, want: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: string) => {
      if (message === want) {
        worker.off('message', onMessage);
        worker.off('error', reject);
        resolve();
      }
    };
    worker.on('message', onMessage);
    worker.once('error', reject);
  });
}

async function withWorkers(
  block: Float32Array,
  count: number,
  shape: IndexShape,
  mean: Float32Array | null,
  threads: number,
  repeats: number,
): Promise<number> {
  const share = Math.ceil(count / threads);
  const { dim, bands, rows, sketchBits, seed } = shape;
  const workers = Array.from({ length: threads }, (_, t) => {
    const start = t * share;
    return new Worker(WORKER_BOOT, {
      eval: true,
      workerData: { dim, bands, rows, sketchBits, seed, mean, vectors: block.buffer, start, count: Math.max(0, Math.min(share, count - start)) },
    });
  });
  try {
    await Promise.all(workers.map((w) => once(w, 'ready')));
    const round = async () => {
      const done = Promise.all(workers.map((w) => once(w, 'done')));
      const started = now();
      workers.forEach((w) => w.postMessage('go'));
      await done;
      return now() - started;
    };
    await round(); // warm-up: the workers' JIT
    const times: number[] = [];
    for (let r = 0; r < repeats; r++) times.push(await round());
    return count / (median(times) / 1000);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** The mean a new index centres on: that of its first batch (none below 64 vectors, as in lshrs). */
function firstBatchMean(block: Float32Array, count: number, dim: number): Float32Array | null {
  const n = Math.min(FIRST_BATCH, count);
  if (n < 64) return null;
  const sum = new Float64Array(dim);
  for (let v = 0; v < n; v++) for (let i = 0; i < dim; i++) sum[i] += block[v * dim + i];
  return Float32Array.from(sum, (x) => x / n);
}

/** Hashing throughput with the hyperplanes of an index of this shape (`lsh.shape`). */
export async function hashingThroughput(
  data: Dataset,
  shape: IndexShape,
  options: { vectors: number; repeats: number; workers: boolean },
): Promise<HashingFigures> {
  const count = Math.min(options.vectors, data.n);
  const block = sharedBlock(data, count);
  const mean = shape.centre === false ? null : shape.centre === true ? firstBatchMean(block, count, data.dim) : shape.centre;
  const hasher = new Hasher(shape);
  hasher.useMean(mean);
  hasher.hash(block, count); // warm-up: one full pass, so the timed ones run optimised code
  const times: number[] = [];
  for (let r = 0; r < options.repeats; r++) {
    const started = now();
    hasher.hash(block, count);
    times.push(now() - started);
  }
  const figures: HashingFigures = {
    bands: shape.bands,
    rows: shape.rows,
    sketchBits: shape.sketchBits,
    planes: hasher.planeCount,
    centred: mean !== null,
    vectors: count,
    oneThread: count / (median(times) / 1000),
  };
  if (options.workers) {
    const threads = availableParallelism();
    figures.workers = { threads, vectorsPerSecond: await withWorkers(block, count, shape, mean, threads, options.repeats) };
  }
  return figures;
}
