import {
  ERR,
  errorCode,
  errorMessage,
  withTimeout,
  type Protocol,
  type SmtpReply,
  type StageRequest,
  type Verdict,
  type VerdictRecord,
} from '@hookgate/contracts';
import type { ScanLogger } from '@hookgate/scanner-sdk';

/**
 * Where a quarantine verdict's message is kept before the MTA is answered (issue 16; libs/quarantine implements
 * it). The pipeline stays protocol-agnostic: the keeper says per protocol whether hookgate keeps the message and
 * how the MTA is then answered; for the others the MTA holds quarantined mail itself (Postfix hold, a header).
 */
export interface QuarantineKeeper {
  /** `reject` (a reply naming the item) or `discard` when hookgate keeps this protocol's mail; else undefined. */
  answerFor(protocol: Protocol): 'reject' | 'discard' | undefined;
  /** Keeps the message with its record; resolves with the quarantine id. */
  keep(request: StageRequest, message: Uint8Array, record: VerdictRecord): Promise<string>;
  /** Removes an item kept after the answer was already given as tempfail (the MTA still has the message). */
  forget(id: string): Promise<void>;
  /** The reject reply naming the item. */
  reply(id: string): SmtpReply;
}

const FULL: SmtpReply = { code: 452, enhanced: '4.3.1', text: 'Quarantine full, try again later' };
const UNAVAILABLE: SmtpReply = {
  code: 451,
  enhanced: '4.3.0',
  text: 'Quarantine unavailable, try again later',
};

/**
 * Keeps a quarantined message and returns the verdict to answer with: the same verdict naming the item, or — when
 * the item could not be kept in `budgetMs` (store full, failing or slow) — a tempfail, so the MTA keeps the
 * message and retries: it is never lost between the MTA and the quarantine. An item kept after the budget ran out
 * is removed again, so the retry does not leave a second copy.
 */
export async function keepQuarantined(
  keeper: QuarantineKeeper,
  o: {
    request: StageRequest;
    message: Uint8Array;
    record: VerdictRecord;
    answer: 'reject' | 'discard';
    dispatched: Promise<unknown>;
    budgetMs: number;
    log: ScanLogger;
  },
): Promise<Verdict> {
  const verdict = o.record.verdict;
  // The record names the transaction once the stage is recorded (normally long before any scan answered).
  const kept = o.dispatched.then(() =>
    keeper.keep(o.request, o.message, { ...o.record, txnId: o.request.txnId }),
  );
  const outcome = await withTimeout(
    kept.then(
      (id) => ({ id }),
      (err: unknown) => ({ err }),
    ),
    o.budgetMs,
    () => 'late' as const,
  );
  if (outcome !== 'late' && 'id' in outcome) {
    return { ...verdict, reply: keeper.reply(outcome.id), quarantine: { id: outcome.id, answer: o.answer } };
  }
  if (outcome === 'late') void kept.then((id) => keeper.forget(id)).catch(() => undefined);
  const full = outcome !== 'late' && errorCode(outcome.err) === ERR.QUARANTINE_FULL;
  const why = outcome === 'late' ? `not kept within ${o.budgetMs} ms` : errorMessage(outcome.err);
  o.log.warn(
    { reqId: o.request.reqId, stage: o.request.stage, err: why },
    'quarantine could not keep the message: answered tempfail (the MTA keeps it)',
  );
  return {
    ...verdict,
    action: 'tempfail',
    reply: full ? FULL : UNAVAILABLE,
    modifications: [],
    reasons: [...verdict.reasons, full ? 'quarantine:full' : 'quarantine:unavailable'],
    decidedBy: [...verdict.decidedBy, 'quarantine'],
  };
}
