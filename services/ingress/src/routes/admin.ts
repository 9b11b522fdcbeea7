import type { FastifyInstance } from 'fastify';
import type { TransactionStore } from '@hookgate/state-store';
import { ERRORS, type VerdictRecord } from '@hookgate/contracts';
import { HttpError } from '../errors.js';

/**
 * GET /admin/transactions/:txnId — the record of a recent transaction: every stage request answered, with its
 * verdict, the scanners expected, each result (outcome, duration, cached) and the policy and rule that decided.
 * Content-free by construction: records never hold message bytes or matched text.
 */
export function adminRoutes(app: FastifyInstance, store: TransactionStore): void {
  app.get<{ Params: { txnId: string } }>('/admin/transactions/:txnId', async (req) =>
    transactionView(store, req.params.txnId),
  );
}

/** Every stage request of a transaction with its verdict record (also looked up by queue id: routes/operator.ts). */
export async function transactionView(store: TransactionStore, txnId: string) {
  const m = /^([A-Za-z0-9_-]{1,64})\.(\d{1,9})$/.exec(txnId);
  if (!m) throw new HttpError(ERRORS.REQUEST_INVALID, 'transaction id must look like <session>.<n>');
  const [, sessionId, n] = m as unknown as [string, string, string];
  const log = (await store.stageLog(sessionId)).filter((e) => e.txn === Number(n));
  if (log.length === 0)
    throw new HttpError(ERRORS.NOT_FOUND, 'no such transaction (unknown, or expired from Redis)');
  const records = await Promise.all(log.map((e) => store.verdict(sessionId, e.reqId)));
  return {
    txnId,
    stages: log.map((e, i) => ({
      stage: e.stage,
      reqId: e.reqId,
      record: (records[i] ?? null) as VerdictRecord | null,
    })),
  };
}
