import { ERR, errorCode, type ScanJob, type ScanOutcome, type ScanResult } from '@hookgate/contracts';
import type { Scanner, ScanLogger } from '@hookgate/scanner-sdk';
import type { TransactionStore } from '@hookgate/state-store';
import { createScanWorker, type ConnectionOptions, type ScanWorkerHandle } from '@hookgate/queue';

export interface HostedScanner {
  scanner: Scanner;
  /** Jobs this process runs at once for this scanner. */
  concurrency: number;
}

export interface ScannerRuntimeOptions {
  scanners: readonly HostedScanner[];
  store: TransactionStore;
  /** A connection for BullMQ workers (blocking commands; `maxRetriesPerRequest: null`). */
  connection: ConnectionOptions;
  queuePrefix?: string;
  log: ScanLogger & { child(bindings: object): ScanLogger };
  /**
   * The scan is aborted this long before the deadline (default 250 ms), so its timeout result still reaches the
   * ingress, which answers at the deadline.
   */
  abortMarginMs?: number;
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
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            scanner.init?.({ log }),
            new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${INIT_TIMEOUT_MS} ms`)), INIT_TIMEOUT_MS))),
          ]);
        } catch (err) {
          log.warn({ err: describeError(err) }, 'scanner init failed; scans will report engine errors until the engine answers');
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    for (const { scanner, concurrency } of this.#o.scanners) {
      const log = this.#o.log.child({ scanner: scanner.id });
      const worker = createScanWorker(scanner.id, this.#o.connection, async (job) => void (await this.process(scanner, job)), {
        concurrency,
        ...(this.#o.queuePrefix ? { prefix: this.#o.queuePrefix } : {}),
        onError: (err) => log.warn({ err: describeError(err) }, 'queue worker error'),
      });
      this.#workers.push(worker);
    }
    for (const w of this.#workers) w.run();
  }

  /** Runs one job. Public so tests can drive a scanner without a queue. Never throws. */
  async process(scanner: Scanner, job: ScanJob): Promise<ScanResult | undefined> {
    const log = this.#o.log.child({ scanner: scanner.id, reqId: job.reqId });
    const started = this.#now();
    let outcome: ScanOutcome;
    if (started >= job.deadlineAt) {
      // Lost the race: the ingress has answered. Record it as late so the record shows why.
      outcome = { status: 'error', code: ERR.SCAN_TIMEOUT, message: 'job started after its deadline', retryable: false };
    } else {
      outcome = await this.#scan(scanner, job, log);
    }
    const result: ScanResult = {
      v: 1,
      scanner: scanner.id,
      kind: scanner.kind,
      outcome,
      durationMs: this.#now() - started,
      at: this.#now(),
    };
    try {
      await this.#o.store.recordResult(job.sessionId, job.reqId, result, job.replyTo);
    } catch (err) {
      log.warn({ err: describeError(err) }, 'could not record scan result');
    }
    log.debug({ status: outcome.status, durationMs: result.durationMs }, 'scan done');
    return result;
  }

  async #scan(scanner: Scanner, job: ScanJob, log: ScanLogger): Promise<ScanOutcome> {
    let input;
    try {
      input = await this.#o.store.loadRequest(job.sessionId, job.reqId);
    } catch (err) {
      return { status: 'error', code: errorCode(err) ?? ERR.STORE_UNAVAILABLE, message: 'could not load the request', retryable: true };
    }
    if (!input) return { status: 'error', code: ERR.SCAN_INPUT_MISSING, message: 'request expired or was never stored', retryable: false };
    const skip = scanner.shouldScan?.(input);
    if (skip) return { status: 'skip', reason: skip };

    const margin = this.#o.abortMarginMs ?? 250;
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<ScanOutcome>((resolve) => {
      timer = setTimeout(() => {
        controller.abort();
        resolve({ status: 'error', code: ERR.SCAN_TIMEOUT, message: 'scan did not finish before the deadline', retryable: true });
      }, Math.max(0, job.deadlineAt - margin - this.#now()));
    });
    const scanned = scanner
      .scan(input, { signal: controller.signal, deadlineAt: job.deadlineAt - margin, log })
      .catch((err: unknown): ScanOutcome => {
        if (controller.signal.aborted) {
          return { status: 'error', code: ERR.SCAN_TIMEOUT, message: 'scan aborted at the deadline', retryable: true };
        }
        const code = errorCode(err) ?? ERR.SCAN_FAILED;
        log.warn({ err: describeError(err) }, 'scan failed');
        return { status: 'error', code, message: err instanceof Error ? err.message : String(err), retryable: code === ERR.SCAN_ENGINE_UNAVAILABLE };
      });
    try {
      return await Promise.race([scanned, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops taking jobs, lets active scans finish within `timeoutMs`, then closes scanners. Idempotent. */
  async close(timeoutMs = 10_000): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.close(timeoutMs)));
    this.#workers.length = 0;
    await Promise.all(this.#o.scanners.map(async ({ scanner }) => scanner.close?.().catch(() => undefined)));
  }
}

const INIT_TIMEOUT_MS = 2000;

/** Error facts that are safe to log: code and message, never request content. */
export function describeError(err: unknown): { code?: string; message: string } {
  const code = errorCode(err);
  return { ...(code ? { code } : {}), message: err instanceof Error ? err.message : String(err) };
}
