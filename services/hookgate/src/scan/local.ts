/**
 * `hookgate scan --local`: the production path in this process. The configured scanners run in workers and the
 * stage pipeline decides — same policy banks, rules, failure policies, deadlines and result cache as a running
 * hookgate — on a private redis-server started for the run (never the configured Redis: a test run must not touch
 * production queues, state or quarantine). Quarantine verdicts are reported, never kept.
 */
import { randomBytes } from 'node:crypto';
import { ConnectionLog } from '@hookgate/redis';
import { Lifecycle } from '@hookgate/lifecycle';
import type { Logger } from '@hookgate/logger';
import type { HookgateConfig } from '../config.js';
import { startEmbeddedRedis } from '../embedded-redis.js';
import { scannerRegistry } from '../scanners.js';
import { startWorkers } from '../roles.js';
import { buildStagePipeline } from '../stage-pipeline.js';
import type { ScannedMessage } from './report.js';
import { envelopeOf, splitMessage } from './envelope.js';
import { errorMessage } from '@hookgate/contracts';

export interface LocalScanner {
  scan(label: string, bytes: Buffer): Promise<ScannedMessage>;
  /** The scanners that run, for the start line. */
  active: string[];
  close(): Promise<void>;
}

export async function localScanner(
  config: HookgateConfig,
  log: Logger,
  say: (line: string) => void,
  overrides: { from?: string; to?: string[] } = {},
): Promise<LocalScanner> {
  const lifecycle = new Lifecycle(log, { hardDeadlineMs: 30_000 });
  try {
    const redis = await startEmbeddedRedis(say);
    lifecycle.onStop('embedded redis', () => redis.stop());
    const registry = scannerRegistry(config);
    const ctx = {
      config,
      redis: { mode: 'standalone' as const, url: redis.url },
      log,
      lifecycle,
      scanners: registry,
      connections: new ConnectionLog(log),
      telemetry: { metricsHandler: () => undefined },
    };
    const queued = registry.filter((e) => e.active && e.placement === 'queue');
    await startWorkers(ctx, queued);
    const { pipeline, store } = await buildStagePipeline(ctx, 'scan', { keepQuarantined: false });
    return {
      active: registry.filter((e) => e.active).map((e) => e.id),
      async scan(label, bytes) {
        const started = Date.now();
        const sessionId = `scan${randomBytes(8).toString('hex')}`;
        const env = envelopeOf(splitMessage(bytes).headers, overrides);
        try {
          const out = await pipeline.handle(
            {
              protocol: 'stalwart',
              stage: 'data',
              sessionId,
              client: { ip: '127.0.0.1', helo: 'hookgate-scan' },
              from: { address: env.from },
              to: env.to.map((address) => ({ address })),
              message: {
                size: bytes.byteLength,
                storedBytes: bytes.byteLength,
                lossy: false,
                ...(env.subject !== undefined ? { subject: env.subject } : {}),
              },
            },
            bytes,
          );
          await out.recorded;
          const record = out.request.txnId ? await store.verdict(sessionId, out.request.reqId) : undefined;
          const v = out.verdict;
          const reply = v.reply
            ? `${v.reply.code} ${v.reply.enhanced ?? ''} ${v.reply.text}`.replace(/\s+/g, ' ')
            : undefined;
          return {
            label,
            action: v.action,
            ...(reply ? { reply } : {}),
            reasons: v.reasons,
            scanners: (record?.results ?? []).map((r) => ({
              id: r.scanner,
              status: r.outcome.status,
              ms: r.durationMs,
            })),
            durationMs: Date.now() - started,
          };
        } catch (err) {
          return {
            label,
            reasons: [],
            scanners: [],
            durationMs: Date.now() - started,
            error: errorMessage(err),
          };
        }
      },
      close: () => lifecycle.stop('scan finished'),
    };
  } catch (err) {
    await lifecycle.stop('scan setup failed');
    throw err;
  }
}
