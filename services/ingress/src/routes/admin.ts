import type { FastifyInstance } from 'fastify';
import type { TransactionStore } from '@hookgate/state-store';
import { ERR, type VerdictRecord } from '@hookgate/contracts';
import { HttpError } from '../errors.js';

/**
 * GET /admin/transactions/:txnId — the record of a recent transaction: every stage request answered, with its
 * verdict, the scanners expected, each result (outcome, duration, cached) and the policy and rule that decided.
 * Content-free by construction: records never hold message bytes or matched text.
 */
export function adminRoutes(app: FastifyInstance, store: TransactionStore): void {
  app.get<{ Params: { txnId: string } }>('/admin/transactions/:txnId', async (req) => {
    const m = /^([A-Za-z0-9_-]{1,64})\.(\d{1,9})$/.exec(req.params.txnId);
    if (!m) throw new HttpError(400, ERR.REQUEST_INVALID, 'transaction id must look like <session>.<n>');
    const [, sessionId, n] = m as unknown as [string, string, string];
    const log = (await store.stageLog(sessionId)).filter((e) => e.txn === Number(n));
    if (log.length === 0) throw new HttpError(404, ERR.NOT_FOUND, 'no such transaction (unknown, or expired from Redis)');
    const records = await Promise.all(log.map((e) => store.verdict(sessionId, e.reqId)));
    return {
      txnId: req.params.txnId,
      stages: log.map((e, i) => ({ stage: e.stage, reqId: e.reqId, record: (records[i] ?? null) as VerdictRecord | null })),
    };
  });
}
