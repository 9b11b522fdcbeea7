/**
 * An in-process hookgate stack on a real Redis: store, producer, result subscription, pipeline and (optionally)
 * scanner workers, with a unique key prefix per stack so tests share one Redis without interfering.
 */
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { DEFAULT_SEVERITY, type Stage } from '@hookgate/contracts';
import { createRedisClient, connectRedis, closeRedis, type RedisClient } from '@hookgate/redis';
import {
  PoolRegistry,
  ResultCache,
  TransactionStore,
  subscribePoolEvents,
  subscribeResults,
} from '@hookgate/state-store';
import { ScanProducer } from '@hookgate/queue';
import {
  ByteBudget,
  PoolWatcher,
  ResultWaiter,
  StagePipeline,
  type ByteBudgetLimits,
  type InlineCheck,
  type QuarantineKeeper,
  type ScannerRoute,
} from '@hookgate/pipeline';
import { ScannerRuntime } from '@hookgate/scanner-runtime';
import { DEFAULT_REPLIES, scannerPolicy } from '@hookgate/verdict';
import type { Scanner } from '@hookgate/scanner-sdk';
import type { ScannerPolicy } from '@hookgate/contracts';

export const silentLog = pino({ level: 'silent' });

export function policy(id: string, required: boolean, extra: Partial<ScannerPolicy> = {}): ScannerPolicy {
  return { ...scannerPolicy(id, { required }), ...extra };
}

export function budgets(ms: number, data = ms): Record<Stage, number> {
  return {
    connect: ms,
    ehlo: ms,
    auth: ms,
    mail: ms,
    rcpt: ms,
    data,
    delivery: data,
    defer: data,
    dsn: data,
  };
}

export interface StackOptions {
  redisUrl: string;
  routes: ScannerRoute[];
  /** Scanners to host in workers in this process (none = no workers: results never come). */
  workers?: Scanner[];
  budgetMs?: number;
  dataBudgetMs?: number;
  prefix?: string;
  /** Enables the result cache for every hosted scanner. */
  cache?: { version: string; ttlMs: number };
  /** The pipeline watches which pools have live workers (workers always announce themselves). */
  watchPools?: boolean;
  /** Limits message bytes in flight. */
  budget?: ByteBudgetLimits;
  /** Checks run in the pipeline's own process. */
  inline?: InlineCheck[];
  /** Keeps quarantined messages (issue 16). */
  quarantine?: QuarantineKeeper;
  /** Recent-verdicts feed length and queue-id index of the store (issue 16). */
  feedEntries?: number;
  indexQueueIds?: boolean;
}

export interface Stack {
  prefix: string;
  pipeline: StagePipeline;
  store: TransactionStore;
  runtime?: ScannerRuntime;
  redis: RedisClient;
  pools?: PoolWatcher;
  close(): Promise<void>;
}

export async function startStack(o: StackOptions): Promise<Stack> {
  const prefix = o.prefix ?? `t${randomBytes(4).toString('hex')}`;
  const target = { mode: 'standalone' as const, url: o.redisUrl };
  const redis = createRedisClient(target, { role: 'command' });
  const queue = createRedisClient(target, { role: 'command' });
  const sub = createRedisClient(target, { role: 'subscriber' });
  const clients: RedisClient[] = [redis, queue, sub];
  for (const c of clients) c.on('error', () => undefined);
  await Promise.all(clients.map((c) => connectRedis(c)));
  const store = new TransactionStore(redis, {
    prefix,
    ttlMs: 60_000,
    ...(o.feedEntries ? { feedEntries: o.feedEntries } : {}),
    ...(o.indexQueueIds ? { indexQueueIds: true } : {}),
  });
  const producer = new ScanProducer(queue, { prefix });
  const waiter = new ResultWaiter();
  const instanceId = `test-${randomBytes(3).toString('hex')}`;
  const unsubscribe = await subscribeResults(sub, store, instanceId, (n) => waiter.deliver(n));
  const registry = new PoolRegistry(redis, prefix);
  let pools: PoolWatcher | undefined;
  let unsubscribePools: () => Promise<void> = async () => undefined;
  if (o.watchPools) {
    pools = new PoolWatcher({ registry, scanners: o.routes.map((r) => r.id) });
    const watcher = pools;
    unsubscribePools = await subscribePoolEvents(sub, registry, () => void watcher.refresh());
    await pools.start();
  }
  const pipeline = new StagePipeline({
    store,
    producer,
    waiter,
    instanceId,
    scanners: o.routes,
    ...(o.inline ? { inline: o.inline } : {}),
    settings: {
      stageBudgetMs: budgets(o.budgetMs ?? 3000, o.dataBudgetMs ?? o.budgetMs ?? 3000),
      mtaTimeoutMs: 30_000,
      marginMs: 1000,
      severity: DEFAULT_SEVERITY,
      replies: DEFAULT_REPLIES,
    },
    log: silentLog,
    ...(pools ? { pools } : {}),
    ...(o.budget ? { budget: new ByteBudget(o.budget) } : {}),
    ...(o.quarantine ? { quarantine: o.quarantine } : {}),
  });
  let runtime: ScannerRuntime | undefined;
  let workerRedis: RedisClient | undefined;
  let workerStore: RedisClient | undefined;
  if (o.workers?.length) {
    workerRedis = createRedisClient(target, { role: 'worker' });
    workerStore = createRedisClient(target, { role: 'command', commandTimeoutMs: 5000 });
    for (const c of [workerRedis, workerStore]) c.on('error', () => undefined);
    await Promise.all([connectRedis(workerRedis), connectRedis(workerStore)]);
    runtime = new ScannerRuntime({
      scanners: o.workers.map((scanner) => ({
        scanner,
        concurrency: 4,
        ...(o.cache ? { cache: o.cache } : {}),
      })),
      store: new TransactionStore(workerStore, { prefix, ttlMs: 60_000 }),
      cache: new ResultCache(workerStore, prefix),
      connection: workerRedis,
      queuePrefix: prefix,
      log: silentLog,
      pools: {
        registry: new PoolRegistry(workerStore, prefix),
        workerId: `w-${randomBytes(3).toString('hex')}`,
      },
    });
    await runtime.start();
  }
  return {
    prefix,
    pipeline,
    store,
    ...(runtime ? { runtime } : {}),
    redis,
    ...(pools ? { pools } : {}),
    async close() {
      pools?.stop();
      await unsubscribePools();
      await runtime?.close(2000);
      await pipeline.drain(2000);
      await unsubscribe();
      await producer.close();
      await Promise.all(
        [...clients, ...(workerRedis ? [workerRedis] : []), ...(workerStore ? [workerStore] : [])].map((c) =>
          closeRedis(c),
        ),
      );
    },
  };
}
