import type { BuildProgress, IndexResult } from '../options';

export interface PipelineOptions {
  onProgress?: (progress: BuildProgress) => void;
  signal?: AbortSignal;
  total?: number | null;
}

/**
 * Runs batches through `hash` (CPU) and `write` (one script call) with the two overlapped: batch
 * k+1 is hashed while batch k's write is in flight. Writes stay in order, one at a time, so a
 * position recorded by each write only ever moves forward. An abort takes effect between writes,
 * after the write in flight has landed.
 */
export async function runPipeline<B, H>(
  batches: AsyncIterable<B> | Iterable<B>,
  stage: { size(batch: B): number; hash(batch: B): H; write(hashed: H): Promise<IndexResult> },
  options: PipelineOptions = {},
): Promise<IndexResult> {
  const totals: IndexResult = { added: 0, moved: 0, unchanged: 0 };
  const started = performance.now();
  const total = options.total ?? null;
  let done = 0;
  let inFlight: Promise<void> | undefined;
  const report = () => {
    if (!options.onProgress) return;
    const seconds = (performance.now() - started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const etaSeconds = total !== null && rate > 0 ? Math.max(0, total - done) / rate : null;
    options.onProgress({ done, total, rate, etaSeconds });
  };
  options.signal?.throwIfAborted();
  try {
    for await (const batch of batches) {
      const hashed = stage.hash(batch);
      const size = stage.size(batch);
      await inFlight;
      options.signal?.throwIfAborted();
      inFlight = stage.write(hashed).then((counts) => {
        totals.added += counts.added;
        totals.moved += counts.moved;
        totals.unchanged += counts.unchanged;
        done += size;
        report();
      });
      // Handled when awaited above or below; this only keeps a failure from counting as unhandled
      // while the next batch is read.
      inFlight.catch(() => undefined);
    }
  } catch (err) {
    // A bad batch or a failed read stops the run, but the write in flight lands (or fails) first,
    // so the recorded position is settled when the caller sees the error.
    await inFlight?.catch(() => undefined);
    throw err;
  }
  await inFlight;
  return totals;
}
