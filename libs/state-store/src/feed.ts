import type { Protocol, ScanResult, StageRequest, VerdictRecord } from '@hookgate/contracts';

/**
 * One answered stage as the operator console lists it: what was decided, by whom, how fast. Content-free by
 * construction: no address, subject or matched text (reasons are scanner and rule names, virus names).
 */
export interface FeedEntry {
  /** The stream entry id (`<ms>-<seq>`): read on after it. */
  id: string;
  at: number;
  protocol?: Protocol;
  stage: string;
  txnId: string;
  reqId: string;
  queueId?: string;
  action: string;
  reasons: string[];
  decidedBy: string[];
  partial: boolean;
  policy?: string;
  durationMs: number;
  quarantineId?: string;
  scanners: FeedScanner[];
}

export interface FeedScanner {
  id: string;
  status: ScanResult['outcome']['status'];
  ms: number;
  /** Error code, for `error` outcomes (timeouts are HOOKGATE_ERR_SCAN_TIMEOUT). */
  code?: string;
  cached?: boolean;
}

/** The compact, content-free summary appended to the feed stream for a verdict record. */
export function feedSummary(
  record: VerdictRecord,
  context?: Pick<StageRequest, 'protocol' | 'queueId'>,
): Omit<FeedEntry, 'id'> {
  const v = record.verdict;
  return {
    at: record.answeredAt,
    ...(context?.protocol ? { protocol: context.protocol } : {}),
    stage: record.stage,
    txnId: record.txnId,
    reqId: record.reqId,
    ...(context?.queueId ? { queueId: context.queueId } : {}),
    action: v.action,
    reasons: v.reasons,
    decidedBy: v.decidedBy,
    partial: v.partial,
    ...(v.policy ? { policy: v.policy } : {}),
    durationMs: record.durationMs,
    ...(v.quarantine ? { quarantineId: v.quarantine.id } : {}),
    scanners: record.results.map((r) => ({
      id: r.scanner,
      status: r.outcome.status,
      ms: r.durationMs,
      ...(r.outcome.status === 'error' ? { code: r.outcome.code } : {}),
      ...(r.cached ? { cached: true } : {}),
    })),
  };
}
