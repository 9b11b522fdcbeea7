/**
 * Greylisting and rate limits as hookgate registers them: inline checks that run in the ingress on its Redis
 * client, off by default. Their config schemas are declared here, next to the checks.
 */
import { Type } from '@sinclair/typebox';
import { literals, replySchema, stageList } from '@hookgate/contracts';
import type { RedisClient } from '@hookgate/redis';
import { defineScanner, type ScannerHost } from '@hookgate/scanner-sdk';
import { greylistCheck } from './greylist.js';
import { LIMIT_KEYS, rateLimitCheck } from './ratelimit.js';

/** What an inline check needs from its host: the ingress's Redis client. */
export interface InlineHost extends ScannerHost {
  redis?: RedisClient;
}

function needRedis(host: InlineHost, id: string): RedisClient {
  if (!host.redis) throw new Error(`${id} runs in the ingress and needs its Redis client`);
  return host.redis;
}

/** A check's reply must be a temporary failure: the sender is to come back. */
const tempfailReply = (c: { reply: { code: number } }, path: string) =>
  Math.floor(c.reply.code / 100) !== 4
    ? [{ path: `${path}.reply.code`, reason: 'must be 4xx (a temporary failure)' }]
    : [];

/** `scanners.greylist`. */
export const GreylistConfigSchema = Type.Object({
  enabled: Type.Boolean({ default: false }),
  stages: stageList(['rcpt']),
  delayMs: Type.Integer({ minimum: 0, default: 300_000 }),
  retryWindowMs: Type.Integer({ minimum: 1000, default: 14_400_000 }),
  passTtlMs: Type.Integer({ minimum: 1000, default: 3_110_400_000 }),
  reply: replySchema(451, '4.7.1', 'Greylisted, please try again in {wait} seconds'),
  skipAuthenticated: Type.Boolean({ default: true }),
  v4Prefix: Type.Integer({ minimum: 0, maximum: 32, default: 24 }),
  v6Prefix: Type.Integer({ minimum: 0, maximum: 128, default: 64 }),
});

/** `scanners.ratelimit`. */
export const RateLimitConfigSchema = Type.Object({
  enabled: Type.Boolean({ default: false }),
  stages: stageList(['mail']),
  limits: Type.Array(
    Type.Object({
      key: literals(LIMIT_KEYS),
      max: Type.Integer({ minimum: 1 }),
      windowSec: Type.Integer({ minimum: 1, maximum: 604_800 }),
    }),
    {
      default: [
        { key: 'clientIp', max: 120, windowSec: 60 },
        { key: 'user', max: 600, windowSec: 3600 },
        { key: 'senderDomain', max: 3000, windowSec: 3600 },
      ],
    },
  ),
  reply: replySchema(451, '4.7.1', 'Rate limit exceeded ({limit}), try again later'),
});

export const greylistRegistration = defineScanner({
  id: 'greylist',
  placement: 'inline',
  schema: GreylistConfigSchema,
  required: false,
  status: (c) => ({
    active: c.enabled,
    why: c.enabled ? `greylisting in the ingress (delay ${c.delayMs / 1000} s)` : 'disabled',
  }),
  check: tempfailReply,
  create: (c, host: InlineHost) => greylistCheck(needRedis(host, 'greylist'), { ...c, prefix: host.prefix }),
});

export const rateLimitRegistration = defineScanner({
  id: 'ratelimit',
  placement: 'inline',
  schema: RateLimitConfigSchema,
  required: false,
  status: (c) => ({
    active: c.enabled,
    why: c.enabled
      ? `rate limits in the ingress (${c.limits.map((l) => `${l.key} ${l.max}/${l.windowSec}s`).join(', ')})`
      : 'disabled',
  }),
  check: tempfailReply,
  create: (c, host: InlineHost) =>
    rateLimitCheck(needRedis(host, 'ratelimit'), { ...c, prefix: host.prefix }),
});
