/*
 * Hashing throughput: band values per second with lshrs' public bandValues, on one thread and on
 * one worker thread per core (each hashing its share of one shared block).
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { bandValues, hyperplanes } from '../../src';
import type { Dataset } from './dataset';
import { median, now } from './timing';

export interface HashingFigures {
  bands: number;
  rows: number;
  vectors: number;
  oneThread: number;
  /** Vectors per second with `workers` threads; absent when workers were not run. */
  workers?: { threads: number; vectorsPerSecond: number };
}

const SEED = 42;

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
  dim: number,
  bands: number,
  rows: number,
  threads: number,
  repeats: number,
): Promise<number> {
  const share = Math.ceil(count / threads);
  const workers = Array.from({ length: threads }, (_, t) => {
    const start = t * share;
    return new Worker(WORKER_BOOT, {
      eval: true,
      workerData: { dim, bands, rows, seed: SEED, vectors: block.buffer, start, count: Math.max(0, Math.min(share, count - start)) },
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

export async function hashingThroughput(
  data: Dataset,
  shape: { bands: number; rows: number },
  options: { vectors: number; repeats: number; workers: boolean },
): Promise<HashingFigures> {
  const count = Math.min(options.vectors, data.n);
  const block = sharedBlock(data, count);
  const planes = hyperplanes(data.dim, shape.bands * shape.rows, SEED);
  const layout = { dim: data.dim, ...shape };
  const out = new Uint32Array(count * shape.bands);
  bandValues(block, count, planes, layout, out); // warm-up: one full pass, so the timed ones run optimised code
  const times: number[] = [];
  for (let r = 0; r < options.repeats; r++) {
    const started = now();
    bandValues(block, count, planes, layout, out);
    times.push(now() - started);
  }
  const figures: HashingFigures = { ...shape, vectors: count, oneThread: count / (median(times) / 1000) };
  if (options.workers) {
    const threads = availableParallelism();
    figures.workers = { threads, vectorsPerSecond: await withWorkers(block, count, data.dim, shape.bands, shape.rows, threads, options.repeats) };
  }
  return figures;
}
