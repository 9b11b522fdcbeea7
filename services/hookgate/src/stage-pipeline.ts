/**
 * The stage pipeline a frontend role needs, built from the same blocks for every frontend (HTTP ingress, milter):
 * its own Redis clients, transaction store, queue producer, result subscription on an instance channel, waiter and
 * inline checks. Every client and subscription is registered with the lifecycle, in start order.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from '@hookgate/logger';
import type { Lifecycle } from '@hookgate/lifecycle';
import { observeGauge } from '@hookgate/telemetry';
import {
  connectRedis,
  closeRedis,
  type ConnectionLog,
  type RedisClient,
  type RedisTarget,
} from '@hookgate/redis';
import { redisClient } from './redis-clients.js';
import { PoolRegistry, TransactionStore, subscribePoolEvents, subscribeResults } from '@hookgate/state-store';
import { ScanProducer } from '@hookgate/queue';
import { ByteBudget, LoopLag, PoolWatcher, StagePipeline, ResultWaiter } from '@hookgate/pipeline';
import type { PolicyBank, PolicyRule, Stage } from '@hookgate/contracts';
import { compileRules } from '@hookgate/verdict';
import type { HookgateConfig } from './config.js';
import { queueShardsOf, routesOf, type ScannerEntry } from './scanners.js';
import type { Quarantine } from '@hookgate/quarantine';
import { buildQuarantine } from './quarantine.js';

/** What building a pipeline needs from the role context. */
export interface PipelineContext {
  config: HookgateConfig;
  redis: RedisTarget;
  log: Logger;
  lifecycle: Lifecycle;
  scanners: ScannerEntry[];
  /** One log line per change of Redis reachability for the whole process. */
  connections: ConnectionLog;
}

export interface FrontendPipeline {
  pipeline: StagePipeline;
  store: TransactionStore;
  /** The store's client, for other per-role state (it is closed with the role). */
  storeClient: RedisClient;
  /** Results for this instance arrive on its own channel. */
  instanceId: string;
  /** Live workers per queued scanner, as this frontend sees them (readiness, startup summary). */
  pools: PoolWatcher;
  /** Where quarantine verdicts keep their mail (issue 16). */
  quarantine: Quarantine;
  /** Reads queue depths (the console's pools page). */
  producer: ScanProducer;
  registry: PoolRegistry;
}

let loopLag: LoopLag | undefined;
let poolsObserved = false;
/** One gauge of live workers per scanner per process (the alert on an empty pool reads it). */
function observePoolsOnce(watcher: PoolWatcher): void {
  if (poolsObserved) return;
  poolsObserved = true;
  observeGauge(
    'hookgate.scanner.workers',
    'Live worker processes consuming each active scanner queue, as this frontend sees them',
    async () =>
      Object.entries(watcher.snapshot() ?? {}).map(([scanner, value]) => ({
        value,
        attributes: { scanner },
      })),
  );
}

let depthObserved = false;
/** One queue-depth gauge per process (`hookgate all` runs both roles; a process may run several frontends). */
export function observeQueueDepthOnce(producer: ScanProducer, scanners: string[]): void {
  if (depthObserved || scanners.length === 0) return;
  depthObserved = true;
  observeGauge(
    'hookgate.queue.depth',
    'Jobs waiting in each scanner queue, summed over its shards',
    async () =>
      Promise.all(
        scanners.map(async (s) => ({ value: await producer.depth(s), attributes: { scanner: s } })),
      ),
  );
}

/** `role` names the Redis connections (`hookgate-<role>-store`, …) so operators can tell them apart. */
/** `keepQuarantined: false` (hookgate scan --local) reports quarantine verdicts without keeping anything. */
export async function buildStagePipeline(
  ctx: PipelineContext,
  role: string,
  options: { keepQuarantined?: boolean } = {},
): Promise<FrontendPipeline> {
  const { config, log, lifecycle } = ctx;
  const instanceId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const commandTimeoutMs = config.redis.commandTimeoutMs;
  const storeClient = redisClient(ctx, `${role}-store`, { role: 'command', commandTimeoutMs });
  const queueClient = redisClient(ctx, `${role}-queue`, { role: 'command', commandTimeoutMs });
  const subscriber = redisClient(ctx, `${role}-sub`, { role: 'subscriber' });
  await Promise.all([connectRedis(storeClient), connectRedis(queueClient), connectRedis(subscriber)]);
  lifecycle.onStop(`redis (${role})`, async () => {
    await Promise.all([closeRedis(storeClient), closeRedis(queueClient), closeRedis(subscriber)]);
  });

  // The recent-verdicts feed and queue-id index serve the console and lookups (issue 16).
  const store = new TransactionStore(storeClient, {
    prefix: config.redis.prefix,
    ttlMs: config.stages.stateTtlMs,
    feedEntries: config.console.feedEntries,
    indexQueueIds: true,
  });
  const { quarantine, keeper } = await buildQuarantine(config, storeClient, lifecycle, role);
  const producer = new ScanProducer(queueClient, {
    prefix: config.redis.prefix,
    shards: queueShardsOf(ctx.scanners),
  });
  lifecycle.onStop(`queue producer (${role})`, () => producer.close());
  observeQueueDepthOnce(
    producer,
    routesOf(ctx.scanners).map((r) => r.id),
  );
  const waiter = new ResultWaiter();
  const unsubscribe = await subscribeResults(subscriber, store, instanceId, (n) => waiter.deliver(n));
  lifecycle.onStop(`result subscription (${role})`, unsubscribe);

  // Which pools have live workers: an active scanner nobody consumes is decided at once, not at the deadline.
  const queued = routesOf(ctx.scanners).map((r) => r.id);
  const registry = new PoolRegistry(storeClient, config.redis.prefix);
  const pools = new PoolWatcher({
    registry,
    scanners: queued,
    onChange: (scanner, workers) => {
      if (workers === 0)
        log.warn(
          { scanner },
          `no live worker consumes the ${scanner} queue: requests decide its absence at once by its failure policy`,
        );
      else log.info({ scanner, workers }, `${scanner} pool has live workers again`);
    },
  });
  const unsubscribePools = await subscribePoolEvents(subscriber, registry, () => void pools.refresh());
  await pools.start();
  lifecycle.onStop(`pool watch (${role})`, async () => {
    pools.stop();
    await unsubscribePools();
  });
  observePoolsOnce(pools);

  const inline = ctx.scanners
    .filter((e) => e.active && e.placement === 'inline')
    .map((e) => ({
      route: { id: e.id, stages: e.stages, policy: e.policy },
      scanner: e.create(storeClient),
    }));
  const pipeline = new StagePipeline({
    store,
    producer,
    waiter,
    instanceId,
    scanners: routesOf(ctx.scanners),
    inline,
    settings: {
      stageBudgetMs: config.stages.deadlineMs as Record<Stage, number>,
      mtaTimeoutMs: config.stages.mtaTimeoutMs,
      marginMs: config.stages.marginMs,
      severity: config.verdict.severity,
      replies: config.verdict.replies,
      spanAddresses: config.debug.spanAddresses,
      banks: config.policies as Record<string, PolicyBank>,
      rules: compileRules(config.rules as PolicyRule[]).rules,
    },
    log: log.child({ component: 'pipeline' }),
    pools,
    // One monitor per process, shared by every frontend in it.
    lag: (loopLag ??= new LoopLag()),
    budget: new ByteBudget({
      totalBytes: config.limits.inFlightBytes,
      perCallerBytes: config.limits.inFlightBytesPerCaller,
    }),
    ...(options.keepQuarantined === false ? {} : { quarantine: keeper }),
  });
  lifecycle.onStop(`pipeline records (${role})`, () => pipeline.drain(5_000));
  return { pipeline, store, storeClient, instanceId, pools, quarantine, producer, registry };
}
