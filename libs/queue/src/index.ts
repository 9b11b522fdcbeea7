/**
 * BullMQ behind one door: scan queues per scanner, the fan-out producer and the worker factory. Jobs are
 * deadline-bound: one attempt, no backoff; a job that starts after its deadline is skipped by the runtime.
 */
import { Queue, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { scanJobId, scanQueueName, type ScanJob } from '@hookgate/contracts';

export interface QueueOptions {
  /** BullMQ key prefix; default `hg`. Queue names are hash-tagged (`{scan-clamav}`) so each queue is one Cluster slot. */
  prefix?: string;
}

/** The BullMQ queue name of a scanner: hash-tagged so all of one queue's keys share a Cluster slot. */
export function bullQueueName(scannerId: string): string {
  return `{${scanQueueName(scannerId)}}`;
}

const JOB_DEFAULTS = {
  attempts: 1,
  removeOnComplete: true,
  // Failed jobs are bugs in the runtime (it records errors as results); keep a few for inspection.
  removeOnFail: { age: 3600, count: 1000 },
} as const;

/** Enqueues scan jobs; one Queue per scanner, created on first use. */
export class ScanProducer {
  readonly #queues = new Map<string, Queue>();
  readonly #connection: ConnectionOptions;
  readonly #prefix: string;

  constructor(connection: ConnectionOptions, options: QueueOptions = {}) {
    this.#connection = connection;
    this.#prefix = options.prefix ?? 'hg';
  }

  #queue(scanner: string): Queue {
    let q = this.#queues.get(scanner);
    if (!q) {
      q = new Queue(bullQueueName(scanner), { connection: this.#connection, prefix: this.#prefix });
      // Errors surface on add(); an unhandled 'error' event must not crash the process.
      q.on('error', () => undefined);
      this.#queues.set(scanner, q);
    }
    return q;
  }

  /** Adds one job per scan, in parallel. The job id deduplicates a repeated fan-out of the same request. */
  async fanOut(jobs: readonly ScanJob[]): Promise<void> {
    await Promise.all(
      jobs.map((job) =>
        this.#queue(job.scanner).add('scan', job, { ...JOB_DEFAULTS, jobId: scanJobId(job.reqId, job.scanner) }),
      ),
    );
  }

  /** Waiting + prioritized + delayed jobs of a scanner's queue (what KEDA and metrics read). */
  async depth(scanner: string): Promise<number> {
    return this.#queue(scanner).count();
  }

  async close(): Promise<void> {
    // Closing waits on Redis; with Redis unreachable it would wait for ever (issue 11): drop the queues instead.
    if (isReady(this.#connection)) await Promise.all([...this.#queues.values()].map((q) => q.close().catch(() => undefined)));
    else for (const q of this.#queues.values()) void q.disconnect().catch(() => undefined);
    this.#queues.clear();
  }
}

export interface ScanWorkerOptions extends QueueOptions {
  concurrency: number;
  /** Called for worker-level errors (connection loss); never thrown. */
  onError?: (err: Error) => void;
}

export interface ScanWorkerHandle {
  /** Starts taking jobs (workers are created paused until the host is ready). */
  run(): void;
  /** Stops taking jobs and waits for active ones, at most `timeoutMs`; then drops its connections without waiting. */
  close(timeoutMs: number): Promise<void>;
}

/** A BullMQ worker on one scanner's queue. `process` must not throw: the runtime turns failures into results. */
export function createScanWorker(
  scanner: string,
  connection: ConnectionOptions,
  process: (job: ScanJob, meta: { enqueuedAt: number; jobId: string }) => Promise<void>,
  options: ScanWorkerOptions,
): ScanWorkerHandle {
  const worker = new Worker<ScanJob>(
    bullQueueName(scanner),
    (job: Job<ScanJob>) => process(job.data, { enqueuedAt: job.timestamp, jobId: job.id ?? '' }),
    {
      connection,
      prefix: options.prefix ?? 'hg',
      concurrency: options.concurrency,
      autorun: false,
      // A worker that died mid-scan: the job is re-queued once; the runtime skips it if its deadline passed.
      maxStalledCount: 1,
    },
  );
  worker.on('error', (err) => options.onError?.(err));
  let closing: Promise<void> | undefined;
  return {
    run() {
      void worker.run().catch((err: unknown) => options.onError?.(err instanceof Error ? err : new Error(String(err))));
    },
    close(timeoutMs) {
      closing ??= (async () => {
        // Active jobs cannot be completed without Redis: drop the connections at once rather than wait (issue 11).
        // (BullMQ's disconnect waits for a connection that never comes back: not awaited.)
        if (!isReady(connection)) {
          void worker.disconnect().catch(() => undefined);
          return;
        }
        let timer: NodeJS.Timeout | undefined;
        const graceful = worker.close().then(() => true);
        const timedOut = new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), timeoutMs);
        });
        const ok = await Promise.race([graceful, timedOut]).catch(() => false);
        clearTimeout(timer);
        // BullMQ memoises close(): close(true) after a hanging close() returns the same hanging promise. close()
        // hangs when the blocking connection is reconnecting (e.g. just after a Sentinel failover killed client
        // connections): ioredis never emits 'end' for a client disconnected while reconnecting. So drop the
        // connections without waiting for them; the caller then closes the shared client itself (issue 8).
        if (!ok) void worker.disconnect().catch(() => undefined);
      })();
      return closing;
    },
  };
}

/** Whether a connection given as an ioredis client is connected now; options objects count as connected. */
function isReady(connection: ConnectionOptions): boolean {
  const status = (connection as { status?: unknown }).status;
  return status === undefined || status === 'ready';
}

export type { ConnectionOptions };
