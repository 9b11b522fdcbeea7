/**
 * The policy engine through real processes: greylisting and rate limits that hold across two ingress replicas,
 * policy banks chosen by rules, the admin record of a transaction, and the debug reason header.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, startClamd, freePort, type RedisDaemon, type ClamdDaemon } from '../support/daemons.js';
import { startHookgate, writeConfig, type HookgateProcess } from '../support/processes.js';
import { stalwartRequest } from '../support/stalwart.js';
import { eicarInline, clean } from '../support/samples.js';

let redis: RedisDaemon;
let clamd: ClamdDaemon;
let worker: HookgateProcess;
let a: HookgateProcess;
let b: HookgateProcess;
const ADMIN = 'admin-token-0123456789abcdef';
const MTA = 'mta-token-0123456789abcdefgh';
const GREY_DELAY_MS = 1500;

beforeAll(async () => {
  [redis, clamd] = await Promise.all([startRedis(), startClamd()]);
  const cfg = writeConfig(`
redis: { prefix: pol${process.pid} }
debug: { reasonHeader: true }
scanners:
  greylist: { enabled: true, delayMs: ${GREY_DELAY_MS} }
  ratelimit: { enabled: true, limits: [{ key: clientIp, max: 3, windowSec: 3600 }] }
policies:
  default: { stamp: { verdict: true } }
  trusted: { scanners: { clamav: { enabled: false }, greylist: { enabled: false }, ratelimit: { enabled: false } } }
rules:
  - { name: trusted-relays, match: { clientNetworks: [10.0.0.0/8] }, policy: trusted }
`);
  const env = {
    HOOKGATE_CONFIG: cfg,
    HOOKGATE_REDIS_URL: redis.url,
    HOOKGATE_CLAMD: clamd.tcp,
    HOOKGATE_AUTH_TOKENS: `stalwart=${MTA}`,
    HOOKGATE_ADMIN_TOKENS: `ops=${ADMIN}`,
  };
  worker = await startHookgate(['worker', '--scanners', 'clamav,dlp'], env);
  a = await startHookgate(['ingress'], { ...env, HOOKGATE_LISTEN: `127.0.0.1:${await freePort()}` });
  b = await startHookgate(['ingress'], { ...env, HOOKGATE_LISTEN: `127.0.0.1:${await freePort()}` });
});
afterAll(async () => {
  await Promise.all([a, b, worker].map((p) => p?.stop()));
  await Promise.all([redis?.stop(), clamd?.stop()]);
});

async function call(
  p: HookgateProcess,
  body: unknown,
): Promise<{ body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${p.url}/hooks/stalwart`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${MTA}` },
    body: JSON.stringify(body),
  });
  return { body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

describe('greylisting across two ingress replicas', () => {
  it('defers a new triplet on both replicas until the delay passed, then accepts it on either', async () => {
    const session = {
      clientIp: '198.51.100.7',
      clientPort: 5000,
      from: 'news@sender.example',
      rcpts: ['bob@example.net'],
    };
    const first = await call(a, stalwartRequest('rcpt', session));
    const t0 = Date.now();
    expect(first.body).toMatchObject({
      action: 'reject',
      response: {
        status: 451,
        enhanced_status: '4.7.1',
        message: expect.stringMatching(/^Greylisted, please try again in \d+ seconds$/),
      },
    });
    expect((await call(b, stalwartRequest('rcpt', session))).body).toMatchObject({
      response: { status: 451 },
    });
    // Retry (alternating replicas) until accepted: that must not happen before the delay.
    let n = 0;
    await expect
      .poll(async () => (await call(n++ % 2 ? a : b, stalwartRequest('rcpt', session))).body.action, {
        timeout: 10_000,
        interval: 200,
      })
      .toBe('accept');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(GREY_DELAY_MS - 100);
    // Per recipient: a second, new recipient in the same transaction is deferred on its own.
    const two = { ...session, rcpts: ['bob@example.net', 'carol@example.net'] };
    expect((await call(b, stalwartRequest('rcpt', two, undefined, 2))).body).toMatchObject({
      response: { status: 451 },
    });
  });
});

describe('rate limits across two ingress replicas', () => {
  it('counts MAIL commands per client IP on both replicas and tempfails over the limit', async () => {
    const answers = [];
    for (let i = 0; i < 4; i++)
      answers.push(
        (await call(i % 2 ? b : a, stalwartRequest('mail', { clientIp: '192.0.2.99', clientPort: 6000 + i })))
          .body,
      );
    expect(answers.slice(0, 3)).toEqual([{ action: 'accept' }, { action: 'accept' }, { action: 'accept' }]);
    expect(answers[3]).toEqual({
      action: 'reject',
      response: {
        status: 451,
        enhanced_status: '4.7.1',
        enhancedStatus: '4.7.1',
        message: 'Rate limit exceeded (clientIp), try again later',
      },
    });
  });
});

describe('policy banks, explainability', () => {
  it('a trusted relay skips scanning by rule; the reason header says which policy and rule decided', async () => {
    const trusted = await call(
      a,
      stalwartRequest('data', { clientIp: '10.20.30.40', clientPort: 7000 }, eicarInline()),
    );
    expect(trusted.body.action).toBe('accept');
    expect(trusted.headers.get('x-hookgate-reason')).toMatch(
      /^accept; by=policy; policy=trusted; rule=trusted-relays/,
    );
    const outside = await call(
      b,
      stalwartRequest('data', { clientIp: '192.0.2.50', clientPort: 7001 }, eicarInline()),
    );
    expect(outside.body.action).toBe('reject');
    expect(outside.headers.get('x-hookgate-reason')).toMatch(
      /^reject; by=clamav; policy=default; rule=default; reasons=clamav:virus:Test\.EICAR/,
    );
  });

  it('stamps the verdict summary header on mail that goes on', async () => {
    const ok = await call(a, stalwartRequest('data', { clientIp: '192.0.2.51', clientPort: 7002 }, clean()));
    expect(ok.body.modifications).toContainEqual({
      type: 'addHeader',
      name: 'X-Hookgate-Verdict',
      value: expect.stringMatching(/^accept; policy=default; rule=default; scanners=clamav=pass/),
    });
  });

  it('the admin API returns the record of a transaction answered by both replicas', async () => {
    const s = {
      clientIp: '192.0.2.60',
      clientPort: 7100,
      from: 'alice@example.org',
      rcpts: ['bob@example.net'],
    };
    await call(a, stalwartRequest('mail', s));
    const data = await call(b, stalwartRequest('data', s, eicarInline()));
    const txnId = data.headers.get('x-hookgate-transaction-id')!;
    expect(txnId).toMatch(/\.1$/);
    const res = await fetch(`${a.url}/admin/transactions/${txnId}`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(res.status).toBe(200);
    const rec = (await res.json()) as {
      stages: {
        stage: string;
        record: {
          verdict: { action: string; decidedBy: string[]; partial: boolean };
          results: { scanner: string; durationMs: number }[];
        };
      }[];
    };
    expect(rec.stages.map((st) => st.stage)).toEqual(['mail', 'data']);
    const last = rec.stages[1]!.record;
    // A virus is terminal: the answer may come before the DLP result (partial), never without clamav's.
    expect(last.verdict).toMatchObject({ action: 'reject', decidedBy: ['clamav'] });
    expect(last.results.map((r) => r.scanner)).toContain('clamav');
    expect(JSON.stringify(rec)).not.toContain('EICAR-STANDARD');
    // MTA credentials do not open the admin API; unknown transactions are 404.
    expect(
      (await fetch(`${a.url}/admin/transactions/${txnId}`, { headers: { authorization: `Bearer ${MTA}` } }))
        .status,
    ).toBe(401);
    expect(
      (await fetch(`${a.url}/admin/transactions/nope.1`, { headers: { authorization: `Bearer ${ADMIN}` } }))
        .status,
    ).toBe(404);
  });
});
