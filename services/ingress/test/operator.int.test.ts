/**
 * Issue 16 over HTTP: a virus quarantined through the Stalwart endpoint is refused naming its item; the admin API
 * lists, shows, releases and deletes it with admin tokens only, with clear errors (400, 404, 409, 410, 502, 503);
 * the recent-verdicts feed, the queue-id lookup and the pools view; the console's files are public and locked down.
 * Real Redis, clamd and BullMQ. Delivery to a real Postfix is in libs/quarantine and test/system/operator-console.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ERR } from '@hookgate/contracts';
import { buildApp } from '@hookgate/ingress';
import { createRedisClient, connectRedis, closeRedis, type RedisClient } from '@hookgate/redis';
import { clamavScanner } from '@hookgate/scanner-av';
import { Quarantine, RedisQuarantineStore, quarantineKeeper, newId, type Relay } from '@hookgate/quarantine';
import { startRedis, startClamd, type RedisDaemon, type ClamdDaemon } from '../../../test/support/daemons.js';
import { startStack, policy, silentLog, type Stack } from '../../../test/support/stack.js';
import { stalwartRequest } from '../../../test/support/stalwart.js';
import { clean, eicarInline } from '../../../test/support/samples.js';

let redis: RedisDaemon;
let clamd: ClamdDaemon;
let stack: Stack;
let app: FastifyInstance;
let quarantine: Quarantine;
let qStore: RedisQuarantineStore;
let qClient: RedisClient;
const relayed: { to: string[]; bytes: Buffer }[] = [];
let relayDown = false;

const MTA = { authorization: 'Bearer mta-token-0123456789abcdef' };
const ADMIN = { authorization: 'Bearer admin-token-0123456789abcdef' };
const HOUR = 3_600_000;

const relay: Relay = {
  target: 'smtp://relay.test:25',
  async deliver(env, bytes) {
    if (relayDown) throw Object.assign(new Error('connect ECONNREFUSED'), { code: ERR.RELAY_FAILED });
    relayed.push({ to: env.to, bytes: Buffer.from(bytes) });
    return { reply: '250 2.0.0 Ok: queued as 4ABC', accepted: env.to, refused: [] };
  },
};

beforeAll(async () => {
  [redis, clamd] = await Promise.all([startRedis(), startClamd()]);
  const prefix = `op${randomBytes(3).toString('hex')}`;
  qClient = createRedisClient(
    { mode: 'standalone', url: redis.url },
    { role: 'command', commandTimeoutMs: 5000 },
  );
  await connectRedis(qClient);
  qStore = new RedisQuarantineStore(qClient, { prefix, maxBytes: 1 << 22 });
  quarantine = new Quarantine({ store: qStore, retentionMs: 24 * HOUR, relay });
  stack = await startStack({
    redisUrl: redis.url,
    prefix,
    routes: [{ id: 'clamav', stages: ['data'], policy: policy('clamav', true) }],
    workers: [
      clamavScanner({
        endpoint: clamd.tcp,
        stages: ['data'],
        maxStreamBytes: 1 << 24,
        chunkBytes: 65536,
        action: 'quarantine',
        reply: { code: 550, enhanced: '5.7.1', text: 'Virus found: {virus}' },
        header: null,
      }),
    ],
    feedEntries: 100,
    indexQueueIds: true,
    quarantine: quarantineKeeper(quarantine, {
      answers: { stalwart: 'reject' },
      reply: { code: 550, enhanced: '5.7.1', text: 'Message quarantined as {id}' },
    }),
  });
  app = buildApp({
    pipeline: stack.pipeline,
    auth: { tokens: [{ identity: 'mta-1', token: 'mta-token-0123456789abcdef' }], basic: [] },
    stalwart: { quarantine: 'reject', quarantineHeader: { name: 'X-Hookgate-Quarantine', value: 'yes' } },
    maxBodyBytes: 1 << 20,
    logger: silentLog,
    isReady: () => true,
    admin: { tokens: [{ identity: 'ops-alice', token: 'admin-token-0123456789abcdef' }], store: stack.store },
    operator: {
      store: stack.store,
      quarantine,
      consolePath: '/console',
      pools: async () => [
        { id: 'clamav', placement: 'queue', stages: ['data'], required: true, workers: 1, queueDepth: 0 },
      ],
    },
  });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await stack?.close();
  await closeRedis(qClient);
  await Promise.all([redis?.stop(), clamd?.stop()]);
});

const get = (url: string, headers = ADMIN) => app.inject({ method: 'GET', url, headers });

/** Sends a virus through the Stalwart endpoint; returns the quarantine id named in the reply. */
async function quarantineOne(
  clientPort: number,
  queueId = `Q${randomBytes(4).toString('hex').toUpperCase()}`,
): Promise<{ id: string; queueId: string; txnId: string }> {
  const res = await app.inject({
    method: 'POST',
    url: '/hooks/stalwart',
    headers: { ...MTA, 'content-type': 'application/json' },
    payload: stalwartRequest(
      'data',
      { clientPort, queueId, rcpts: ['bob@example.net', 'carol@example.net'] },
      eicarInline(),
    ),
  });
  const body = res.json();
  expect(body, JSON.stringify(body)).toMatchObject({
    action: 'reject',
    response: { status: 550, enhanced_status: '5.7.1' },
  });
  const id = /^Message quarantined as ([0-9a-z]{19})$/.exec(body.response.message)?.[1];
  expect(id).toBeDefined();
  return { id: id!, queueId, txnId: String(res.headers['x-hookgate-transaction-id']) };
}

describe('quarantine through the admin API', () => {
  it('a virus is refused with 550 5.7.1 naming the item, which the admin API lists and shows (no body unless asked)', async () => {
    const { id, txnId } = await quarantineOne(51001);
    const list = await get('/admin/quarantine');
    expect(list.statusCode).toBe(200);
    const page = list.json();
    expect(page.items.map((i: { id: string }) => i.id)).toContain(id);
    expect(page).toMatchObject({
      store: 'redis',
      relay: 'smtp://relay.test:25',
      usage: { held: expect.any(Number), maxBytes: 1 << 22 },
    });
    const item = page.items.find((i: { id: string }) => i.id === id);
    expect(item).toMatchObject({
      status: 'held',
      from: 'alice@example.org',
      to: ['bob@example.net', 'carol@example.net'],
      txnId,
      protocol: 'stalwart',
      subject: expect.any(String),
    });
    expect(item.reasons.join()).toMatch(/clamav:virus:/);

    const show = await get(`/admin/quarantine/${id}`);
    expect(show.statusCode).toBe(200);
    const view = show.json();
    expect(view.message).toBeUndefined();
    expect(view.headers.map((h: { name: string }) => h.name)).toContain('Subject');
    expect(view.record.verdict).toMatchObject({ action: 'quarantine', decidedBy: ['clamav'] });
    const withBody = (await get(`/admin/quarantine/${id}?body=1`)).json();
    expect(Buffer.from(withBody.message.base64, 'base64').toString()).toContain('EICAR');
    expect(
      (await get(`/admin/quarantine/${id}`))
        .json()
        .audit.map((a: { who: string; what: string }) => `${a.who}:${a.what}`),
    ).toEqual(['hookgate:keep', 'ops-alice:view-body']);
  });

  it('filters by recipient, sender, reason and time; bad filters are 400 with the reason', async () => {
    const { id } = await quarantineOne(51002);
    expect(
      (await get('/admin/quarantine?recipient=CAROL@')).json().items.map((i: { id: string }) => i.id),
    ).toContain(id);
    expect((await get('/admin/quarantine?recipient=nobody@')).json().items).toEqual([]);
    expect(
      (await get('/admin/quarantine?sender=alice@example.org&reason=eicar'))
        .json()
        .items.map((i: { id: string }) => i.id),
    ).toContain(id);
    const since = new Date(Date.now() + HOUR).toISOString();
    expect((await get(`/admin/quarantine?since=${encodeURIComponent(since)}`)).json().items).toEqual([]);
    for (const [q, why] of [
      ['status=lost', /status must be one of/],
      ['since=yesterday', /since must be epoch milliseconds or an ISO 8601 date/],
      ['limit=0', /limit must be/],
      ['cursor=x', /cursor/],
    ] as const) {
      const r = await get(`/admin/quarantine?${q}`);
      expect(r.statusCode).toBe(400);
      expect(r.json().error).toMatchObject({
        code: ERR.REQUEST_INVALID,
        message: expect.stringMatching(why),
      });
    }
  });

  it('release delivers the kept bytes once (200), a second release is 409 naming who; every action is audited', async () => {
    const { id } = await quarantineOne(51003);
    const kept = Buffer.from((await get(`/admin/quarantine/${id}?body=1`)).json().message.base64, 'base64');
    const r = await app.inject({ method: 'POST', url: `/admin/quarantine/${id}/release`, headers: ADMIN });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({
      id,
      status: 'released',
      relay: 'smtp://relay.test:25',
      reply: '250 2.0.0 Ok: queued as 4ABC',
      accepted: ['bob@example.net', 'carol@example.net'],
    });
    expect(relayed.at(-1)!.bytes.equals(kept)).toBe(true);
    const again = await app.inject({
      method: 'POST',
      url: `/admin/quarantine/${id}/release`,
      headers: ADMIN,
    });
    expect(again.statusCode).toBe(409);
    expect(again.json().error).toMatchObject({
      code: ERR.QUARANTINE_CONFLICT,
      message: expect.stringMatching(/already released by ops-alice/),
    });
    const audit = (await get('/admin/audit?limit=5')).json().entries;
    expect(audit[0]).toMatchObject({
      who: 'ops-alice',
      what: 'release',
      id,
      detail: expect.stringContaining('queued as 4ABC'),
    });
  });

  it('a relay that is down is 502 and the item stays held', async () => {
    const { id } = await quarantineOne(51004);
    relayDown = true;
    try {
      const r = await app.inject({ method: 'POST', url: `/admin/quarantine/${id}/release`, headers: ADMIN });
      expect(r.statusCode).toBe(502);
      expect(r.json().error.code).toBe(ERR.RELAY_FAILED);
    } finally {
      relayDown = false;
    }
    expect((await get(`/admin/quarantine/${id}`)).json().status).toBe('held');
  });

  it('delete is 200 then 410; bad ids 400, unknown 404, expired 410', async () => {
    const { id } = await quarantineOne(51005);
    expect(
      (await app.inject({ method: 'DELETE', url: `/admin/quarantine/${id}`, headers: ADMIN })).json(),
    ).toEqual({ id, status: 'deleted' });
    const twice = await app.inject({ method: 'DELETE', url: `/admin/quarantine/${id}`, headers: ADMIN });
    expect(twice.statusCode).toBe(410);
    expect(
      (await app.inject({ method: 'POST', url: `/admin/quarantine/${id}/release`, headers: ADMIN }))
        .statusCode,
    ).toBe(410);
    expect((await get(`/admin/quarantine/${id}`)).json()).toMatchObject({
      status: 'deleted',
      outcome: { what: 'deleted', by: 'ops-alice' },
    });

    const bad = await get('/admin/quarantine/..%2F..%2Fetc');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toMatch(/19 lower-case letters and digits/);
    const unknown = await get(`/admin/quarantine/${newId(Date.now() - 1000)}`);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe(ERR.NOT_FOUND);
    // Kept two days ago with a one-day retention: the store let it go; the id tells why.
    const old = new Quarantine({ store: qStore, retentionMs: 24 * HOUR, now: () => Date.now() - 48 * HOUR });
    const oldId = await old.keep(
      {
        v: 1,
        protocol: 'stalwart',
        stage: 'data',
        sessionId: 's',
        txnId: 's.1',
        reqId: 'r',
        client: { ip: '192.0.2.1' },
        receivedAt: 1,
        deadlineAt: 2,
      },
      Buffer.from('Subject: x\r\n\r\nx\r\n'),
      (await get(`/admin/quarantine/${id}`)).json().record,
    );
    const expired = await app.inject({
      method: 'POST',
      url: `/admin/quarantine/${oldId}/release`,
      headers: ADMIN,
    });
    expect(expired.statusCode).toBe(410);
    expect(expired.json().error).toMatchObject({
      code: ERR.QUARANTINE_GONE,
      message: expect.stringMatching(/expired/),
    });
  });

  it('takes admin tokens only: no token or an MTA token is 401', async () => {
    for (const headers of [{}, MTA]) {
      for (const [method, url] of [
        ['GET', '/admin/quarantine'],
        ['GET', '/admin/verdicts'],
        ['POST', `/admin/quarantine/${newId(Date.now())}/release`],
        ['DELETE', `/admin/quarantine/${newId(Date.now())}`],
        ['GET', '/admin/pools'],
      ] as const) {
        expect((await app.inject({ method, url, headers })).statusCode).toBe(401);
      }
    }
  });
});

describe('console data', () => {
  it('recent verdicts: content-free entries, newest first, then only newer ones after an id', async () => {
    const { id, txnId } = await quarantineOne(51006);
    const first = (await get('/admin/verdicts?count=5')).json().entries;
    expect(first[0]).toMatchObject({
      stage: 'data',
      protocol: 'stalwart',
      action: 'quarantine',
      quarantineId: id,
      txnId,
      scanners: [{ id: 'clamav', status: 'fail' }],
    });
    expect(JSON.stringify(first)).not.toMatch(/alice@|bob@|EICAR-STANDARD/);
    expect((await get(`/admin/verdicts?after=${first[0].id}`)).json().entries).toEqual([]);
    await app.inject({
      method: 'POST',
      url: '/hooks/stalwart',
      headers: { ...MTA, 'content-type': 'application/json' },
      payload: stalwartRequest('data', { clientPort: 51007 }, clean()),
    });
    expect(
      (await get(`/admin/verdicts?after=${first[0].id}`))
        .json()
        .entries.map((e: { action: string }) => e.action),
    ).toEqual(['accept']);
    expect((await get('/admin/verdicts?after=bogus')).statusCode).toBe(400);
  });

  it('looks a transaction up by the MTA queue id', async () => {
    const { queueId, txnId } = await quarantineOne(51008);
    const r = await get(`/admin/transactions?queueId=${queueId}`);
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({
      queueId,
      txnId,
      stages: [{ stage: 'data', record: { verdict: { action: 'quarantine' } } }],
    });
    expect((await get('/admin/transactions?queueId=NOPE')).statusCode).toBe(404);
  });

  it('pools: workers and queue depth with error and timeout rates from the recent verdicts', async () => {
    const r = (await get('/admin/pools')).json();
    expect(r.window.entries).toBeGreaterThan(0);
    expect(r.scanners).toEqual([
      expect.objectContaining({
        id: 'clamav',
        workers: 1,
        queueDepth: 0,
        recent: expect.objectContaining({
          errors: 0,
          timeouts: 0,
          errorRate: 0,
          results: expect.any(Number),
          p50Ms: expect.any(Number),
        }),
      }),
    ]);
  });

  it('serves the console without credentials, locked down by CSP; it holds no data', async () => {
    const redirect = await app.inject({ method: 'GET', url: '/console' });
    expect(redirect.statusCode).toBe(302);
    expect(redirect.headers.location).toBe('/console/');
    const page = await app.inject({ method: 'GET', url: '/console/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self'.*frame-ancestors 'none'/);
    expect(page.body).toContain('<script src="console.js" defer></script>');
    expect((await app.inject({ method: 'GET', url: '/console/console.js' })).headers['content-type']).toMatch(
      /^text\/javascript/,
    );
    expect((await app.inject({ method: 'GET', url: '/console/..%2Fpackage.json' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/console/secret.txt' })).statusCode).toBe(404);
  });
});
