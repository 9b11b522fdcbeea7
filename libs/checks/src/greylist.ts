import { createHash } from 'node:crypto';
import type { RedisClient } from '@hookgate/redis';
import type { ScanOutcome, SmtpReply, Stage } from '@hookgate/contracts';
import type { Scanner } from '@hookgate/scanner-sdk';
import { clientNetwork } from './network.js';

export interface GreylistConfig {
  prefix: string;
  stages: Stage[];
  /** A first-seen triplet must wait this long before a retry passes, ms. */
  delayMs: number;
  /** A pending triplet is forgotten after this long without a successful retry, ms. */
  retryWindowMs: number;
  /** A triplet that passed is remembered (and not delayed again) this long, refreshed on every pass, ms. */
  passTtlMs: number;
  /** `{wait}` is replaced by the seconds left. */
  reply: SmtpReply;
  /** Skip authenticated (outbound) senders. */
  skipAuthenticated: boolean;
  v4Prefix: number;
  v6Prefix: number;
}

/**
 * KEYS[1] triplet key. ARGV[1] now ms, ARGV[2] delay ms, ARGV[3] retry window ms, ARGV[4] pass ttl ms.
 * Value `p:<first seen>` (pending) or `w:<passed at>` (whitelisted).
 * Returns {1, 0} to pass, or {0, ms left} to defer.
 */
const GREYLIST = `
local now = tonumber(ARGV[1])
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], 'p:' .. now, 'PX', ARGV[3])
  return {0, tonumber(ARGV[2])}
end
local state, t = string.sub(v, 1, 1), tonumber(string.sub(v, 3))
if state == 'w' then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return {1, 0}
end
local waited = now - t
if waited < tonumber(ARGV[2]) then return {0, tonumber(ARGV[2]) - waited} end
redis.call('SET', KEYS[1], 'w:' .. now, 'PX', ARGV[4])
return {1, 0}
`;

type GreyClient = RedisClient & {
  hgGreylist(key: string, ...argv: (string | number)[]): Promise<[number, number]>;
};

/**
 * Greylisting on (client network, sender, recipient) triplets, shared by every ingress replica through Redis. At
 * `rcpt` it defers only the recipient being checked.
 */
export function greylistCheck(
  redis: RedisClient,
  config: GreylistConfig,
  now: () => number = Date.now,
): Scanner {
  if (!('hgGreylist' in redis)) redis.defineCommand('hgGreylist', { numberOfKeys: 1, lua: GREYLIST });
  const client = redis as GreyClient;
  return {
    id: 'greylist',
    kind: 'policy',
    stages: config.stages,
    describe: () => `greylisting (delay ${config.delayMs / 1000} s)`,
    shouldScan(input) {
      const r = input.request;
      if (config.skipAuthenticated && r.auth) return 'authenticated sender';
      if (!r.from) return 'no envelope yet';
      if (!r.rcpt && !r.to?.length) return 'no recipient yet';
      return null;
    },
    async scan(input): Promise<ScanOutcome> {
      const r = input.request;
      const rcpts = r.rcpt ? [r.rcpt] : (r.to ?? []).map((t) => t.address);
      const net = clientNetwork(r.client.ip, config.v4Prefix, config.v6Prefix);
      let deferred = false;
      let wait = 0;
      for (const rcpt of rcpts) {
        const triplet = createHash('sha256')
          .update(`${net}\0${r.from!.address || '<>'}\0${rcpt}`)
          .digest('base64url')
          .slice(0, 24);
        const [pass, left] = await client.hgGreylist(
          `${config.prefix}:grey:{${triplet}}`,
          now(),
          config.delayMs,
          config.retryWindowMs,
          config.passTtlMs,
        );
        if (Number(pass) !== 1) {
          // A new triplet is deferred even with delayMs 0: the retry is what greylisting tests.
          deferred = true;
          wait = Math.max(wait, Number(left));
        }
      }
      if (!deferred) return { status: 'pass' };
      const seconds = String(Math.ceil(wait / 1000));
      return {
        status: 'fail',
        category: 'policy',
        action: 'tempfail',
        names: ['greylisted'],
        reply: { ...config.reply, text: config.reply.text.replaceAll('{wait}', seconds) },
      };
    },
  };
}
