/**
 * The scanner registry: which scanners the config activates, their routes for the ingress and their plugins for
 * workers. Ingress and workers read the same config, so they agree on what is expected at each stage.
 */
import { createHash } from 'node:crypto';
import type { ScannerPolicy, Stage } from '@hookgate/contracts';
import { scannerPolicy } from '@hookgate/verdict';
import type { RedisClient } from '@hookgate/redis';
import { greylistCheck, rateLimitCheck } from '@hookgate/checks';
import { noopScanner, type Scanner } from '@hookgate/scanner-sdk';
import { clamavScanner } from '@hookgate/scanner-av';
import { rspamdScanner, spamdScanner } from '@hookgate/scanner-spam';
import { dlpScanner } from '@hookgate/scanner-dlp';
import type { ScannerRoute } from '@hookgate/pipeline';
import type { HookgateConfig } from './config.js';

export const SCANNER_IDS = ['clamav', 'rspamd', 'spamd', 'dlp', 'greylist', 'ratelimit', 'noop'] as const;
export type ScannerId = (typeof SCANNER_IDS)[number];

export interface ScannerEntry {
  id: ScannerId;
  /** Inactive scanners are neither expected by the ingress nor hosted by workers. */
  active: boolean;
  /** Why it is (in)active, for the startup summary. */
  why: string;
  stages: readonly Stage[];
  policy: ScannerPolicy;
  concurrency: number;
  /** Shards of a queued scanner's queue (`scanners.<id>.queueShards`); 1 for inline checks. */
  queueShards: number;
  /** Queued scanners run in worker pools; inline checks run in the ingress itself, on its Redis client. */
  placement: 'queue' | 'inline';
  create: (redis?: RedisClient) => Scanner;
  /** Identifies the scanner's configuration, so cached results of another configuration are never reused. */
  configVersion: string;
}

function version(section: unknown): string {
  return createHash('sha256').update(JSON.stringify(section)).digest('base64url').slice(0, 12);
}

export function scannerRegistry(config: HookgateConfig): ScannerEntry[] {
  const c = config.scanners.clamav;
  const n = config.scanners.noop;
  const g = config.scanners.greylist;
  const rs = config.scanners.rspamd;
  const { enabled: dlpEnabled, ...dlp } = config.scanners.dlp;
  const sa = config.scanners.spamd;
  const rl = config.scanners.ratelimit;
  const prefix = config.redis.prefix;
  return [
    {
      id: 'clamav',
      active: c.endpoint !== undefined,
      why: c.endpoint !== undefined ? `clamd at ${c.endpoint}` : 'no engine configured (set HOOKGATE_CLAMD or scanners.clamav.endpoint)',
      stages: c.stages,
      policy: scannerPolicy('clamav', c),
      concurrency: c.concurrency,
      queueShards: c.queueShards,
      placement: 'queue',
      configVersion: version(c),
      create: () =>
        clamavScanner({
          endpoint: c.endpoint!,
          stages: c.stages,
          maxStreamBytes: c.maxStreamBytes,
          chunkBytes: c.chunkBytes,
          action: c.action,
          reply: c.reply,
          header: c.header,
        }),
    },
    {
      id: 'dlp',
      active: dlpEnabled,
      why: dlpEnabled
        ? `built in (enforce outbound: ${dlp.enforce.outbound}, inbound: ${dlp.enforce.inbound}; ${dlp.rules.length} operator rules)`
        : 'disabled (scanners.dlp.enabled: false)',
      stages: dlp.stages,
      policy: scannerPolicy('dlp', dlp),
      concurrency: dlp.concurrency,
      queueShards: dlp.queueShards,
      placement: 'queue',
      configVersion: version(dlp),
      create: () => dlpScanner(dlp),
    },
    {
      id: 'rspamd',
      active: rs.url !== undefined,
      why: rs.url !== undefined ? `rspamd at ${rs.url}` : 'no engine configured (set HOOKGATE_RSPAMD_URL or scanners.rspamd.url)',
      stages: rs.stages,
      policy: scannerPolicy('rspamd', rs),
      concurrency: rs.concurrency,
      queueShards: rs.queueShards,
      placement: 'queue',
      configVersion: version({ ...rs, password: undefined }),
      create: () => rspamdScanner({ ...rs, url: rs.url! }),
    },
    {
      id: 'spamd',
      active: sa.endpoint !== undefined,
      why: sa.endpoint !== undefined ? `spamd at ${sa.endpoint}` : 'no engine configured (set HOOKGATE_SPAMD or scanners.spamd.endpoint)',
      stages: sa.stages,
      policy: scannerPolicy('spamd', sa),
      concurrency: sa.concurrency,
      queueShards: sa.queueShards,
      placement: 'queue',
      configVersion: version(sa),
      create: () => spamdScanner({ ...sa, endpoint: sa.endpoint! }),
    },
    {
      id: 'noop',
      active: n.enabled,
      why: n.enabled ? 'enabled (passes everything; for benchmarks)' : 'disabled',
      stages: n.stages,
      policy: scannerPolicy('noop', n),
      concurrency: n.concurrency,
      queueShards: n.queueShards,
      placement: 'queue',
      configVersion: version(n),
      create: () => noopScanner({ stages: n.stages }),
    },
    {
      id: 'greylist',
      active: g.enabled,
      why: g.enabled ? `greylisting in the ingress (delay ${g.delayMs / 1000} s)` : 'disabled',
      stages: g.stages,
      policy: scannerPolicy('greylist', g),
      concurrency: 1,
      queueShards: 1,
      placement: 'inline',
      configVersion: version(g),
      create: (redis) => greylistCheck(needRedis(redis, 'greylist'), { ...g, prefix }),
    },
    {
      id: 'ratelimit',
      active: rl.enabled,
      why: rl.enabled ? `rate limits in the ingress (${rl.limits.map((l) => `${l.key} ${l.max}/${l.windowSec}s`).join(', ')})` : 'disabled',
      stages: rl.stages,
      policy: scannerPolicy('ratelimit', rl),
      concurrency: 1,
      queueShards: 1,
      placement: 'inline',
      configVersion: version(rl),
      create: (redis) => rateLimitCheck(needRedis(redis, 'ratelimit'), { ...rl, prefix }),
    },
  ];
}

function needRedis(redis: RedisClient | undefined, id: string): RedisClient {
  if (!redis) throw new Error(`${id} runs in the ingress and needs its Redis client`);
  return redis;
}

/** Queue shards of every active queued scanner, by id (what producers and depth readers need). */
export function queueShardsOf(entries: readonly ScannerEntry[]): Record<string, number> {
  return Object.fromEntries(entries.filter((e) => e.active && e.placement === 'queue').map((e) => [e.id, e.queueShards]));
}

/** Routes of the active queued scanners: what the ingress fans out to. */
export function routesOf(entries: readonly ScannerEntry[]): ScannerRoute[] {
  return entries.filter((e) => e.active && e.placement === 'queue').map((e) => ({ id: e.id, stages: e.stages, policy: e.policy }));
}
