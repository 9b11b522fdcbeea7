/** Verdicts the pipeline gives without waiting for scanners, and the one log line every verdict gets. */
import type { ScanResult, StageRequest, Verdict } from '@hookgate/contracts';
import { decide } from '@hookgate/verdict';
import type { BudgetRefusal } from './budget.js';
import type { PipelineLogger } from './deps.js';

/** A decision that must be final (nothing is expected, or everything is known). */
export function decideNow(input: Parameters<typeof decide>[0]): Verdict {
  const d = decide(input);
  if (!d.final) throw new Error('decision unexpectedly not final');
  return d.verdict;
}

/** The answer to a caller over its byte budget: a temporary failure, before anything is stored. */
export function budgetVerdict(which: BudgetRefusal, policy: string, rule: string): Verdict {
  return {
    v: 1,
    action: 'tempfail',
    reply: { code: 451, enhanced: '4.3.1', text: 'Too much mail in flight, try again later' },
    modifications: [],
    reasons: [`budget:${which}`],
    decidedBy: ['budget'],
    partial: false,
    policy,
    rule,
  };
}

/** The one summary line per verdict; content-free. */
export function logVerdict(
  log: PipelineLogger,
  level: 'info' | 'debug',
  request: StageRequest,
  verdict: Verdict,
  durationMs: number,
  results: readonly ScanResult[],
): void {
  if (level === 'debug' && log.isLevelEnabled?.('debug') === false) return;
  log[level](
    {
      reqId: request.reqId,
      ...(request.txnId ? { txnId: request.txnId } : {}),
      stage: request.stage,
      action: verdict.action,
      decidedBy: verdict.decidedBy,
      reasons: verdict.reasons,
      partial: verdict.partial,
      durationMs,
      scanners: Object.fromEntries(results.map((r) => [r.scanner, `${r.outcome.status}/${r.durationMs}ms`])),
    },
    'verdict',
  );
}
