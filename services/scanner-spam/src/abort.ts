import { ERR, HookgateError } from '@hookgate/contracts';

/** The scan's own signal combined with a per-engine timeout, and a way to tell the two apart afterwards. */
export interface Deadline {
  signal: AbortSignal;
  /** The error to throw for a failure: the caller's abort, the engine timeout, or `err` itself. */
  classify(err: unknown): unknown;
}

/**
 * The caller aborted the scan. ScanContext.signal fires shortly before the stage deadline, so this is a timeout
 * from hookgate's point of view (the runtime records it as one).
 */
export class ScanAbortedError extends HookgateError {
  constructor(engine: string, cause?: unknown) {
    super(ERR.SCAN_TIMEOUT, `${engine} scan aborted`, { cause, retryable: true });
    this.name = 'AbortError';
  }
}

export function deadline(
  engine: string,
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
): Deadline {
  const timeout = timeoutMs !== undefined && timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined;
  const combined = AbortSignal.any([signal, timeout].filter((s): s is AbortSignal => s !== undefined));
  return {
    signal: combined,
    classify(err) {
      if (signal?.aborted) return new ScanAbortedError(engine, signal.reason);
      if (timeout?.aborted) {
        return new HookgateError(ERR.SCAN_TIMEOUT, `${engine} did not answer within ${timeoutMs} ms`, {
          retryable: true,
        });
      }
      return err;
    },
  };
}
