import { EXIT } from './errors';

/** Ctrl-C during a long command: aborts `signal`, so the command stops after the batch in flight. */
export interface Interrupt {
  readonly signal: AbortSignal;
  /** 130 after SIGINT, 143 after SIGTERM. */
  readonly exitCode: number;
  dispose(): void;
}

/**
 * Turns SIGINT (and SIGTERM) into an abort for as long as it is installed. The first signal aborts,
 * and the command says where it stopped; a second one ends the process at once.
 */
export function onInterrupt(): Interrupt {
  const controller = new AbortController();
  let exitCode: number = EXIT.interrupted;
  const handler = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(exitCode);
    exitCode = signal === 'SIGTERM' ? 143 : EXIT.interrupted;
    controller.abort();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    get exitCode() {
      return exitCode;
    },
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
