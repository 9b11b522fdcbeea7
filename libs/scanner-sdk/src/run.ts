import { ERR, errorCode, errorMessage, withTimeout, type ScanOutcome } from '@hookgate/contracts';
import type { Scanner, ScanInput, ScanLogger } from './scanner.js';

/**
 * How long before the stage deadline a scan is aborted, ms: its timeout outcome must still reach the ingress,
 * which answers at the deadline. One rule for every host (issue 14: the inline host used 50 ms, the queue host
 * 250 ms, so the same slow scanner gave different answers depending on where it ran).
 */
export const SCAN_MARGIN_MS = 250;

export interface RunScanOptions {
  /** The stage deadline, epoch ms; the scan gets until `deadlineAt - marginMs`. */
  deadlineAt: number;
  log: ScanLogger;
  /** Default SCAN_MARGIN_MS. */
  marginMs?: number;
  now?: () => number;
}

/**
 * Runs one scan the way every host must (the scanner contract: "the host enforces the deadline"): skip when the
 * plugin says so, abort at the deadline minus the margin, and turn every failure into an explicit `error` outcome.
 * Never throws. A failure is retryable only when the engine was unreachable: retrying a protocol error or a bug
 * would fail the same way; a timeout is retryable (a later attempt may be quicker).
 */
export async function runScan(scanner: Scanner, input: ScanInput, o: RunScanOptions): Promise<ScanOutcome> {
  const now = o.now ?? Date.now;
  const skip = scanner.shouldScan?.(input);
  if (skip) return { status: 'skip', reason: skip };
  const until = o.deadlineAt - (o.marginMs ?? SCAN_MARGIN_MS);
  const controller = new AbortController();
  const scanned = Promise.resolve()
    .then(() => scanner.scan(input, { signal: controller.signal, deadlineAt: until, log: o.log }))
    .catch((err: unknown): ScanOutcome => {
      if (controller.signal.aborted) return timeoutOutcome('scan aborted at the deadline');
      const code = errorCode(err) ?? ERR.SCAN_FAILED;
      o.log.warn({ err: { ...(errorCode(err) ? { code } : {}), message: errorMessage(err) } }, 'scan failed');
      return {
        status: 'error',
        code,
        message: errorMessage(err),
        retryable: code === ERR.SCAN_ENGINE_UNAVAILABLE,
      };
    });
  return withTimeout(scanned, until - now(), () => {
    controller.abort();
    return timeoutOutcome('scan did not finish before the deadline');
  });
}

function timeoutOutcome(message: string): ScanOutcome {
  return { status: 'error', code: ERR.SCAN_TIMEOUT, message, retryable: true };
}
