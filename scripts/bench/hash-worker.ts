/*
 * Worker thread of the hashing figure: hashes its share of a shared block of vectors with the
 * public bandValues, each time the main thread says go.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { bandValues, hyperplanes } from '../../src';

interface Job {
  dim: number;
  bands: number;
  rows: number;
  seed: number;
  vectors: SharedArrayBuffer;
  start: number;
  count: number;
}

const job = workerData as Job;
const planes = hyperplanes(job.dim, job.bands * job.rows, job.seed);
const vectors = new Float32Array(job.vectors, job.start * job.dim * 4, job.count * job.dim);
const out = new Uint32Array(job.count * job.bands);
const layout = { dim: job.dim, bands: job.bands, rows: job.rows };

parentPort?.on('message', (message: string) => {
  if (message === 'go') {
    bandValues(vectors, job.count, planes, layout, out);
    parentPort?.postMessage('done');
  } else if (message === 'stop') {
    parentPort?.close();
  }
});
parentPort?.postMessage('ready');
