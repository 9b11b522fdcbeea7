/**
 * draft-01 end to end through real processes: two `hookgate ingress` replicas and a `hookgate worker` pool on a
 * private Redis and clamd, driven by the MTA-side test client exactly as a draft-01 MTA would: discovery,
 * registration, every stage, retries with the same request id on the *other* replica, registration again after
 * 404/410, outbound DSN scanning, deregistration. In JSON and in CBOR.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRedis, startClamd, freePort, type RedisDaemon, type ClamdDaemon } from '../support/daemons.js';
import { startHookgate, writeConfig, type HookgateProcess } from '../support/processes.js';
import { clean, eicarAttachment, eicarInline } from '../support/samples.js';
import {
  Draft01Client,
  draft01Request,
  draft01Transaction,
  dsnMessage,
  outboundRequest,
  type Serialization,
} from '../support/draft01-client.js';

let redis: RedisDaemon;
let clamd: ClamdDaemon;
const running: HookgateProcess[] = [];
const clients: Draft01Client[] = [];
let n = 0;

const TOKENS = { 'mta-1': 'tok-e2e-mta1-0123456789abcdef', 'mta-2': 'tok-e2e-mta2-0123456789abcdef' };

beforeAll(async () => {
  [redis, clamd] = await Promise.all([startRedis(), startClamd()]);
});
afterEach(async () => {
  clients.splice(0).forEach((c) => c.close());
  await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')));
});
afterAll(async () => {
  await Promise.all([redis?.stop(), clamd?.stop()]);
});

/** Two ingress replicas and one worker pool sharing a fresh Redis prefix. */
async function deployment(): Promise<{ a: string; b: string; prefix: string }> {
  const prefix = `d1e2e${++n}x${process.pid}`;
  const cfg = writeConfig(`
redis: { prefix: ${prefix} }
stages: { deadlineMs: { connect: 1500, ehlo: 1500, mail: 1500, rcpt: 1500, data: 4000, delivery: 4000, defer: 4000, dsn: 4000 } }
scanners: { clamav: { stages: [data, dsn] } }
protocols: { draft01: { graceMs: 0 } }
`);
  const env = {
    HOOKGATE_CONFIG: cfg,
    HOOKGATE_REDIS_URL: redis.url,
    HOOKGATE_CLAMD: clamd.tcp,
    HOOKGATE_AUTH_TOKENS: Object.entries(TOKENS)
      .map(([i, t]) => `${i}=${t}`)
      .join(','),
  };
  const start = async (args: string[], extra: Record<string, string> = {}) => {
    const p = await startHookgate(args, { ...env, ...extra });
    running.push(p);
    return p;
  };
  // Its own metrics port: another test file's worker may hold the default one.
  await start(['worker', '--scanners', 'clamav,dlp'], {
    HOOKGATE_METRICS_LISTEN: `127.0.0.1:${await freePort()}`,
  });
  const [a, b] = await Promise.all([
    start(['ingress'], { HOOKGATE_LISTEN: `127.0.0.1:${await freePort()}` }),
    start(['ingress'], { HOOKGATE_LISTEN: `127.0.0.1:${await freePort()}` }),
  ]);
  return { a: a.url!, b: b.url!, prefix };
}

function client(baseUrl: string, serialization: Serialization, token = TOKENS['mta-1']): Draft01Client {
  const c = new Draft01Client({
    baseUrl,
    token,
    serialization,
    backoffMs: 20,
    maxRetryAfterMs: 200,
    timeoutMs: 10_000,
  });
  clients.push(c);
  return c;
}

/** The same MTA talking to the other replica: same registration, other base URL. */
function otherReplica(c: Draft01Client, baseUrl: string): Draft01Client {
  const o = client(baseUrl, c.options.serialization, c.options.token);
  o.discovery = c.discovery;
  o.registration = c.registration;
  return o;
}

describe.each(['json', 'cbor'] as Serialization[])(
  'draft-01 MTA flow in %s across two ingress replicas',
  (serialization) => {
    it('discovers, registers, runs every stage, rejects viruses, dedupes retries on the other replica, re-registers, deregisters', async () => {
      const { a, b, prefix } = await deployment();
      const mta = client(a, serialization);
      const disco = await mta.discover();
      expect(disco).toMatchObject({
        version: '1.0',
        serialization: ['json', 'cbor'],
        limits: { timeoutMs: 30000 },
      });
      const reg = await mta.register();
      const viaB = otherReplica(mta, b);

      // Every stage of a clean transaction, stages alternating between the replicas.
      const stages = draft01Transaction(
        { clientPort: 41001, rcpts: ['bob@example.net', 'carol@example.net'] },
        clean(),
      );
      const answers = [];
      for (const [i, body] of stages.entries()) answers.push(await (i % 2 === 0 ? mta : viaB).hook(body));
      expect(answers.slice(0, -1).map((r) => r.status)).toEqual([204, 204, 204, 204, 204]);
      const data = answers.at(-1)!;
      expect(data.status).toBe(200);
      expect(data.ops?.add).toContainEqual({
        path: '/message/headers',
        value: { name: 'X-Virus-Scanned', value: 'hookgate (ClamAV)' },
        index: 0,
      });
      expect(data.ops?.set).toBeUndefined();
      expect(data.headers['x-hookgate-transaction-id']).toMatch(/\.1$/);

      // Viruses are rejected at data with the scanner's reply.
      for (const sample of [eicarInline(), eicarAttachment()]) {
        const r = await mta.hook(draft01Request('data', { clientPort: 41002 }, sample));
        expect(r.ops?.set?.[0]).toEqual({ path: '/action', value: 'reject' });
        expect(r.ops?.set?.[1]).toMatchObject({
          path: '/response',
          value: {
            code: 550,
            enhancedCode: '5.7.1',
            message: expect.stringMatching(/^Virus found: Test\.EICAR/),
          },
        });
      }

      // A retry with the same request id on the other replica: the same answer, from the store, no second scan.
      const body = draft01Request('data', { clientPort: 41003 }, eicarInline());
      const first = await mta.hook(body, { requestId: 'retry-me-1' });
      const retry = await viaB.hook(body, { requestId: 'retry-me-1' });
      expect(retry.headers['x-hookgate-replay']).toBe('true');
      expect(retry.headers['x-hookgate-request-id']).toBe(first.headers['x-hookgate-request-id']);
      expect(retry.ops).toEqual(first.ops);

      // The scanner forgets the registration (404): the MTA registers again and resends the same request id.
      const keys = new Redis(redis.url);
      try {
        expect(await keys.del(`${prefix}:{d1:${reg.registrationId}}:reg`)).toBe(1);
      } finally {
        keys.disconnect();
      }
      const after404 = await mta.hook(body, { requestId: 'retry-me-1' });
      expect(after404.reregistered).toBe(1);
      expect(mta.registration!.registrationId).not.toBe(reg.registrationId);
      expect(after404.ops).toEqual(first.ops);
      expect(after404.headers['x-hookgate-replay']).toBe('true');

      // Status is served by either replica; statistics count the calls of this registration.
      viaB.registration = mta.registration;
      await expect
        .poll(
          async () =>
            ((await viaB.status()).body as { statistics: { invocations: { total: number } } }).statistics
              .invocations.total,
        )
        .toBe(1);
      expect((await viaB.status()).body).toMatchObject({
        registrationId: mta.registration!.registrationId,
        status: 'active',
        health: { status: 'healthy' },
      });

      // Another MTA identity cannot use this registration.
      const intruder = otherReplica(mta, a);
      intruder.options.token = TOKENS['mta-2'];
      expect((await intruder.hook(draft01Request('connect'), { requestId: 'x1' })).error?.code).toBe(
        'REGISTRATION_MISMATCH',
      );

      // Deregistered (grace 0 here): 410 on the other replica; the MTA may register again.
      const dereg = await mta.deregister();
      expect(dereg.body).toMatchObject({ status: 'deregistered' });
      const stale = otherReplica(mta, b);
      const raw410 = await stale.http('POST', stale.registration!.hookEndpoint, draft01Request('connect'), {
        'x-mta-hooks-registration': stale.registration!.registrationId,
        'x-mta-hooks-request-id': 'after-dereg',
      });
      expect([raw410.status, (raw410.body as { error: { code: string } }).error.code]).toEqual([
        410,
        'REGISTRATION_DEREGISTERED',
      ]);
      const recovered = await stale.hook(draft01Request('connect', { clientPort: 41004 }));
      expect([recovered.status, recovered.reregistered]).toEqual([204, 1]);
      await stale.deregister();
    });
  },
);

describe('draft-01 outbound stages through real processes', () => {
  it('a DSN that carries a virus is suppressed; a clean DSN and deliveries go on', async () => {
    const { a } = await deployment();
    const mta = new Draft01Client({
      baseUrl: a,
      token: TOKENS['mta-1'],
      serialization: 'cbor',
      inbound: null,
      outbound: { stages: ['delivery', 'defer', 'dsn'], properties: null },
    });
    clients.push(mta);
    await mta.register();
    const failed = [{ address: 'u3@gone.example', status: 'failed' as const, code: 550 }];
    const infected = await mta.hook(outboundRequest('dsn', failed, dsnMessage(eicarInline())));
    expect(infected.ops).toEqual({
      set: [{ path: '/envelope/to/0/status', value: 'failed-silent' }],
      delete: [{ path: '/rawMessage' }, { path: '/message' }],
    });
    // A clean DSN goes on (clamd's scanned header is added to it, nothing else).
    const cleanDsn = await mta.hook(outboundRequest('dsn', failed, dsnMessage(clean())));
    expect(cleanDsn.ops).toEqual({
      add: [
        {
          path: '/message/headers',
          value: { name: 'X-Virus-Scanned', value: 'hookgate (ClamAV)' },
          index: 0,
        },
      ],
    });
    const delivery = outboundRequest('delivery', [
      { address: 'u1@dest.example', status: 'delivered', code: 250 },
      ...failed,
    ]);
    expect((await mta.hook(delivery)).status).toBe(204);
    await mta.deregister();
  });
});
