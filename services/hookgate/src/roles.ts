/**
 * The roles a hookgate process can run: ingress (HTTP frontends), workers (scanner pools) or both. Each role
 * creates its own clients and registers their closing with the lifecycle, in start order.
 */
import { connectRedis, closeRedis } from '@hookgate/redis';
import { redisClient } from './redis-clients.js';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { PoolRegistry, ResultCache, TransactionStore } from '@hookgate/state-store';
import { ScanProducer } from '@hookgate/queue';
import { ScannerRuntime } from '@hookgate/scanner-runtime';
import type { PoolWatcher } from '@hookgate/pipeline';
import type { Telemetry } from '@hookgate/telemetry/sdk';
import { buildApp, openFileLimit, resolveConnectionLimits, type PoolState } from '@hookgate/ingress';
import type { HookgateConfig } from './config.js';
import { queueShardsOf, type ScannerEntry } from './scanners.js';
import { buildStagePipeline, observeQueueDepthOnce, type PipelineContext } from './stage-pipeline.js';
import { draft01Deps, ingressTls } from './draft01.js';

export interface RoleContext extends PipelineContext {
  telemetry: Pick<Telemetry, 'metricsHandler'>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|\[::1\]|localhost)$/;

export function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(listen.slice(i + 1)) };
}

/** Refuses to expose an unauthenticated ingress beyond loopback unless the operator said so explicitly. */
export function checkExposure(config: HookgateConfig): string | undefined {
  const { host } = splitListen(config.listen);
  const noCredentials =
    config.auth.tokens.length === 0 &&
    config.auth.basic.length === 0 &&
    config.tls.clientIdentities.length === 0;
  if (noCredentials && !LOOPBACK.test(host) && !config.auth.allowUnauthenticated) {
    return (
      `refusing to listen on ${config.listen} without authentication: set HOOKGATE_AUTH_TOKENS or HOOKGATE_AUTH_BASIC ` +
      `(or auth.* in the config), or set auth.allowUnauthenticated: true (HOOKGATE_ALLOW_UNAUTHENTICATED=true) if a ` +
      `network policy already restricts access`
    );
  }
  return undefined;
}

export async function startIngress(ctx: RoleContext): Promise<{ url: string; pools: PoolWatcher }> {
  const { config, log, lifecycle } = ctx;
  const { pipeline, store, storeClient, pools, quarantine, producer } = await buildStagePipeline(
    ctx,
    'ingress',
  );
  const { fileLimit, ...connections } = resolveConnectionLimits(config.limits, openFileLimit());
  log.info(
    {
      maxConnections: connections.maxConnections,
      fileLimit: fileLimit ?? 'unknown',
      headersTimeoutMs: connections.headersTimeoutMs,
      minBodyBytesPerSec: connections.minBodyBytesPerSec,
    },
    'http connection limits',
  );

  const app = buildApp({
    pipeline,
    auth: { tokens: config.auth.tokens, basic: config.auth.basic },
    stalwart: config.protocols.stalwart,
    maxBodyBytes: config.limits.maxBodyBytes,
    admin: { tokens: config.admin.tokens, store },
    operator: {
      store,
      quarantine,
      pools: () => poolStates(ctx.scanners, pools, producer),
      ...(config.console.enabled ? { consolePath: config.console.path } : {}),
    },
    metricsHandler: ctx.telemetry.metricsHandler,
    reasonHeader: config.debug.reasonHeader,
    logger: log.child({ component: 'http' }),
    isReady: () => lifecycle.ready,
    readiness: () => pools.readiness(),
    connections,
    ...ingressTls(config.tls),
    ...optional(
      'draft01',
      draft01Deps(config.protocols.draft01, {
        redis: storeClient,
        prefix: config.redis.prefix,
        maxBodyBytes: config.limits.maxBodyBytes,
        mtaTimeoutMs: config.stages.mtaTimeoutMs,
        replies: config.verdict.replies,
        reasonHeader: config.debug.reasonHeader,
      }),
    ),
  });
  const { host, port } = splitListen(config.listen);
  await app.listen({ host, port });
  // fastify.close() stops accepting, answers 503 to new requests and waits for in-flight ones (each bounded by its
  // own deadline).
  const longest = Math.max(...Object.values(config.stages.deadlineMs).map(Number));
  lifecycle.onStop('http server', () => app.close(), { timeoutMs: longest + 1000 });
  const addr = app.server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  return {
    url: `${config.tls.cert ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    pools,
  };
}

export async function startWorkers(ctx: RoleContext, selected: readonly ScannerEntry[]): Promise<void> {
  const { config, log, lifecycle } = ctx;
  const storeClient = redisClient(ctx, 'worker-store', {
    role: 'command',
    commandTimeoutMs: Math.max(5000, config.redis.commandTimeoutMs),
  });
  const workerClient = redisClient(ctx, 'worker-queue', { role: 'worker' });
  await Promise.all([connectRedis(storeClient), connectRedis(workerClient)]);
  lifecycle.onStop('redis (workers)', async () => {
    await Promise.all([closeRedis(storeClient), closeRedis(workerClient)]);
  });
  const store = new TransactionStore(storeClient, {
    prefix: config.redis.prefix,
    ttlMs: config.stages.stateTtlMs,
  });
  const cacheTtlMs = config.cache.ttlMs;
  const runtime = new ScannerRuntime({
    scanners: selected.map((e) => ({
      scanner: e.create(),
      concurrency: e.concurrency,
      queueShards: e.queueShards,
      ...(cacheTtlMs > 0 ? { cache: { version: e.configVersion, ttlMs: cacheTtlMs } } : {}),
    })),
    store,
    cache: new ResultCache(storeClient, config.redis.prefix),
    connection: workerClient,
    queuePrefix: config.redis.prefix,
    log: log.child({ component: 'worker' }),
    pools: {
      registry: new PoolRegistry(storeClient, config.redis.prefix),
      workerId: `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    },
  });
  await runtime.start();
  // Queue depth is read only when metrics are scraped.
  const depthReader = new ScanProducer(storeClient, {
    prefix: config.redis.prefix,
    shards: queueShardsOf(selected),
  });
  lifecycle.onStop('queue depth reader', () => depthReader.close());
  observeQueueDepthOnce(
    depthReader,
    selected.map((e) => e.id),
  );
  const longest = Math.max(...Object.values(config.stages.deadlineMs).map(Number));
  lifecycle.onStop('scanner workers', () => runtime.close(longest), { timeoutMs: longest + 1000 });
}

/** `{ [key]: value }` when value is defined, else nothing (keeps optional deps absent rather than undefined). */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** The active scanners as the console's pools page shows them: live workers and queue depth for queued ones. */
async function poolStates(
  scanners: readonly ScannerEntry[],
  pools: PoolWatcher,
  producer: ScanProducer,
): Promise<PoolState[]> {
  const live = pools.snapshot() ?? {};
  return Promise.all(
    scanners
      .filter((e) => e.active)
      .map(async (e): Promise<PoolState> => {
        const base = { id: e.id, placement: e.placement, stages: e.stages, required: e.policy.required };
        if (e.placement !== 'queue') return base;
        return { ...base, workers: live[e.id] ?? 0, queueDepth: await producer.depth(e.id).catch(() => -1) };
      }),
  );
}
