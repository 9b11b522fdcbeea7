import {
  ERR,
  errorCode,
  errorMessage,
  scanQueueName,
  withTimeout,
  type ScanJob,
  type ScanOutcome,
  type ScanResult,
} from '@hookgate/contracts';
import {
  ATTR,
  SPAN,
  SpanKind,
  extractTrace,
  hookgateMetrics,
  inSpan,
  markError,
  seconds,
  type Span,
} from '@hookgate/telemetry';
import { runScan, type Scanner, type ScanLogger } from '@hookgate/scanner-sdk';
import type { PoolRegistry, ResultCache, TransactionStore } from '@hookgate/state-store';
import { createHash } from 'node:crypto';
import { createScanWorker, type ConnectionOptions, type ScanWorkerHandle } from '@hookgate/queue';

export interface HostedScanner {
  scanner: Scanner;
  /** Jobs this process runs at once for this scanner (split over its queue's shards, at least one each). */
  concurrency: number;
  /** Shards of the scanner's queue (`scanners.<id>.queueShards`); this process consumes every one. Default 1. */
  queueShards?: number;
  /** Result caching for scanners that support it: `version` identifies the scanner's configuration. */
  cache?: { version: string; ttlMs: number };
}

export interface ScannerRuntimeOptions {
  scanners: readonly HostedScanner[];
  store: TransactionStore;
  /** Where cached outcomes live; without it nothing is cached. */
  cache?: ResultCache;
  /** A connection for BullMQ workers (blocking commands; `maxRetriesPerRequest: null`). */
  connection: ConnectionOptions;
  queuePrefix?: string;
  log: ScanLogger & { child(bindings: object): ScanLogger };
  /** The scan is aborted this long before the deadline (default: the SDK's SCAN_MARGIN_MS, as for every host). */
  abortMarginMs?: number;
  /**
   * Where this process announces the pools it consumes (a heartbeat every second), so ingresses know a scanner
   * has live workers. Without it the process stays invisible and ingresses count its pools as live.
   */
  pools?: { registry: PoolRegistry; workerId: string };
  now?: () => number;
}

/**
 * Hosts scanner plugins in BullMQ workers. For each job: skip if the deadline passed, load the request and bytes
 * from the store, run the scanner under an abort signal, record the result (set once) and notify the ingress
 * that waits for it. Every failure becomes an explicit `error` result; nothing is retried past the deadline.
 */
export class ScannerRuntime {
  readonly #o: ScannerRuntimeOptions;
  readonly #workers: ScanWorkerHandle[] = [];
  readonly #now: () => number;
  readonly #cacheStats = { hits: 0, misses: 0 };
  #heartbeatTimer: NodeJS.Timeout | undefined;

  constructor(options: ScannerRuntimeOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  async start(): Promise<void> {
    // Engines are checked in parallel and briefly: a slow or absent engine must not hold up startup, since
    // scans report engine errors until it answers.
    await Promise.all(
      this.#o.scanners.map(async ({ scanner }) => {
        const log = this.#o.log.child({ scanner: scanner.id });
        try {
          await withTimeout(Promise.resolve(scanner.init?.({ log })), INIT_TIMEOUT_MS, () => {
            throw new Error(`no answer within ${INIT_TIMEOUT_MS} ms`);
          });
        } catch (err) {
          log.warn(
            { err: describeError(err) },
            'scanner init failed; scans will report engine errors until the engine answers',
          );
        }
      }),
    );
    for (const hosted of this.#o.scanners) {
      const { scanner, concurrency } = hosted;
      const log = this.#o.log.child({ scanner: scanner.id });
      const worker = createScanWorker(
        scanner.id,
        this.#o.connection,
        async (job, meta) => void (await this.process(scanner, job, hosted.cache, meta.enqueuedAt)),
        {
          concurrency,
          shards: hosted.queueShards ?? 1,
          ...(this.#o.queuePrefix ? { prefix: this.#o.queuePrefix } : {}),
          onError: (err) => log.warn({ err: describeError(err) }, 'queue worker error'),
        },
      );
      this.#workers.push(worker);
    }
    for (const w of this.#workers) w.run();
    await this.#heartbeat();
    this.#heartbeatTimer = setInterval(() => void this.#heartbeat(), HEARTBEAT_MS);
    this.#heartbeatTimer.unref();
  }

  /** Tells the ingresses this process consumes its pools; a failed beat is retried on the next tick. */
  async #heartbeat(): Promise<void> {
    const p = this.#o.pools;
    if (!p) return;
    await p.registry
      .heartbeat(
        p.workerId,
        this.#o.scanners.map((h) => h.scanner.id),
        HEARTBEAT_TTL_MS,
        this.#now(),
      )
      .catch((err: unknown) => {
        this.#o.log.debug({ err: describeError(err) }, 'pool heartbeat failed');
      });
  }

  /** Runs one job. Public so tests can drive a scanner without a queue. Never throws. */
  async process(
    scanner: Scanner,
    job: ScanJob,
    cache?: HostedScanner['cache'],
    enqueuedAt?: number,
  ): Promise<ScanResult | undefined> {
    // The job span continues the ingress's trace through the context carried in job data.
    const waitMs = enqueuedAt !== undefined ? Math.max(0, this.#now() - enqueuedAt) : undefined;
    return inSpan(
      SPAN.JOB,
      {
        [ATTR.SCANNER]: scanner.id,
        [ATTR.STAGE]: job.stage,
        [ATTR.REQ_ID]: job.reqId,
        [ATTR.TXN_ID]: job.txnId,
        [ATTR.QUEUE]: scanQueueName(scanner.id),
        ...(waitMs !== undefined ? { [ATTR.QUEUE_WAIT_MS]: waitMs } : {}),
      },
      (span) => {
        if (waitMs !== undefined)
          hookgateMetrics().queueWait.record(seconds(waitMs), { scanner: scanner.id });
        return this.#process(scanner, job, cache, span);
      },
      { kind: SpanKind.CONSUMER, parent: extractTrace(job.trace) },
    );
  }

  async #process(
    scanner: Scanner,
    job: ScanJob,
    cache: HostedScanner['cache'],
    span: Span,
  ): Promise<ScanResult | undefined> {
    const log = this.#o.log.child({ scanner: scanner.id, reqId: job.reqId, txnId: job.txnId });
    const started = this.#now();
    let outcome: ScanOutcome;
    let cached = false;
    if (started >= job.deadlineAt) {
      // Lost the race: the ingress has answered. Record it as late so the record shows why.
      outcome = {
        status: 'error',
        code: ERR.SCAN_TIMEOUT,
        message: 'job started after its deadline',
        retryable: false,
      };
    } else {
      ({ outcome, cached } = await this.#scan(scanner, job, log, cache));
    }
    const result: ScanResult = {
      v: 1,
      scanner: scanner.id,
      kind: scanner.kind,
      outcome,
      durationMs: this.#now() - started,
      at: this.#now(),
      ...(cached ? { cached } : {}),
    };
    if (cached) this.#cacheStats.hits++;
    else if (cache) this.#cacheStats.misses++;
    const m = hookgateMetrics();
    if (cache && scanner.cacheKey)
      m.cacheLookups.add(1, { scanner: scanner.id, result: cached ? 'hit' : 'miss' });
    m.scanDuration.record(seconds(result.durationMs), { scanner: scanner.id, outcome: outcome.status });
    if (outcome.status === 'error') {
      if (outcome.code === ERR.SCAN_TIMEOUT) m.scanTimeouts.add(1, { scanner: scanner.id });
      else m.scanErrors.add(1, { scanner: scanner.id, code: outcome.code });
      span.setAttribute(ATTR.ERROR_CODE, outcome.code);
    }
    span.setAttribute(ATTR.OUTCOME, outcome.status);
    span.setAttribute(ATTR.CACHED, cached);
    try {
      const recorded = await inSpan(SPAN.STORE_RECORD, {}, () =>
        this.#o.store.recordResult(job.sessionId, job.reqId, result, job.replyTo),
      );
      if (recorded === 'expired') log.debug({}, 'request expired before its result was recorded');
    } catch (err) {
      log.warn({ err: describeError(err) }, 'could not record scan result');
    }
    log.debug({ status: outcome.status, durationMs: result.durationMs }, 'scan done');
    return result;
  }

  async #scan(
    scanner: Scanner,
    job: ScanJob,
    log: ScanLogger,
    cache: HostedScanner['cache'],
  ): Promise<{ outcome: ScanOutcome; cached: boolean }> {
    let input;
    try {
      input = await inSpan(SPAN.STORE_LOAD, {}, () => this.#o.store.loadRequest(job.sessionId, job.reqId));
    } catch (err) {
      return {
        outcome: {
          status: 'error',
          code: errorCode(err) ?? ERR.STORE_UNAVAILABLE,
          message: 'could not load the request',
          retryable: true,
        },
        cached: false,
      };
    }
    if (!input)
      return {
        outcome: {
          status: 'error',
          code: ERR.SCAN_INPUT_MISSING,
          message: 'request expired or was never stored',
          retryable: false,
        },
        cached: false,
      };
    // Bytes leave Redis once the stage is decided (issue 11): a scan that finds them gone is too late to matter.
    if (!input.message && (input.request.message?.storedBytes ?? 0) > 0) {
      return {
        outcome: {
          status: 'error',
          code: ERR.SCAN_INPUT_MISSING,
          message: 'message bytes already left Redis (the stage was decided)',
          retryable: false,
        },
        cached: false,
      };
    }
    // Skips first: nothing to look up in the cache, nothing to run.
    const skip = scanner.shouldScan?.(input);
    if (skip) return { outcome: { status: 'skip', reason: skip }, cached: false };

    // Result cache: same bytes, same context, same scanner configuration → the same outcome, without a rescan.
    const context = cache && this.#o.cache && input.message ? scanner.cacheKey?.(input) : null;
    const digest =
      context !== null && context !== undefined
        ? createHash('sha256').update(input.message!).update(`\0${context}`).digest('base64url')
        : undefined;
    if (digest && cache) {
      const hit = await this.#o.cache!.get(scanner.id, cache.version, digest).catch(() => undefined);
      if (hit) return { outcome: hit, cached: true };
    }
    const outcome = await inSpan(
      SPAN.SCAN,
      { [ATTR.SCANNER]: scanner.id },
      async (span) => {
        // The one runner every host uses: deadline minus the margin, throws become error outcomes.
        const o = await runScan(scanner, input, {
          deadlineAt: job.deadlineAt,
          log,
          now: this.#now,
          ...(this.#o.abortMarginMs !== undefined ? { marginMs: this.#o.abortMarginMs } : {}),
        });
        span.setAttribute(ATTR.OUTCOME, o.status);
        if (o.status === 'error') markError(span, o.code);
        return o;
      },
      { kind: SpanKind.CLIENT },
    );
    // Errors and skips are not facts about the content: never cached.
    if (
      digest &&
      cache &&
      (outcome.status === 'pass' || outcome.status === 'fail' || outcome.status === 'unscanned')
    ) {
      await this.#o
        .cache!.set(scanner.id, cache.version, digest, outcome, cache.ttlMs)
        .catch((err: unknown) => log.warn({ err: describeError(err) }, 'could not cache the result'));
    }
    return { outcome, cached: false };
  }

  /** Cache hits and misses since start (for metrics and the benchmark). */
  get cacheStats(): { hits: number; misses: number } {
    return { ...this.#cacheStats };
  }

  /** Stops taking jobs, lets active scans finish within `timeoutMs`, then closes scanners. Idempotent. */
  async close(timeoutMs = 10_000): Promise<void> {
    // Leave the pools first, so ingresses stop queueing to a process that is going away.
    clearInterval(this.#heartbeatTimer);
    const p = this.#o.pools;
    if (p)
      await withTimeout(
        p.registry
          .leave(
            p.workerId,
            this.#o.scanners.map((h) => h.scanner.id),
          )
          .catch(() => undefined),
        LEAVE_TIMEOUT_MS,
      );
    await Promise.all(this.#workers.map((w) => w.close(timeoutMs)));
    this.#workers.length = 0;
    await Promise.all(this.#o.scanners.map(async ({ scanner }) => scanner.close?.().catch(() => undefined)));
  }
}

const INIT_TIMEOUT_MS = 2000;
/** Heartbeat period and how long one counts: a crashed worker drops out of its pools within ~3 s. */
const HEARTBEAT_MS = 1000;
const HEARTBEAT_TTL_MS = 3000;
/** Leaving the pools must not hold up shutdown when Redis is gone. */
const LEAVE_TIMEOUT_MS = 500;

/** Error facts that are safe to log: code and message, never request content. */
export function describeError(err: unknown): { code?: string; message: string } {
  const code = errorCode(err);
  return { ...(code ? { code } : {}), message: errorMessage(err) };
}
