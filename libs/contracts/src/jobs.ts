import type { Stage } from './model.js';

/**
 * BullMQ job data for one scan: small, JSON-safe, and never message bytes (claim-check). Everything a worker
 * needs beyond this is read from the state store by `sessionId` + `reqId`.
 */
export interface ScanJob {
  v: 1;
  sessionId: string;
  /** For log lines and traces; the store is keyed by session and request. */
  txnId: string;
  reqId: string;
  stage: Stage;
  scanner: string;
  /** Epoch ms; a worker that starts after it skips the job (no retries for deadline-bound scans). */
  deadlineAt: number;
  /** Ingress instance waiting for the result: the notification goes to its channel only. */
  replyTo: string;
  /** W3C trace context (traceparent, tracestate). */
  trace?: Record<string, string>;
}

/** Queue name for a scanner id. Queue names never contain `:` (BullMQ rejects it). */
export function scanQueueName(scannerId: string): string {
  return `scan-${scannerId}`;
}

/** Job id for a scan: also deduplicates a repeated fan-out of the same request. */
export function scanJobId(reqId: string, scannerId: string): string {
  return `${reqId}-${scannerId}`;
}
