/**
 * The roles a hookgate process can run: ingress (HTTP frontends), workers (scanner pools) or both. Each role
 * creates its own clients and registers their closing with the lifecycle, in start order.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from '@hookgate/logger';
import { createRedisClient, connectRedis, closeRedis, type RedisTarget } from '@hookgate/redis';
import { ResultCache, TransactionStore, subscribeResults } from '@hookgate/state-store';
import { ScanProducer } from '@hookgate/queue';
import { StagePipeline, ResultWaiter } from '@hookgate/pipeline';
import { ScannerRuntime } from '@hookgate/scanner-runtime';
import type { Lifecycle } from '@hookgate/lifecycle';
import { observeGauge } from '@hookgate/telemetry';
import type { Telemetry } from '@hookgate/telemetry/sdk';
import { buildApp } from '@hookgate/ingress';
import type { PolicyBank, PolicyRule, Stage } from '@hookgate/contracts';
import { compileRules } from '@hookgate/verdict';
import type { HookgateConfig } from './config.js';
import { routesOf, type ScannerEntry } from './scanners.js';

export interface RoleContext {
  telemetry: Pick<Telemetry, 'metricsHandler'>;
  config: HookgateConfig;
  redis: RedisTarget;
  log: Logger;
  lifecycle: Lifecycle;
  scanners: ScannerEntry[];
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|\[::1\]|localhost)$/;

export function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(listen.slice(i + 1)) };
}

/** Refuses to expose an unauthenticated ingress beyond loopback unless the operator said so explicitly. */
export function checkExposure(config: HookgateConfig): string | undefined {
  const { host } = splitListen(config.listen);
  const noCredentials = config.auth.tokens.length === 0 && config.auth.basic.length === 0;
  if (noCredentials && !LOOPBACK.test(host) && !config.auth.allowUnauthenticated) {
    return (
      `refusing to listen on ${config.listen} without authentication: set HOOKGATE_AUTH_TOKENS or HOOKGATE_AUTH_BASIC ` +
      `(or auth.* in the config), or set auth.allowUnauthenticated: true (HOOKGATE_ALLOW_UNAUTHENTICATED=true) if a ` +
      `network policy already restricts access`
    );
  }
  return undefined;
}

let depthObserved = false;
/** One queue-depth gauge per process (`hookgate all` runs both roles). */
function observeQueueDepthOnce(producer: ScanProducer, scanners: string[]): void {
  if (depthObserved || scanners.length === 0) return;
  depthObserved = true;
  observeGauge('hookgate.queue.depth', 'Jobs waiting in each scanner queue', async () =>
    Promise.all(scanners.map(async (s) => ({ value: await producer.depth(s), attributes: { scanner: s } }))),
  );
}

export async function startIngress(ctx: RoleContext): Promise<{ url: string }> {
  const { config, log, lifecycle } = ctx;
  const instanceId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const commandTimeoutMs = config.redis.commandTimeoutMs;
  const storeClient = createRedisClient(ctx.redis, { role: 'command', commandTimeoutMs, connectionName: 'hookgate-ingress-store' });
  const queueClient = createRedisClient(ctx.redis, { role: 'command', commandTimeoutMs, connectionName: 'hookgate-ingress-queue' });
  const subscriber = createRedisClient(ctx.redis, { role: 'subscriber', connectionName: 'hookgate-ingress-sub' });
  for (const c of [storeClient, queueClient, subscriber]) c.on('error', (err: Error) => log.warn({ err: { message: err.message } }, 'redis connection error'));
  await Promise.all([connectRedis(storeClient), connectRedis(queueClient), connectRedis(subscriber)]);
  lifecycle.onStop('redis (ingress)', async () => {
    await Promise.all([closeRedis(storeClient), closeRedis(queueClient), closeRedis(subscriber)]);
  });

  const store = new TransactionStore(storeClient, { prefix: config.redis.prefix, ttlMs: config.stages.stateTtlMs });
  const producer = new ScanProducer(queueClient, { prefix: config.redis.prefix });
  lifecycle.onStop('queue producer', () => producer.close());
  observeQueueDepthOnce(producer, routesOf(ctx.scanners).map((r) => r.id));
  const waiter = new ResultWaiter();
  const unsubscribe = await subscribeResults(subscriber, store, instanceId, (n) => waiter.deliver(n));
  lifecycle.onStop('result subscription', unsubscribe);

  const inline = ctx.scanners
    .filter((e) => e.active && e.placement === 'inline')
    .map((e) => ({ route: { id: e.id, stages: e.stages, policy: e.policy }, scanner: e.create(storeClient) }));
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
  });
  lifecycle.onStop('pipeline records', () => pipeline.drain(5_000));

  const app = buildApp({
    pipeline,
    auth: { tokens: config.auth.tokens, basic: config.auth.basic },
    stalwart: config.protocols.stalwart,
    maxBodyBytes: config.limits.maxBodyBytes,
    admin: { tokens: config.admin.tokens, store },
    metricsHandler: ctx.telemetry.metricsHandler,
    reasonHeader: config.debug.reasonHeader,
    logger: log.child({ component: 'http' }),
    isReady: () => lifecycle.ready,
  });
  const { host, port } = splitListen(config.listen);
  await app.listen({ host, port });
  // fastify.close() stops accepting, answers 503 to new requests and waits for in-flight ones (each bounded by its
  // own deadline).
  lifecycle.onStop('http server', () => app.close());
  const addr = app.server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}` };
}

export async function startWorkers(ctx: RoleContext, selected: readonly ScannerEntry[]): Promise<void> {
  const { config, log, lifecycle } = ctx;
  const storeClient = createRedisClient(ctx.redis, { role: 'command', commandTimeoutMs: Math.max(5000, config.redis.commandTimeoutMs), connectionName: 'hookgate-worker-store' });
  const workerClient = createRedisClient(ctx.redis, { role: 'worker', connectionName: 'hookgate-worker' });
  for (const c of [storeClient, workerClient]) c.on('error', (err: Error) => log.warn({ err: { message: err.message } }, 'redis connection error'));
  await Promise.all([connectRedis(storeClient), connectRedis(workerClient)]);
  lifecycle.onStop('redis (workers)', async () => {
    await Promise.all([closeRedis(storeClient), closeRedis(workerClient)]);
  });
  const store = new TransactionStore(storeClient, { prefix: config.redis.prefix, ttlMs: config.stages.stateTtlMs });
  const cacheTtlMs = config.cache.ttlMs;
  const runtime = new ScannerRuntime({
    scanners: selected.map((e) => ({
      scanner: e.create(),
      concurrency: e.concurrency,
      ...(cacheTtlMs > 0 ? { cache: { version: e.configVersion, ttlMs: cacheTtlMs } } : {}),
    })),
    store,
    cache: new ResultCache(storeClient, config.redis.prefix),
    connection: workerClient,
    queuePrefix: config.redis.prefix,
    log: log.child({ component: 'worker' }),
  });
  await runtime.start();
  // Queue depth is read only when metrics are scraped.
  const depthReader = new ScanProducer(storeClient, { prefix: config.redis.prefix });
  lifecycle.onStop('queue depth reader', () => depthReader.close());
  observeQueueDepthOnce(depthReader, selected.map((e) => e.id));
  const longest = Math.max(...Object.values(config.stages.deadlineMs).map(Number));
  lifecycle.onStop('scanner workers', () => runtime.close(longest));
}
