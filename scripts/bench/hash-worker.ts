/*
 * Worker thread of the hashing figure: hashes its share of a shared block of vectors as an index
 * build does (the index's Hasher, centred on the mean it was given), each time the main thread says go.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Hasher } from '../../src/hashing/hasher';
import { resolveShape } from '../../src/params/shape';

interface Job {
  dim: number;
  bands: number;
  rows: number;
  sketchBits: number;
  seed: number | string;
  /** The mean the hasher centres on (null: raw vectors). */
  mean: Float32Array | null;
  vectors: SharedArrayBuffer;
  start: number;
  count: number;
}

const job = workerData as Job;
const hasher = new Hasher(resolveShape({ dim: job.dim, seed: job.seed, numBands: job.bands, rowsPerBand: job.rows, sketchBits: job.sketchBits }));
hasher.useMean(job.mean);
const vectors = new Float32Array(job.vectors, job.start * job.dim * 4, job.count * job.dim);

parentPort?.on('message', (message: string) => {
  if (message === 'go') {
    if (job.count > 0) hasher.hash(vectors, job.count);
    parentPort?.postMessage('done');
  } else if (message === 'stop') {
    parentPort?.close();
  }
});
parentPort?.postMessage('ready');
