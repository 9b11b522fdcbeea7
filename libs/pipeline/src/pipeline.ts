import {
  errorMessage,
  withTimeout,
  type ScanJob,
  type ScanResult,
  type Stage,
  type StageRequest,
  type Verdict,
  type VerdictRecord,
} from '@hookgate/contracts';
import { applyOverride, decide, selectPolicy, PLAIN_BANK } from '@hookgate/verdict';
import {
  ATTR,
  SPAN,
  SpanKind,
  activeContext,
  hookgateMetrics,
  injectTrace,
  inSpan,
  seconds,
  startSpan,
  type Span,
} from '@hookgate/telemetry';
import { keepQuarantined } from './quarantine.js';
import type { PipelineDeps, ScannerRoute } from './deps.js';
import { runInlineCheck } from './inline.js';
import { budgetVerdict, decideNow, logVerdict } from './verdicts.js';
import { newRequestId } from './request-ids.js';

export type { ScannerRoute, InlineCheck, PipelineSettings, PipelineLogger, PipelineDeps } from './deps.js';

/** A stage request as a frontend hands it over: the pipeline fills in ids and the deadline. */
export type IncomingStage = Omit<StageRequest, 'v' | 'txnId' | 'reqId' | 'receivedAt' | 'deadlineAt'> & {
  /** The MTA's timeout for this call when it declared one (draft-01 registration), ms. */
  mtaTimeoutMs?: number;
  /**
   * When the frontend received the request (epoch ms). The deadline counts from here, so time spent reading and
   * parsing a body is inside it (issue 11). Default: when `handle` is called.
   */
  receivedAt?: number;
  /** Who is calling (MTA identity, or client address when unauthenticated), for the per-caller byte budget. */
  caller?: string;
};

export interface StageOutcome {
  verdict: Verdict;
  /** `txnId` is empty for a stage that checked nothing: it is answered from memory and not recorded. */
  request: StageRequest;
  /** Resolves once the verdict record is stored (or storing failed); the answer never waits for it. */
  recorded: Promise<void>;
}

/**
 * The stage pipeline every frontend uses: record state and bytes (one Redis call), fan out one job per subscribed
 * scanner, wait for results until all are in, one is terminal, or the deadline passes, then decide. It always
 * returns by the deadline: a Redis or queue failure is decided as if no scanner answered, which applies each
 * scanner's `onMissing` (fail-closed scanners give tempfail, fail-open ones accept).
 *
 * What it does not do costs nothing: a stage where no scanner or check runs is answered from memory without a
 * Redis call and is not recorded; a pool with no live worker is not queued to and is judged missing at once; a
 * caller over its byte budget is answered tempfail before anything is stored (docs/adr/0006).
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

  /**
   * Whether anything runs at `stage`: a scanner or an inline check subscribes to it. Before data, a stage where
   * nothing does is always answered accept with no reply and no modifications (stamps are added only at data), so a
   * frontend that holds its session in memory (the milter) may answer it itself, without the pipeline's cost.
   */
  checks(stage: Stage): boolean {
    const subscribed = (r: ScannerRoute) => r.stages.includes(stage);
    return this.#d.scanners.some(subscribed) || (this.#d.inline ?? []).some((c) => subscribed(c.route));
  }

  deadlineFor(stage: Stage, receivedAt: number, mtaTimeoutMs?: number): number {
    const s = this.#d.settings;
    const mta = (mtaTimeoutMs ?? s.mtaTimeoutMs) - s.marginMs;
    return receivedAt + Math.max(100, Math.min(s.stageBudgetMs[stage], mta));
  }

  async handle(incoming: IncomingStage, message?: Uint8Array): Promise<StageOutcome> {
    const m = hookgateMetrics();
    const labels = { protocol: incoming.protocol, stage: incoming.stage };
    // One lookup serves the request's +1 and −1.
    const inFlight = m.inFlight(labels);
    inFlight.add(1);
    const p = inSpan(
      SPAN.STAGE,
      { [ATTR.PROTOCOL]: incoming.protocol, [ATTR.STAGE]: incoming.stage },
      (span) => this.#handle(incoming, message, span),
    );
    this.#inFlight.add(p);
    try {
      const out = await p;
      const v = out.verdict;
      m.requestDuration.record(seconds(this.#now() - out.request.receivedAt), {
        ...labels,
        action: v.action,
      });
      m.verdicts.add(1, { ...labels, action: v.action });
      if (v.partial) m.deadlineMisses.add(1, labels);
      return out;
    } finally {
      inFlight.add(-1);
      this.#inFlight.delete(p);
    }
  }

  async #handle(incoming: IncomingStage, message: Uint8Array | undefined, span: Span): Promise<StageOutcome> {
    const { mtaTimeoutMs, receivedAt: received, caller, ...rest } = incoming;
    const receivedAt = received ?? this.#now();
    const request: StageRequest = {
      v: 1,
      ...rest,
      txnId: '',
      reqId: newRequestId(),
      receivedAt,
      deadlineAt: this.deadlineFor(incoming.stage, receivedAt, mtaTimeoutMs),
    };
    span.setAttribute(ATTR.REQ_ID, request.reqId);
    span.setAttribute(ATTR.DEADLINE_MS, request.deadlineAt - receivedAt);
    if (message) span.setAttribute(ATTR.MESSAGE_BYTES, message.byteLength);
    if (this.#d.settings.spanAddresses && request.from)
      span.setAttribute(ATTR.SENDER_DOMAIN, request.from.address.split('@').pop() ?? '');
    const settings = this.#d.settings;
    const { rule, policy } = selectPolicy(settings.rules ?? [], request);
    const bank = settings.banks?.[policy] ?? settings.banks?.default ?? PLAIN_BANK;
    const enabled = (r: ScannerRoute) =>
      r.stages.includes(request.stage) && bank.scanners[r.id]?.enabled !== false;
    const routes = this.#d.scanners.filter(enabled);
    const inline = (this.#d.inline ?? []).filter((c) => enabled(c.route));
    const inlineIds = new Set(inline.map((c) => c.route.id));
    const expected = [...routes, ...inline.map((c) => c.route)].map((r) =>
      applyOverride(r.policy, bank.scanners[r.id]),
    );
    const base = {
      stage: request.stage,
      severity: settings.severity,
      replies: settings.replies,
      bank,
      policy,
      rule,
      ...(request.message?.subject !== undefined ? { subject: request.message.subject } : {}),
    };
    if (expected.length === 0)
      return this.#unrecorded(
        request,
        decideNow({ ...base, expected: [], results: [], deadlineReached: false }),
      );

    // Pools without a live worker are judged missing at once and not queued to (issue 11).
    const absent = new Set(routes.filter((r) => this.#d.pools?.isLive(r.id) === false).map((r) => r.id));
    const queued = routes.filter((r) => !absent.has(r.id));
    const bytes = queued.length > 0 ? message : undefined;
    let release: (() => void) | undefined;
    if (bytes && this.#d.budget) {
      const reserved = this.#d.budget.reserve(caller ?? request.client.ip, bytes.byteLength);
      if (typeof reserved === 'string')
        return this.#unrecorded(request, budgetVerdict(reserved, policy, rule), 'info');
      release = reserved;
    }
    const results: ScanResult[] = [];

    // Results arrive in Pub/Sub callbacks, outside this request's context: the decision span needs it explicitly.
    const stageCtx = activeContext();
    let settle!: (v: Verdict) => void;
    const answered = new Promise<Verdict>((resolve) => (settle = resolve));
    let done = false;
    let decidedAtDeadline = false;
    const finish = (deadlineReached: boolean): boolean => {
      if (done) return true;
      const d = decide({ ...base, expected, results, deadlineReached, absent });
      if (!d.final) return false;
      done = true;
      decidedAtDeadline = deadlineReached;
      const v = d.verdict;
      // The decision itself is pure and instant; its span records what decided, for the trace view.
      startSpan(
        SPAN.DECIDE,
        {
          [ATTR.ACTION]: v.action,
          [ATTR.PARTIAL]: v.partial,
          [ATTR.DECIDED_BY]: v.decidedBy.join(','),
          [ATTR.POLICY]: policy,
          [ATTR.RULE]: rule,
          [ATTR.SCANNERS]: results.map((r) => r.scanner).join(','),
        },
        { parent: stageCtx },
      ).span.end();
      settle(v);
      return true;
    };

    const accept = (r: ScanResult) => {
      if (!results.some((x) => x.scanner === r.scanner)) results.push(r);
      finish(false);
    };
    const stopWaiting = this.#d.waiter.expect(request.reqId, accept);
    // Fires early enough that the final store read, and the answer after it, still come before the deadline, even
    // when the event loop is as late as it was lately (at most a quarter of the budget goes to that allowance).
    let fannedOut = false;
    const allowance = Math.min(this.#d.lag?.recentMs ?? 0, (request.deadlineAt - receivedAt) / 4);
    const deadlineTimer = setTimeout(
      () => void this.#atDeadline(request, results, finish, fannedOut),
      Math.max(0, request.deadlineAt - ANSWER_RESERVE_MS - allowance - this.#now()),
    );
    // Final already when every expected pool is empty.
    if (absent.size > 0) finish(false);
    // Not awaited by the answer: a hanging Redis delays nothing past the deadline.
    const dispatched = (async () => {
      try {
        // The bytes outlive the deadline only by a grace for clock skew between hosts: late scans find them gone.
        const bytesTtlMs = request.deadlineAt - this.#now() + MESSAGE_GRACE_MS;
        const n = await inSpan(SPAN.STORE_BEGIN, {}, () =>
          this.#d.store.beginStage(request, bytes, bytesTtlMs),
        );
        request.txnId = `${request.sessionId}.${n}`;
        span.setAttribute(ATTR.TXN_ID, request.txnId);
        for (const check of inline)
          void runInlineCheck(check, request, message, accept, { log: this.#d.log, now: this.#now });
        if (queued.length > 0) {
          await inSpan(
            SPAN.FANOUT,
            { [ATTR.SCANNERS]: queued.map((r) => r.id).join(',') },
            () => {
              // Job data carries this span's context, so each job's span is its child across processes.
              const trace = injectTrace();
              return this.#d.producer.fanOut(queued.map((r) => this.#job(request, r.id, trace)));
            },
            { kind: SpanKind.PRODUCER },
          );
        }
        fannedOut = true;
      } catch (err) {
        // Redis or the queue failed: nobody will answer; decide now as at the deadline.
        this.#d.log.warn(
          { reqId: request.reqId, stage: request.stage, err: errorMessage(err) },
          'pipeline degraded: store or queue unavailable',
        );
        finish(true);
      }
    })();
    let verdict = await answered;
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
    // Issue 16: the message is kept before the answer, which names the item; what cannot be kept is answered
    // tempfail. Keeping may use the deadline's rest, or a quarter of the margin (at most 400 ms, within the milter's
    // default grace) when the decision came at the deadline.
    const answer =
      verdict.action === 'quarantine' && message
        ? this.#d.quarantine?.answerFor(request.protocol)
        : undefined;
    if (answer && message && this.#d.quarantine) {
      const budgetMs = Math.max(request.deadlineAt - this.#now(), Math.min(400, settings.marginMs / 4));
      record.verdict = verdict = await keepQuarantined(this.#d.quarantine, {
        request,
        message,
        record,
        answer,
        dispatched,
        budgetMs,
        log: this.#d.log,
      });
    }
    logVerdict(this.#d.log, 'info', request, verdict, record.durationMs, results);
    span.setAttribute(ATTR.ACTION, verdict.action);
    span.setAttribute(ATTR.PARTIAL, verdict.partial);
    // Every queued scanner answered, or none still can in time: the bytes are of no further use.
    const dropMessage =
      bytes !== undefined &&
      (decidedAtDeadline || queued.every((r) => results.some((x) => x.scanner === r.id)));
    // After dispatch settles, so the record carries the transaction number (a store write cannot beat it anyway).
    const recorded = dispatched
      .then(() =>
        inSpan(SPAN.STORE_FINALIZE, {}, () =>
          this.#d.store.finalize(
            request.sessionId,
            { ...record, txnId: request.txnId },
            { dropMessage, unstored: results.filter((r) => inlineIds.has(r.scanner)), context: request },
          ),
        ),
      )
      .then(
        () => undefined,
        (err: unknown) =>
          this.#d.log.warn({ reqId: request.reqId, err: errorMessage(err) }, 'verdict record not stored'),
      );
    if (release) {
      // The reservation ends when the bytes leave Redis: now, or when they expire after the deadline.
      if (dropMessage) void recorded.finally(release);
      else setTimeout(release, Math.max(0, request.deadlineAt + MESSAGE_GRACE_MS - this.#now())).unref();
    }
    this.#inFlight.add(recorded);
    void recorded.finally(() => this.#inFlight.delete(recorded));
    return { verdict, request, recorded };
  }

  /** A stage answered without Redis: nothing was checked, or the caller is over its byte budget. */
  #unrecorded(request: StageRequest, verdict: Verdict, level: 'info' | 'debug' = 'debug'): StageOutcome {
    logVerdict(this.#d.log, level, request, verdict, this.#now() - request.receivedAt, []);
    return { verdict, request, recorded: Promise.resolve() };
  }

  async #atDeadline(
    request: StageRequest,
    results: ScanResult[],
    finish: (deadline: boolean) => boolean,
    fannedOut: boolean,
  ): Promise<void> {
    // One last read catches results whose notification was lost; bounded so the answer is never late. Nothing to
    // read when the jobs were never queued (Redis stalled or down): then answer at once.
    if (!fannedOut) {
      finish(true);
      return;
    }
    try {
      const stored = await withTimeout(
        this.#d.store.results(request.sessionId, request.reqId),
        FINAL_READ_MS,
      );
      for (const r of stored ?? []) if (!results.some((x) => x.scanner === r.scanner)) results.push(r);
    } catch {
      // the store is down: decide with what arrived
    }
    finish(true);
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
/**
 * The deadline timer fires this long before the deadline: the final read (at most FINAL_READ_MS) and the answer
 * then fit before it even with some event-loop lag under load (issue 11: one answer in 166,080 came 6 ms late).
 */
const ANSWER_RESERVE_MS = 100;
/** How long message bytes outlive the stage deadline in Redis: clock skew between hosts, nothing more. */
const MESSAGE_GRACE_MS = 2_000;
