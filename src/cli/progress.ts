import { SingleBar } from 'cli-progress';
import type { BuildProgress } from '../options';

/** A progress bar with rate and ETA on a terminal; plain lines (at most one a second) when piped. */
export function progressReporter(label: string, enabled: boolean): { update(p: BuildProgress): void; stop(): void } {
  if (!enabled) return { update: () => undefined, stop: () => undefined };
  if (process.stderr.isTTY) {
    const bar = new SingleBar({
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% | {value}/{total} | {rate}/s | ETA {eta_formatted}`,
      hideCursor: true,
    });
    let started = false;
    return {
      update(p) {
        if (!started) {
          bar.start(p.total ?? p.done, 0, { rate: '0' });
          started = true;
        }
        if (p.total === null) bar.setTotal(p.done);
        bar.update(p.done, { rate: Math.round(p.rate).toString() });
      },
      stop: () => started && bar.stop(),
    };
  }
  let lastLine = 0;
  return {
    update(p) {
      const now = Date.now();
      if (now - lastLine < 1000 && p.done !== p.total) return;
      lastLine = now;
      const of = p.total === null ? '' : ` of ${p.total}`;
      const eta = p.etaSeconds === null ? '' : `, ETA ${Math.ceil(p.etaSeconds)} s`;
      process.stderr.write(`${label}: ${p.done}${of} rows, ${Math.round(p.rate)}/s${eta}\n`);
    },
    stop: () => undefined,
  };
}
