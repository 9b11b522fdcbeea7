import { randomBytes } from 'node:crypto';
import {
  ERR,
  type Action,
  type ScanJob,
  type ScannerPolicy,
  type ScanResult,
  type Stage,
  type StageRequest,
  type Verdict,
  type VerdictRecord,
} from '@hookgate/contracts';
import { applyOverride, decide, selectPolicy, PLAIN_BANK, type CompiledRule, type DefaultReplies } from '@hookgate/verdict';
import type { PolicyBank } from '@hookgate/contracts';
import type { Scanner, ScanLogger } from '@hookgate/scanner-sdk';
import type { TransactionStore } from '@hookgate/state-store';
import type { ScanProducer } from '@hookgate/queue';
import type { ResultWaiter } from './waiter.js';
import { ATTR, SPAN, SpanKind, activeContext, hookgateMetrics, injectTrace, inSpan, seconds, startSpan, withContext, type Span } from '@hookgate/telemetry';

/** A scanner as the pipeline sees it: which stages it subscribes to and how its results count. */
export interface ScannerRoute {
  id: string;
  stages: readonly Stage[];
  policy: ScannerPolicy;
}

/**
 * A check the ingress runs itself, without a queue (greylisting, rate limits): cheap Redis work at early stages.
 * It follows the Scanner contract and the same deadline and failure policy as queued scanners.
 */
export interface InlineCheck {
  route: ScannerRoute;
  scanner: Scanner;
}

export interface PipelineSettings {
  /** Time budget per stage, ms, from receipt to answer. */
  stageBudgetMs: Record<Stage, number>;
  /** The MTA's own timeout for a hook call, ms; the answer is given `marginMs` before it at the latest. */
  mtaTimeoutMs: number;
  marginMs: number;
  severity: readonly Action[];
  replies: DefaultReplies;
  /** Policy banks by name; `default` applies when no rule matches. */
  banks?: Record<string, PolicyBank>;
  /** First match wins. */
  rules?: readonly CompiledRule[];
  /** Adds the sender domain to spans (off: addresses stay out of telemetry). */
  spanAddresses?: boolean;
}

/** pino-compatible; also handed to inline checks. */
export type PipelineLogger = ScanLogger;

export interface PipelineDeps {
  store: TransactionStore;
  producer: ScanProducer;
  waiter: ResultWaiter;
  /** This ingress instance's id: scan results are published to its channel only. */
  instanceId: string;
  scanners: readonly ScannerRoute[];
  /** Checks run in the ingress process itself. */
  inline?: readonly InlineCheck[];
  settings: PipelineSettings;
  log: PipelineLogger;
  now?: () => number;
}

/** A stage request as a frontend hands it over: the pipeline fills in ids and the deadline. */
export type IncomingStage = Omit<StageRequest, 'v' | 'txnId' | 'reqId' | 'receivedAt' | 'deadlineAt'> & {
  /** The MTA's timeout for this call when it declared one (draft-01 registration), ms. */
  mtaTimeoutMs?: number;
};

export interface StageOutcome {
  verdict: Verdict;
  request: StageRequest;
  /** Resolves once the verdict record is stored (or storing failed); the answer never waits for it. */
  recorded: Promise<void>;
}

/**
 * The stage pipeline every frontend uses: record state and bytes (one Redis call), fan out one job per subscribed
 * scanner, wait for results until all are in, one is terminal, or the deadline passes, then decide. It always
 * returns by the deadline: a Redis or queue failure is decided as if no scanner answered, which applies each
 * scanner's `onMissing` (fail-closed scanners give tempfail, fail-open ones accept).
 */
export class StagePipeline {
  readonly #d: PipelineDeps;
  readonly #now: () => number;
  readonly #inFlight = new Set<Promise<unknown>>();

  constructor(deps: PipelineDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
  }

  /** Requests being handled or records being written, for graceful shutdown. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  deadlineFor(stage: Stage, receivedAt: number, mtaTimeoutMs?: number): number {
    const s = this.#d.settings;
    const mta = (mtaTimeoutMs ?? s.mtaTimeoutMs) - s.marginMs;
    return receivedAt + Math.max(100, Math.min(s.stageBudgetMs[stage], mta));
  }

  async handle(incoming: IncomingStage, message?: Uint8Array): Promise<StageOutcome> {
    const m = hookgateMetrics();
    const labels = { protocol: incoming.protocol, stage: incoming.stage };
    m.inFlight.add(1, labels);
    const p = inSpan(SPAN.STAGE, { [ATTR.PROTOCOL]: incoming.protocol, [ATTR.STAGE]: incoming.stage }, (span) => this.#handle(incoming, message, span));
    this.#inFlight.add(p);
    try {
      const out = await p;
      const v = out.verdict;
      m.requestDuration.record(seconds(this.#now() - out.request.receivedAt), { ...labels, action: v.action });
      m.verdicts.add(1, { ...labels, action: v.action });
      if (v.partial) m.deadlineMisses.add(1, labels);
      return out;
    } finally {
      m.inFlight.add(-1, labels);
      this.#inFlight.delete(p);
    }
  }

  async #handle(incoming: IncomingStage, message: Uint8Array | undefined, span: Span): Promise<StageOutcome> {
    const receivedAt = this.#now();
    const { mtaTimeoutMs, ...rest } = incoming;
    const request: StageRequest = {
      v: 1,
      ...rest,
      txnId: `${incoming.sessionId}.0`,
      reqId: newRequestId(),
      receivedAt,
      deadlineAt: this.deadlineFor(incoming.stage, receivedAt, mtaTimeoutMs),
    };
    span.setAttribute(ATTR.REQ_ID, request.reqId);
    span.setAttribute(ATTR.DEADLINE_MS, request.deadlineAt - receivedAt);
    if (message) span.setAttribute(ATTR.MESSAGE_BYTES, message.byteLength);
    if (this.#d.settings.spanAddresses && request.from) span.setAttribute(ATTR.SENDER_DOMAIN, request.from.address.split('@').pop() ?? '');
    const settings = this.#d.settings;
    const { rule, policy } = selectPolicy(settings.rules ?? [], request);
    const bank = settings.banks?.[policy] ?? settings.banks?.default ?? PLAIN_BANK;
    const enabled = (r: ScannerRoute) => r.stages.includes(request.stage) && bank.scanners[r.id]?.enabled !== false;
    const routes = this.#d.scanners.filter(enabled);
    const inline = (this.#d.inline ?? []).filter((c) => enabled(c.route));
    const expected = [...routes, ...inline.map((c) => c.route)].map((r) => applyOverride(r.policy, bank.scanners[r.id]));
    const results: ScanResult[] = [];

    // Results arrive in Pub/Sub callbacks, outside this request's context: the decision span needs it explicitly.
    const stageCtx = activeContext();
    let settle!: (v: Verdict) => void;
    const answered = new Promise<Verdict>((resolve) => (settle = resolve));
    let done = false;
    const finish = (deadlineReached: boolean): boolean => {
      if (done) return true;
      const d = decide({
        stage: request.stage,
        expected,
        results,
        deadlineReached,
        severity: settings.severity,
        replies: settings.replies,
        bank,
        policy,
        rule,
        ...(request.message?.subject !== undefined ? { subject: request.message.subject } : {}),
      });
      if (!d.final) return false;
      done = true;
      const v = d.verdict;
      // The decision itself is pure and instant; its span records what decided, for the trace view.
      startSpan(SPAN.DECIDE, {
        [ATTR.ACTION]: v.action,
        [ATTR.PARTIAL]: v.partial,
        [ATTR.DECIDED_BY]: v.decidedBy.join(','),
        [ATTR.POLICY]: policy,
        [ATTR.RULE]: rule,
        [ATTR.SCANNERS]: results.map((r) => r.scanner).join(','),
      }, { parent: stageCtx }).span.end();
      settle(v);
      return true;
    };

    const accept = (r: ScanResult) => {
      if (!results.some((x) => x.scanner === r.scanner)) results.push(r);
      finish(false);
    };
    const stopWaiting = this.#d.waiter.expect(request.reqId, accept);
    // Fires early enough that the final store read still ends by the deadline.
    const deadlineTimer = setTimeout(
      () => void this.#atDeadline(request, results, finish),
      Math.max(0, request.deadlineAt - FINAL_READ_MS - this.#now()),
    );
    // Not awaited by the answer: a hanging Redis delays nothing past the deadline.
    const dispatched = (async () => {
      try {
        const n = await inSpan(SPAN.STORE_BEGIN, {}, () => this.#d.store.beginStage(request, message));
        request.txnId = `${request.sessionId}.${n}`;
        span.setAttribute(ATTR.TXN_ID, request.txnId);
        if (expected.length === 0) finish(false);
        for (const check of inline) void this.#runInline(check, request, message, accept);
        if (routes.length > 0) {
          await inSpan(SPAN.FANOUT, { [ATTR.SCANNERS]: routes.map((r) => r.id).join(',') }, () => {
            // Job data carries this span's context, so each job's span is its child across processes.
            const trace = injectTrace();
            return this.#d.producer.fanOut(routes.map((r) => this.#job(request, r.id, trace)));
          }, { kind: SpanKind.PRODUCER });
        }
      } catch (err) {
        // Redis or the queue failed: nobody will answer; decide now as at the deadline.
        this.#d.log.warn({ reqId: request.reqId, stage: request.stage, err: errMessage(err) }, 'pipeline degraded: store or queue unavailable');
        finish(true);
      }
    })();
    const verdict = await answered;
    clearTimeout(deadlineTimer);
    stopWaiting();

    const answeredAt = this.#now();
    const record: VerdictRecord = {
      v: 1,
      reqId: request.reqId,
      txnId: request.txnId,
      stage: request.stage,
      verdict,
      expected: expected.map((r) => r.id),
      results: [...results],
      answeredAt,
      durationMs: answeredAt - receivedAt,
    };
    this.#d.log.info(
      {
        reqId: request.reqId,
        txnId: request.txnId,
        stage: request.stage,
        action: verdict.action,
        decidedBy: verdict.decidedBy,
        reasons: verdict.reasons,
        partial: verdict.partial,
        durationMs: record.durationMs,
        scanners: Object.fromEntries(results.map((r) => [r.scanner, `${r.outcome.status}/${r.durationMs}ms`])),
      },
      'verdict',
    );
    // After dispatch settles, so the record carries the transaction number (a store write cannot beat it anyway).
    span.setAttribute(ATTR.ACTION, verdict.action);
    span.setAttribute(ATTR.PARTIAL, verdict.partial);
    const recorded = dispatched.then(() => inSpan(SPAN.STORE_FINALIZE, {}, () => this.#d.store.finalize(request.sessionId, { ...record, txnId: request.txnId }))).then(
      () => undefined,
      (err: unknown) => this.#d.log.warn({ reqId: request.reqId, err: errMessage(err) }, 'verdict record not stored'),
    );
    this.#inFlight.add(recorded);
    void recorded.finally(() => this.#inFlight.delete(recorded));
    return { verdict, request, recorded };
  }

  async #atDeadline(request: StageRequest, results: ScanResult[], finish: (deadline: boolean) => boolean): Promise<void> {
    // One last read catches results whose notification was lost; bounded so the answer is never late.
    try {
      const stored = await withTimeout(this.#d.store.results(request.sessionId, request.reqId), FINAL_READ_MS);
      for (const r of stored ?? []) if (!results.some((x) => x.scanner === r.scanner)) results.push(r);
    } catch {
      // the store is down: decide with what arrived
    }
    finish(true);
  }

  /** Runs a check in this process under the same deadline rules as a worker; failures become error results. */
  async #runInline(check: InlineCheck, request: StageRequest, message: Uint8Array | undefined, accept: (r: ScanResult) => void): Promise<void> {
    const { span, ctx } = startSpan(SPAN.INLINE, { [ATTR.SCANNER]: check.route.id });
    await withContext(ctx, () => this.#inline(check, request, message, accept, span));
    span.end();
  }

  async #inline(check: InlineCheck, request: StageRequest, message: Uint8Array | undefined, accept: (r: ScanResult) => void, span: Span): Promise<void> {
    const started = this.#now();
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), Math.max(0, request.deadlineAt - FINAL_READ_MS - started));
    const input = message ? { request, message } : { request };
    let outcome: ScanResult['outcome'];
    try {
      const skip = check.scanner.shouldScan?.(input);
      outcome = skip
        ? { status: 'skip', reason: skip }
        : await check.scanner.scan(input, { signal: controller.signal, deadlineAt: request.deadlineAt - FINAL_READ_MS, log: this.#d.log });
    } catch (err) {
      outcome = controller.signal.aborted
        ? { status: 'error', code: ERR.SCAN_TIMEOUT, message: 'check did not finish before the deadline', retryable: true }
        : { status: 'error', code: ERR.SCAN_FAILED, message: errMessage(err), retryable: true };
    } finally {
      clearTimeout(timer);
    }
    span.setAttribute(ATTR.OUTCOME, outcome.status);
    accept({ v: 1, scanner: check.route.id, kind: check.scanner.kind, outcome, durationMs: this.#now() - started, at: this.#now() });
  }

  #job(request: StageRequest, scanner: string, trace: Record<string, string> | undefined): ScanJob {
    return {
      v: 1,
      sessionId: request.sessionId,
      txnId: request.txnId,
      reqId: request.reqId,
      stage: request.stage,
      scanner,
      deadlineAt: request.deadlineAt,
      replyTo: this.#d.instanceId,
      ...(trace ? { trace } : {}),
    };
  }

  /** Waits for records still being written, at most `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    await withTimeout(Promise.allSettled([...this.#inFlight]), timeoutMs).catch(() => undefined);
  }
}

/** Time reserved at the deadline for one last read of the store. */
const FINAL_READ_MS = 50;

function newRequestId(): string {
  return randomBytes(12).toString('base64url');
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
