import type { RedisClient } from '@hookgate/redis';
import type { ScanOutcome, SmtpReply, Stage, StageRequest } from '@hookgate/contracts';
import type { Scanner } from '@hookgate/scanner-sdk';

export const LIMIT_KEYS = ['clientIp', 'user', 'senderDomain'] as const;
export type LimitKey = (typeof LIMIT_KEYS)[number];

export interface RateLimit {
  /** What is counted: per client IP, per authenticated user, per envelope sender domain. */
  key: LimitKey;
  /** Requests allowed per window (at the check's stages: at `mail` that is messages). */
  max: number;
  windowSec: number;
}

export interface RateLimitConfig {
  prefix: string;
  stages: Stage[];
  limits: RateLimit[];
  /** `{limit}` is replaced by the limit's key name. */
  reply: SmtpReply;
}

/**
 * KEYS[1] counter of the current window. ARGV[1] window ms. Returns the count after this request.
 * A fixed window: simple, one key per window, and exact across replicas.
 */
const COUNT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`;

type CountClient = RedisClient & { hgRateCount(key: string, windowMs: number): Promise<number> };

function subject(key: LimitKey, r: StageRequest): string | undefined {
  switch (key) {
    case 'clientIp':
      return r.client.ip;
    case 'user':
      return r.auth?.login;
    case 'senderDomain': {
      const a = r.from?.address;
      return a && a.includes('@') ? a.slice(a.lastIndexOf('@') + 1).toLowerCase() : undefined;
    }
  }
}

/** Rate limits counted in Redis, so they hold across every ingress replica. */
export function rateLimitCheck(
  redis: RedisClient,
  config: RateLimitConfig,
  now: () => number = Date.now,
): Scanner {
  if (!('hgRateCount' in redis)) redis.defineCommand('hgRateCount', { numberOfKeys: 1, lua: COUNT });
  const client = redis as CountClient;
  return {
    id: 'ratelimit',
    kind: 'policy',
    stages: config.stages,
    describe: () =>
      `rate limits (${config.limits.map((l) => `${l.key} ${l.max}/${l.windowSec}s`).join(', ')})`,
    async scan(input): Promise<ScanOutcome> {
      const r = input.request;
      const t = now();
      const counts = await Promise.all(
        config.limits.map(async (l) => {
          const who = subject(l.key, r);
          if (who === undefined) return { l, over: false };
          const windowMs = l.windowSec * 1000;
          const key = `${config.prefix}:rl:{${l.key}:${who}}:${l.windowSec}:${Math.floor(t / windowMs)}`;
          return { l, over: Number(await client.hgRateCount(key, windowMs)) > l.max };
        }),
      );
      const over = counts.filter((c) => c.over).map((c) => c.l.key);
      if (over.length === 0) return { status: 'pass' };
      return {
        status: 'fail',
        category: 'policy',
        action: 'tempfail',
        names: over.map((k) => `ratelimit.${k}`),
        reply: { ...config.reply, text: config.reply.text.replaceAll('{limit}', over[0]!) },
      };
    },
  };
}
