/**
 * What a scanner or check is handed, for tests that call one directly: a stage request (a data stage of one
 * Stalwart session unless overridden) and a scan context with a silent log.
 */
import type { StageRequest } from '@hookgate/contracts';
import type { ScanContext } from '@hookgate/scanner-sdk';

export function stageRequest(over: Partial<StageRequest> = {}): StageRequest {
  return {
    v: 1,
    protocol: 'stalwart',
    stage: 'data',
    sessionId: 's',
    txnId: 's.1',
    reqId: 'r',
    client: { ip: '192.0.2.1' },
    receivedAt: 0,
    deadlineAt: 0,
    ...over,
  };
}

/** A context whose deadline is `timeoutMs` from now; the signal aborts then unless one is given. */
export function scanContext(
  timeoutMs = 10_000,
  signal: AbortSignal = AbortSignal.timeout(timeoutMs),
): ScanContext {
  return {
    signal,
    deadlineAt: Date.now() + timeoutMs,
    log: { debug() {}, info() {}, warn() {}, error() {} },
  };
}
