/**
 * BullMQ behind one door: scan queues per scanner, the fan-out producer and the worker factory. Jobs are
 * deadline-bound: one attempt, no backoff; a job that starts after its deadline is skipped by the runtime.
 * A scanner's queue may be split into shards (./shards.ts): producers pick one by session, workers consume all.
 */
import { Queue, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { scanJobId, scanQueueName, withTimeout, type ScanJob } from '@hookgate/contracts';
import { shardLayout, shardOfSession, type ShardLayout } from './shards.js';

export interface QueueOptions {
  /** BullMQ key prefix; default `hg`. Queue names are hash-tagged (`{scan-clamav}`) so each queue is one Cluster slot. */
  prefix?: string;
  /** Shards per scanner queue (`scanners.<id>.queueShards`); scanners not listed have one. */
  shards?: Readonly<Record<string, number>>;
}

/**
 * The BullMQ queue names of a scanner's shards, hash-tagged so all of one shard's keys share a Cluster slot.
 * One shard is today's single queue, `{scan-<scanner>}`.
 */
export function bullQueueNames(scannerId: string, shards = 1): string[] {
  return shardLayout(scanQueueName(scannerId), shards).names.map((n) => `{${n}}`);
}

/** The BullMQ queue name of an unsharded scanner queue (shard 0 of a sharded one). */
export function bullQueueName(scannerId: string): string {
  return `{${scanQueueName(scannerId)}}`;
}

/** Shard layouts by scanner, computed once per process (the request path only looks them up). */
class Layouts {
  readonly #layouts = new Map<string, ShardLayout>();
  constructor(readonly shards: Readonly<Record<string, number>>) {}
  of(scanner: string): ShardLayout {
    let l = this.#layouts.get(scanner);
    if (!l) this.#layouts.set(scanner, (l = shardLayout(scanQueueName(scanner), this.shards[scanner] ?? 1)));
    return l;
  }
}

const JOB_DEFAULTS = {
  attempts: 1,
  removeOnComplete: true,
  // Failed jobs are bugs in the runtime (it records errors as results); keep a few for inspection.
  removeOnFail: { age: 3600, count: 1000 },
} as const;

/** Enqueues scan jobs; one Queue per scanner shard, created on first use. */
export class ScanProducer {
  readonly #queues = new Map<string, Queue>();
  readonly #connection: ConnectionOptions;
  readonly #prefix: string;
  readonly #layouts: Layouts;

  constructor(connection: ConnectionOptions, options: QueueOptions = {}) {
    this.#connection = connection;
    this.#prefix = options.prefix ?? 'hg';
    this.#layouts = new Layouts(options.shards ?? {});
  }

  #queue(name: string): Queue {
    let q = this.#queues.get(name);
    if (!q) {
      q = new Queue(`{${name}}`, { connection: this.#connection, prefix: this.#prefix });
      // Errors surface on add(); an unhandled 'error' event must not crash the process.
      q.on('error', () => undefined);
      this.#queues.set(name, q);
    }
    return q;
  }

  /**
   * Adds one job per scan, in parallel, each to its scanner's shard for the job's session (one CRC16, no extra
   * round trip). The job id deduplicates a repeated fan-out of the same request: it always lands on the same shard.
   */
  async fanOut(jobs: readonly ScanJob[]): Promise<void> {
    await Promise.all(
      jobs.map((job) => {
        const layout = this.#layouts.of(job.scanner);
        const shard = layout.names[shardOfSession(layout, job.sessionId)]!;
        return this.#queue(shard).add('scan', job, {
          ...JOB_DEFAULTS,
          jobId: scanJobId(job.reqId, job.scanner),
        });
      }),
    );
  }

  /** Waiting + prioritized + delayed jobs of a scanner's queue, summed over its shards (what metrics read). */
  async depth(scanner: string): Promise<number> {
    const counts = await Promise.all(this.#layouts.of(scanner).names.map((n) => this.#queue(n).count()));
    return counts.reduce((a, b) => a + b, 0);
  }

  async close(): Promise<void> {
    // Closing waits on Redis; with Redis unreachable it would wait for ever (issue 11): drop the queues instead.
    if (isReady(this.#connection))
      await Promise.all([...this.#queues.values()].map((q) => q.close().catch(() => undefined)));
    else for (const q of this.#queues.values()) void q.disconnect().catch(() => undefined);
    this.#queues.clear();
  }
}

export interface ScanWorkerOptions extends Omit<QueueOptions, 'shards'> {
  /** Jobs this process runs at once for the scanner, split evenly over its shards (at least one each). */
  concurrency: number;
  /** Shards of the scanner's queue (`scanners.<id>.queueShards`); default 1. */
  shards?: number;
  /** Called for worker-level errors (connection loss); never thrown. */
  onError?: (err: Error) => void;
}

export interface ScanWorkerHandle {
  /** Starts taking jobs (workers are created paused until the host is ready). */
  run(): void;
  /** Stops taking jobs and waits for active ones, at most `timeoutMs`; then drops its connections without waiting. */
  close(timeoutMs: number): Promise<void>;
}

/**
 * Consumes every shard of one scanner's queue: one BullMQ worker per shard, each with its own blocking connection
 * and its share of the concurrency. So the shards are served fairly, and a shard whose jobs hang (a stuck engine
 * call) or whose Redis master is gone holds only its own share: the other shards keep flowing.
 * `process` must not throw: the runtime turns failures into results.
 */
export function createScanWorker(
  scanner: string,
  connection: ConnectionOptions,
  process: (job: ScanJob, meta: { enqueuedAt: number; jobId: string; shard: number }) => Promise<void>,
  options: ScanWorkerOptions,
): ScanWorkerHandle {
  const names = bullQueueNames(scanner, options.shards ?? 1);
  const perShard = Math.max(1, Math.ceil(options.concurrency / names.length));
  const handles = names.map((name, shard) =>
    shardWorker(name, connection, (job, meta) => process(job, { ...meta, shard }), {
      ...options,
      concurrency: perShard,
    }),
  );
  let closing: Promise<void> | undefined;
  return {
    run() {
      for (const h of handles) h.run();
    },
    close(timeoutMs) {
      closing ??= Promise.all(handles.map((h) => h.close(timeoutMs))).then(() => undefined);
      return closing;
    },
  };
}

/** A BullMQ worker on one queue (one shard). */
function shardWorker(
  queueName: string,
  connection: ConnectionOptions,
  process: (job: ScanJob, meta: { enqueuedAt: number; jobId: string }) => Promise<void>,
  options: ScanWorkerOptions,
): ScanWorkerHandle {
  const worker = new Worker<ScanJob>(
    queueName,
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
      void worker
        .run()
        .catch((err: unknown) => options.onError?.(err instanceof Error ? err : new Error(String(err))));
    },
    close(timeoutMs) {
      closing ??= (async () => {
        // Active jobs cannot be completed without Redis: drop the connections at once rather than wait (issue 11).
        // (BullMQ's disconnect waits for a connection that never comes back: not awaited.)
        if (!isReady(connection)) {
          void worker.disconnect().catch(() => undefined);
          return;
        }
        const ok = await withTimeout(
          worker.close().then(() => true),
          timeoutMs,
          () => false,
        ).catch(() => false);
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

export { shardLayout, shardOfSession, MAX_QUEUE_SHARDS, type ShardLayout } from './shards.js';
export type { ConnectionOptions };
