import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { StageRequest } from '@hookgate/contracts';
import { createRedisClient, connectRedis, closeRedis, type RedisClient } from '@hookgate/redis';
import { greylistCheck, rateLimitCheck, clientNetwork, type GreylistConfig } from '@hookgate/checks';
import { startRedis, type RedisDaemon } from '../../../test/support/daemons.js';
import { stageRequest, scanContext } from '../../../test/support/scan-inputs.js';

let redis: RedisDaemon;
let a: RedisClient;
let b: RedisClient;
beforeAll(async () => {
  redis = await startRedis();
  // Two clients stand for two ingress replicas: all state is in Redis.
  a = createRedisClient({ mode: 'standalone', url: redis.url }, { role: 'command' });
  b = createRedisClient({ mode: 'standalone', url: redis.url }, { role: 'command' });
  await Promise.all([connectRedis(a), connectRedis(b)]);
});
afterAll(async () => {
  await Promise.all([closeRedis(a), closeRedis(b)]);
  await redis.stop();
});

const ctx = scanContext(60_000, new AbortController().signal);
const req = (over: Partial<StageRequest> = {}): StageRequest =>
  stageRequest({
    stage: 'rcpt',
    deadlineAt: 1,
    client: { ip: '203.0.113.9' },
    from: { address: 'alice@example.org' },
    rcpt: 'bob@example.net',
    to: [{ address: 'bob@example.net' }],
    ...over,
  });

describe('greylisting across replicas', () => {
  const cfg = (prefix: string): GreylistConfig => ({
    prefix,
    stages: ['rcpt'],
    delayMs: 300_000,
    retryWindowMs: 4 * 3600_000,
    passTtlMs: 36 * 86400_000,
    reply: { code: 451, enhanced: '4.7.1', text: 'Greylisted, please try again in {wait} seconds' },
    skipAuthenticated: true,
    v4Prefix: 24,
    v6Prefix: 64,
  });

  it('defers a new triplet, keeps deferring early retries, passes after the delay, then remembers it', async () => {
    let now = 1_000_000_000;
    const prefix = `g${randomBytes(3).toString('hex')}`;
    const onA = greylistCheck(a, cfg(prefix), () => now);
    const onB = greylistCheck(b, cfg(prefix), () => now);
    const first = await onA.scan({ request: req() }, ctx);
    expect(first).toEqual({
      status: 'fail',
      category: 'policy',
      action: 'tempfail',
      names: ['greylisted'],
      reply: { code: 451, enhanced: '4.7.1', text: 'Greylisted, please try again in 300 seconds' },
    });
    now += 60_000;
    expect(await onB.scan({ request: req() }, ctx)).toMatchObject({
      status: 'fail',
      reply: { text: 'Greylisted, please try again in 240 seconds' },
    });
    now += 240_000;
    // The retry comes from another address of the same /24 and reaches the other replica.
    expect(await onB.scan({ request: req({ client: { ip: '203.0.113.200' } }) }, ctx)).toEqual({
      status: 'pass',
    });
    now += 86_400_000;
    expect(await onA.scan({ request: req() }, ctx)).toEqual({ status: 'pass' });
  });

  it('greylists per recipient: a known recipient passes while a new one is deferred', async () => {
    let now = 2_000_000_000;
    const check = greylistCheck(a, cfg(`g${randomBytes(3).toString('hex')}`), () => now);
    await check.scan({ request: req() }, ctx);
    now += 301_000;
    expect(await check.scan({ request: req() }, ctx)).toEqual({ status: 'pass' });
    expect(await check.scan({ request: req({ rcpt: 'carol@example.net' }) }, ctx)).toMatchObject({
      status: 'fail',
      action: 'tempfail',
    });
  });

  it('forgets a pending triplet after the retry window', async () => {
    const now = 3_000_000_000;
    const prefix = `g${randomBytes(3).toString('hex')}`;
    const check = greylistCheck(a, { ...cfg(prefix), retryWindowMs: 1000, delayMs: 0 }, () => now);
    await check.scan({ request: req() }, ctx);
    const keys = await a.keys(`${prefix}:grey:*`);
    expect(keys).toHaveLength(1);
    const ttl = await a.pttl(keys[0]!);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1000);
  });

  it('skips authenticated senders and requests without an envelope', () => {
    const check = greylistCheck(a, cfg('gx'));
    expect(check.shouldScan?.({ request: req({ auth: { login: 'alice' } }) })).toBe('authenticated sender');
    expect(check.shouldScan?.({ request: req({ from: undefined }) })).toBe('no envelope yet');
  });

  it('derives the client network', () => {
    expect(clientNetwork('203.0.113.77')).toBe('203.0.113.0/24');
    expect(clientNetwork('::ffff:203.0.113.77')).toBe('203.0.113.0/24');
    expect(clientNetwork('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2:0:0:0:0/64');
    expect(clientNetwork('2001:db8::1', 24, 48)).toBe('2001:db8:0:0:0:0:0:0/48');
  });
});

describe('rate limits across replicas', () => {
  it('counts per client IP, user and sender domain across both clients and names the limit exceeded', async () => {
    const prefix = `r${randomBytes(3).toString('hex')}`;
    const now = 5_000_000_000;
    const config = {
      prefix,
      stages: ['mail' as const],
      limits: [
        { key: 'clientIp' as const, max: 3, windowSec: 60 },
        { key: 'user' as const, max: 100, windowSec: 60 },
        { key: 'senderDomain' as const, max: 4, windowSec: 60 },
      ],
      reply: { code: 451, enhanced: '4.7.1', text: 'Rate limit exceeded ({limit}), try again later' },
    };
    const onA = rateLimitCheck(a, config, () => now);
    const onB = rateLimitCheck(b, config, () => now);
    const mail = req({ stage: 'mail', rcpt: undefined, to: [] });
    const outcomes = [];
    for (let i = 0; i < 4; i++) outcomes.push(await (i % 2 ? onB : onA).scan({ request: mail }, ctx));
    expect(outcomes.slice(0, 3)).toEqual([{ status: 'pass' }, { status: 'pass' }, { status: 'pass' }]);
    expect(outcomes[3]).toEqual({
      status: 'fail',
      category: 'policy',
      action: 'tempfail',
      names: ['ratelimit.clientIp'],
      reply: { code: 451, enhanced: '4.7.1', text: 'Rate limit exceeded (clientIp), try again later' },
    });
    // Another IP of the same sender domain: the domain limit (4) is now exceeded too.
    expect(await onA.scan({ request: { ...mail, client: { ip: '198.51.100.1' } } }, ctx)).toMatchObject({
      names: ['ratelimit.senderDomain'],
    });
    // A new window starts from zero.
    const later = rateLimitCheck(a, config, () => now + 60_000);
    expect(await later.scan({ request: mail }, ctx)).toEqual({ status: 'pass' });
  });
});

describe('greylisting with no delay', () => {
  it('still defers the first attempt of a new triplet (regression: a wait of 0 passed at once)', async () => {
    const check = greylistCheck(a, {
      prefix: `g${randomBytes(3).toString('hex')}`,
      stages: ['rcpt'],
      delayMs: 0,
      retryWindowMs: 60_000,
      passTtlMs: 60_000,
      reply: { code: 451, enhanced: '4.7.1', text: 'Greylisted, please try again in {wait} seconds' },
      skipAuthenticated: true,
      v4Prefix: 24,
      v6Prefix: 64,
    });
    expect(await check.scan({ request: req() }, ctx)).toMatchObject({
      status: 'fail',
      reply: { text: 'Greylisted, please try again in 0 seconds' },
    });
    expect(await check.scan({ request: req() }, ctx)).toEqual({ status: 'pass' });
  });
});
