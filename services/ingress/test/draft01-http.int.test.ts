/**
 * The draft-01 routes on a real Redis and the real pipeline, driven by the MTA-side test client over HTTP:
 * discovery, registration and its errors, hooks in JSON and CBOR, the error contract, idempotency (replays and
 * concurrent duplicates scan once), limits, lifecycle (expiry, deregistration, renewal), outbound stages.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { Scanner } from '@hookgate/scanner-sdk';
import { buildApp, type Draft01Settings } from '@hookgate/ingress';
import { DedupeStore, RegistrationStore } from '@hookgate/state-store';
import { DEFAULT_REPLIES } from '@hookgate/verdict';
import { startRedis, type RedisDaemon } from '../../../test/support/daemons.js';
import { startStack, policy, type Stack } from '../../../test/support/stack.js';
import { clean } from '../../../test/support/samples.js';
import {
  Draft01Client,
  applyOperations,
  decodeBody,
  draft01Request,
  draft01Transaction,
  dsnMessage,
  outboundRequest,
  headersOf,
  type ClientOptions,
  type Serialization,
} from '../../../test/support/draft01-client.js';

const TOKENS = [
  { identity: 'mta-1', token: 'tok-mta1-0123456789abcdef' },
  { identity: 'mta-2', token: 'tok-mta2-0123456789abcdef' },
  { identity: 'outsider', token: 'tok-outs-0123456789abcdef' },
  { identity: 'mta-3', token: 'tok-mta3-0123456789abcdef' },
];

let redis: RedisDaemon;
let stack: Stack;
let app: FastifyInstance;
let baseUrl: string;
let skew = 0;
let scans = 0;
let lastMessage: Buffer | undefined;
const gates = new Map<string, { wait: Promise<void>; open: () => void }>();

function gate(name: string): () => void {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  gates.set(name, { wait, open });
  return open;
}

/** A scanner that counts its scans, finds a marker "virus", and can be held at a gate by the test. */
const marker: Scanner = {
  id: 'marker',
  kind: 'av',
  stages: ['data', 'delivery', 'dsn'],
  async scan(input) {
    scans++;
    lastMessage = Buffer.from(input.message ?? new Uint8Array());
    const text = lastMessage.toString('latin1');
    const g = /GATE-(\w+)/.exec(text)?.[1];
    if (g) await gates.get(g)?.wait;
    if (text.includes('VIRUS-MARKER')) {
      return {
        status: 'fail',
        category: 'virus',
        action: 'reject',
        names: ['Test.Marker'],
        reply: { code: 550, enhanced: '5.7.1', text: 'Virus found: Test.Marker' },
      };
    }
    return {
      status: 'pass',
      modifications:
        input.request.stage === 'data' ? [{ type: 'addHeader', name: 'X-Test-Scanned', value: 'yes' }] : [],
    };
  },
};

const settings: Draft01Settings = {
  basePath: '/mta-hooks/v1',
  maxMessageSize: 64 * 1024,
  maxRegistrations: 20,
  registrationTtlMs: 60_000,
  defaultTimeoutMs: 30_000,
  maxInFlight: 4,
  maxInFlightPerRegistration: 2,
  registrationEnabled: true,
  allowedIdentities: ['mta-1', 'mta-2', 'mta-3'],
};

beforeAll(async () => {
  redis = await startRedis();
  stack = await startStack({
    redisUrl: redis.url,
    routes: [{ id: 'marker', stages: marker.stages, policy: policy('marker', true) }],
    workers: [marker],
    budgetMs: 5000,
  });
  app = buildApp({
    pipeline: stack.pipeline,
    auth: { tokens: TOKENS, basic: [] },
    stalwart: { quarantine: 'header', quarantineHeader: { name: 'X-Hookgate-Quarantine', value: 'yes' } },
    maxBodyBytes: 1024 * 1024,
    logger: pino({ level: 'silent' }),
    isReady: () => true,
    draft01: {
      registrations: new RegistrationStore(stack.redis, {
        prefix: stack.prefix,
        graceMs: 2_000,
        tombstoneMs: 600_000,
      }),
      dedupe: new DedupeStore(stack.redis, { prefix: stack.prefix, windowMs: 60_000 }),
      settings,
      replies: DEFAULT_REPLIES,
      now: () => Date.now() + skew,
    },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  baseUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
afterAll(async () => {
  for (const g of gates.values()) g.open();
  await app?.close();
  await stack?.close();
  await redis?.stop();
});
beforeEach(() => {
  skew = 0;
});

const clients: Draft01Client[] = [];
function client(o: Partial<ClientOptions> = {}): Draft01Client {
  const c = new Draft01Client({ baseUrl, token: TOKENS[0]!.token, backoffMs: 10, maxRetryAfterMs: 50, ...o });
  clients.push(c);
  return c;
}
afterAll(() => clients.forEach((c) => c.close()));

describe('discovery', () => {
  it('is public, JSON by default and CBOR when asked, and tells the truth', async () => {
    const json = await client({ token: '' }).http('GET', '/.well-known/mta-hooks');
    expect(json.status).toBe(200);
    expect(json.headers['content-type']).toMatch(/^application\/json/);
    expect(json.body).toMatchObject({
      version: '1.0',
      endpoints: {
        registration: '/mta-hooks/v1/registrations',
        deregistration: '/mta-hooks/v1/registrations/{registration_id}',
      },
      serialization: ['json', 'cbor'],
      capabilities: {
        inbound: { stages: ['connect', 'ehlo', 'mail', 'rcpt', 'data'] },
        outbound: { stages: ['delivery', 'defer', 'dsn'], actions: ['continue', 'cancel'] },
      },
      limits: { maxMessageSize: 65536, maxRegistrations: 20, timeoutMs: 30000 },
    });
    const cbor = await client({ token: '', serialization: 'cbor' }).http('GET', '/.well-known/mta-hooks');
    expect(cbor.headers['content-type']).toBe('application/cbor');
    expect(cbor.body).toEqual(json.body);
  });
});

describe('registration', () => {
  it('201 with Location, the draft shape, stages exactly as requested, properties intersected', async () => {
    const c = client({
      inbound: { stages: ['data', 'rcpt'], properties: ['/stage', '/action', '/rawMessage', '/vendor'] },
      outbound: { stages: ['dsn'], properties: null },
      timeoutMs: 20000,
    });
    const reg = await c.register();
    expect(reg.registrationId).toMatch(/^[A-Za-z0-9_:-]{1,255}$/);
    expect(reg.negotiated).toEqual({
      serialization: 'json',
      inbound: { stages: ['data', 'rcpt'], properties: ['/stage', '/action', '/rawMessage'] },
      outbound: {
        stages: ['dsn'],
        properties: [
          '/stage',
          '/action',
          '/timestamp',
          '/protocol',
          '/queue',
          '/server',
          '/envelope',
          '/message',
          '/rawMessage',
        ],
      },
    });
    expect(reg.hookEndpoint).toBe(`/mta-hooks/v1/hooks/${reg.registrationId}`);
    expect(reg.endpoints).toEqual({
      deregistration: `/mta-hooks/v1/registrations/${reg.registrationId}`,
      status: `/mta-hooks/v1/registrations/${reg.registrationId}/status`,
    });
    expect(Date.parse(reg.expiresAt!) - Date.parse(reg.createdAt)).toBe(60_000);
  });

  it('answers the draft codes and statuses', async () => {
    const post = (body: unknown, token = TOKENS[0]!.token) =>
      new Draft01Client({ baseUrl, token }).http('POST', '/mta-hooks/v1/registrations', body);
    const ok = { name: 'mx', serialization: 'json', inbound: { stages: ['data'], properties: null } };
    const cases: [unknown, number, string, string?][] = [
      [{ ...ok, inbound: null }, 400, 'NO_STAGES_REQUESTED'],
      [{ ...ok, inbound: { stages: ['dsn'], properties: null } }, 400, 'INVALID_STAGE'],
      [{ ...ok, serialization: 'xml' }, 400, 'CAPABILITY_MISMATCH'],
      [{ ...ok, name: 5 }, 400, 'INVALID_REQUEST'],
      [{ ...ok, expiresAt: '2001-01-01T00:00:00Z' }, 400, 'INVALID_REQUEST'],
      [{ ...ok, filter: { operator: 'AND' } }, 400, 'FILTER_INVALID'],
      [{ ...ok, filter: { hasKeyword: '$seen' } }, 422, 'UNSUPPORTED_FILTER'],
      [ok, 401, 'INVALID_CREDENTIALS', 'tok-wrong-0123456789abcdef'],
      [ok, 401, 'AUTHENTICATION_REQUIRED', ''],
      [ok, 403, 'REGISTRATION_DENIED', TOKENS[2]!.token],
    ];
    for (const [body, status, code, token] of cases) {
      const res = await post(body, token);
      expect(
        [res.status, (res.body as { error: { code: string } }).error.code],
        JSON.stringify(body),
      ).toEqual([status, code]);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
    }
  });

  it('409 REGISTRATION_LIMIT_REACHED past maxRegistrations for an identity', async () => {
    const c = client({ token: TOKENS[3]!.token });
    for (let i = 0; i < settings.maxRegistrations; i++) await c.register();
    await expect(c.register()).rejects.toMatchObject({
      answer: { status: 409, body: { error: { code: 'REGISTRATION_LIMIT_REACHED' } } },
    });
    // Deregistering frees a slot.
    await c.deregister();
    await expect(c.register()).resolves.toBeDefined();
  });
});

describe('hooks', () => {
  for (const serialization of ['json', 'cbor'] as Serialization[]) {
    it(`a whole transaction in ${serialization}: 204 until data, then header add; a virus is rejected`, async () => {
      const c = client({ serialization });
      await c.register();
      const stages = draft01Transaction(
        {
          clientPort: serialization === 'json' ? 50001 : 50002,
          rcpts: ['bob@example.net', 'carol@example.net'],
        },
        clean(),
      );
      const results = [];
      for (const body of stages) results.push(await c.hook(body));
      expect(results.map((r) => r.status)).toEqual([204, 204, 204, 204, 204, 200]);
      const data = results.at(-1)!;
      expect(data.headers['content-type']).toBe(
        serialization === 'cbor' ? 'application/cbor' : 'application/json; charset=utf-8',
      );
      expect(data.ops).toEqual({
        add: [{ path: '/message/headers', value: { name: 'X-Test-Scanned', value: 'yes' }, index: 0 }],
      });
      expect(data.headers['x-hookgate-transaction-id']).toMatch(/\.1$/);

      const virus = await c.hook(
        draft01Request('data', { clientPort: 50003 }, Buffer.from('Subject: x\r\n\r\nVIRUS-MARKER\r\n')),
      );
      expect(virus.ops).toEqual({
        set: [
          { path: '/action', value: 'reject' },
          {
            path: '/response',
            value: { code: 550, enhancedCode: '5.7.1', message: 'Virus found: Test.Marker' },
          },
        ],
      });
    });
  }

  it('the error contract: missing request id, unknown registration, mismatch, too large, malformed, media type', async () => {
    const c = client();
    const reg = await c.register();
    const other = client({ token: TOKENS[1]!.token });
    await other.register();
    const h = (extra: Record<string, string>) => ({
      'x-mta-hooks-registration': reg.registrationId,
      ...extra,
    });
    const post = (cl: Draft01Client, path: string, body: unknown, headers: Record<string, string>) =>
      cl.http('POST', path, body, headers);
    const err = (r: { status: number; body?: unknown }) => [
      r.status,
      (r.body as { error?: { code: string } } | undefined)?.error?.code,
    ];

    expect(err(await post(c, reg.hookEndpoint, draft01Request('connect'), h({})))).toEqual([
      400,
      'MISSING_REQUEST_ID',
    ]);
    expect(
      err(
        await post(
          c,
          reg.hookEndpoint,
          draft01Request('connect'),
          h({ 'x-mta-hooks-request-id': 'bad id!' }),
        ),
      ),
    ).toEqual([400, 'INVALID_REQUEST']);
    expect(
      err(
        await post(c, '/mta-hooks/v1/hooks/reg-nope', draft01Request('connect'), {
          'x-mta-hooks-registration': 'reg-nope',
          'x-mta-hooks-request-id': 'r1',
        }),
      ),
    ).toEqual([404, 'REGISTRATION_NOT_FOUND']);
    expect(
      err(
        await post(other, reg.hookEndpoint, draft01Request('connect'), h({ 'x-mta-hooks-request-id': 'r2' })),
      ),
    ).toEqual([403, 'REGISTRATION_MISMATCH']);
    expect(err(await other.http('GET', reg.endpoints.status))).toEqual([403, 'REGISTRATION_MISMATCH']);
    expect(
      err(
        await post(
          c,
          reg.hookEndpoint,
          draft01Request('data', {}, Buffer.alloc(70 * 1024, 'a')),
          h({ 'x-mta-hooks-request-id': 'r3' }),
        ),
      ),
    ).toEqual([413, 'REQUEST_TOO_LARGE']);
    expect(
      err(
        await post(
          c,
          reg.hookEndpoint,
          { stage: 'data', envelope: { to: 'nobody' } },
          h({ 'x-mta-hooks-request-id': 'r4' }),
        ),
      ),
    ).toEqual([400, 'INVALID_REQUEST']);
    expect(
      err(await post(c, reg.hookEndpoint, { stage: 'dsn' }, h({ 'x-mta-hooks-request-id': 'r5' }))),
    ).toEqual([400, 'INVALID_STAGE']);
    expect(
      err(
        await post(
          c,
          reg.hookEndpoint,
          { stage: 'mail', action: 'continue' },
          h({ 'x-mta-hooks-request-id': 'r6' }),
        ),
      ),
    ).toEqual([400, 'INVALID_ACTION']);

    const raw = async (type: string, payload: Buffer) => {
      const res = await fetch(`${baseUrl}${reg.hookEndpoint}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TOKENS[0]!.token}`,
          'content-type': type,
          ...h({ 'x-mta-hooks-request-id': 'r7' }),
        },
        body: payload,
      });
      const decoded = decodeBody(
        Buffer.from(await res.arrayBuffer()),
        res.headers.get('content-type') ?? undefined,
      ) as { error: { code: string } };
      return [res.status, decoded.error.code, res.headers.get('content-type')];
    };
    expect(await raw('application/json', Buffer.from('{"stage":'))).toEqual([
      400,
      'INVALID_REQUEST',
      'application/json; charset=utf-8',
    ]);
    expect(await raw('application/cbor', Buffer.from([0xa2, 0x01]))).toEqual([
      400,
      'INVALID_REQUEST',
      'application/cbor',
    ]);
    expect((await raw('text/plain', Buffer.from('hi'))).slice(0, 2)).toEqual([415, 'INVALID_REQUEST']);
    // The legacy route keeps its own error bodies.
    const legacy = await fetch(`${baseUrl}/hooks/stalwart`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS[0]!.token}`, 'content-type': 'application/json' },
      body: '{',
    });
    expect(((await legacy.json()) as { error: { code: string } }).error.code).toBe(
      'HOOKGATE_ERR_REQUEST_INVALID',
    );
  });

  it('a retry with the same request id gets the same answer without a second scan', async () => {
    const c = client();
    await c.register();
    const body = draft01Request('data', { clientPort: 50010 }, clean());
    const first = await c.hook(body, { requestId: 'same-id-1' });
    const before = scans;
    const second = await c.hook(body, { requestId: 'same-id-1' });
    expect(scans).toBe(before);
    expect(second.headers['x-hookgate-replay']).toBe('true');
    expect(second.headers['x-hookgate-request-id']).toBe(first.headers['x-hookgate-request-id']);
    expect(second.ops).toEqual(first.ops);
  });

  it('a concurrent duplicate waits for the first answer: one scan, two identical answers', async () => {
    const c = client();
    await c.register();
    const open = gate('dup');
    const body = draft01Request(
      'data',
      { clientPort: 50011 },
      Buffer.from('Subject: x\r\n\r\nGATE-dup VIRUS-MARKER\r\n'),
    );
    const before = scans;
    const first = c.hook(body, { requestId: 'dup-1' });
    await expect.poll(() => scans).toBe(before + 1);
    const second = c.hook(body, { requestId: 'dup-1' });
    open();
    const [a, b] = await Promise.all([first, second]);
    expect(scans).toBe(before + 1);
    expect(b.ops).toEqual(a.ops);
    expect(a.ops?.set?.[0]).toEqual({ path: '/action', value: 'reject' });
  });

  it('overload: 429 RATE_LIMITED per registration, 503 per instance, both with Retry-After', async () => {
    const c = client({ maxRetries: 0 });
    const d = client({ maxRetries: 0 });
    await Promise.all([c.register(), d.register()]);
    const open = gate('busy');
    const busy = (port: number) =>
      draft01Request('data', { clientPort: port }, Buffer.from('Subject: x\r\n\r\nGATE-busy\r\n'));
    const before = scans;
    const held = [c.hook(busy(50020)), c.hook(busy(50021)), d.hook(busy(50022))];
    await expect.poll(() => scans).toBe(before + 3);
    const limited = await c.hook(busy(50023));
    expect([limited.status, limited.error?.code, limited.headers['retry-after']]).toEqual([
      429,
      'RATE_LIMITED',
      '1',
    ]);
    held.push(d.hook(busy(50024)));
    await expect.poll(() => scans).toBe(before + 4);
    const overloaded = await d.hook(busy(50025));
    expect([overloaded.status, overloaded.error?.code, overloaded.headers['retry-after']]).toEqual([
      503,
      'SCANNER_UNAVAILABLE',
      '1',
    ]);
    open();
    expect((await Promise.all(held)).map((r) => r.status)).toEqual([200, 200, 200, 200]);
    // A retrying client gets through once capacity is back.
    expect((await client({ backoffMs: 10 }).hook(busy(50026))).status).toBe(200);
  });
});

describe('lifecycle', () => {
  it('status shows statistics and health; deregistration answers 200, then 410 after the grace period', async () => {
    const c = client();
    const reg = await c.register();
    await c.hook(draft01Request('connect', { clientPort: 50030 }));
    expect((await c.hook({ stage: 'dsn' })).error?.code).toBe('INVALID_STAGE');
    await expect
      .poll(
        async () =>
          ((await c.status()).body as { statistics: { invocations: { total: number } } }).statistics
            .invocations.total,
      )
      .toBe(2);
    const st = (await c.status()).body as Record<string, unknown>;
    expect(st).toMatchObject({
      registrationId: reg.registrationId,
      status: 'active',
      statistics: { invocations: { total: 2, last24h: 2 }, errors: { total: 1 } },
      health: { status: 'degraded', consecutiveFailures: 1 },
    });
    expect(typeof st.lastInvocation).toBe('string');

    const del = await c.deregister();
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ registrationId: reg.registrationId, status: 'deregistered' });
    expect((await c.deregister()).body).toEqual(del.body);
    // In flight or just after: still answered.
    const inGrace = await c.http('POST', reg.hookEndpoint, draft01Request('connect'), {
      'x-mta-hooks-registration': reg.registrationId,
      'x-mta-hooks-request-id': 'g1',
    });
    expect(inGrace.status).toBe(204);
    skew = 2_001;
    const gone = await c.http('POST', reg.hookEndpoint, draft01Request('connect'), {
      'x-mta-hooks-registration': reg.registrationId,
      'x-mta-hooks-request-id': 'g2',
    });
    expect([gone.status, (gone.body as { error: { code: string } }).error.code]).toEqual([
      410,
      'REGISTRATION_DEREGISTERED',
    ]);
    expect(((await c.status()).body as { status: string }).status).toBe('deregistered');
  });

  it('after expiry the MTA gets 404, registers again and resends the same request id: the stored answer comes back', async () => {
    const c = client();
    const old = await c.register();
    const body = draft01Request('data', { clientPort: 50040 }, clean());
    const first = await c.hook(body, { requestId: 'across-reg-1' });
    expect(first.reregistered).toBe(0);
    skew = 60_000 + 1_000; // inside the expiry grace
    expect((await c.hook(draft01Request('connect', { clientPort: 50041 }))).status).toBe(204);
    skew = 60_000 + 2_000;
    const before = scans;
    const again = await c.hook(body, { requestId: 'across-reg-1' });
    expect(again.reregistered).toBe(1);
    expect(c.registration!.registrationId).not.toBe(old.registrationId);
    expect(again.headers['x-hookgate-replay']).toBe('true');
    expect(again.ops).toEqual(first.ops);
    expect(scans).toBe(before);
  });

  it('explicit renewal: the old id keeps working for the grace period only', async () => {
    const c = client();
    const old = await c.register();
    const renewed = await c.register({ 'x-mta-hooks-registration': old.registrationId });
    expect(renewed.registrationId).not.toBe(old.registrationId);
    const call = (id: string, rid: string) =>
      c.http('POST', `/mta-hooks/v1/hooks/${id}`, draft01Request('connect'), {
        'x-mta-hooks-registration': id,
        'x-mta-hooks-request-id': rid,
      });
    expect((await call(old.registrationId, 'ren-1')).status).toBe(204);
    skew = 2_001;
    expect((await call(old.registrationId, 'ren-2')).status).toBe(404);
    expect((await call(renewed.registrationId, 'ren-3')).status).toBe(204);
  });
});

describe('outbound', () => {
  it('dsn: malware in the DSN suppresses it; a clean DSN goes on; delivery continues', async () => {
    const c = client({
      inbound: null,
      outbound: { stages: ['delivery', 'defer', 'dsn'], properties: null },
      serialization: 'cbor',
    });
    await c.register();
    const failed = [{ address: 'u3@gone.example', status: 'failed' as const, code: 550 }];
    const bad = outboundRequest(
      'dsn',
      failed,
      dsnMessage({ headers: [['Subject', ' x\r\n']], body: 'VIRUS-MARKER\r\n' }),
    );
    const r = await c.hook(bad);
    expect(r.ops).toEqual({
      set: [{ path: '/envelope/to/0/status', value: 'failed-silent' }],
      delete: [{ path: '/rawMessage' }, { path: '/message' }],
    });
    const applied = applyOperations(bad, r.ops, 'cbor');
    expect(applied.rawMessage).toBeUndefined();
    const good = await c.hook(outboundRequest('dsn', failed, dsnMessage(clean())));
    expect(good.status).toBe(204);
    const delivery = await c.hook(
      outboundRequest(
        'delivery',
        [{ address: 'u1@dest.example', status: 'delivered', code: 250 }],
        Buffer.from('Subject: x\r\n\r\nhi\r\n'),
      ),
    );
    expect(delivery.status).toBe(204);
  });

  it('rawMessage in CBOR keeps every byte; header adds are applied where the MTA expects them', async () => {
    const c = client({ serialization: 'cbor' });
    await c.register();
    const raw = Buffer.concat([
      Buffer.from('From: a@b\r\nSubject: bin\r\n\r\n'),
      Buffer.from([0, 0xff, 0x80, 0x0d, 0x0a]),
    ]);
    const body = draft01Request('data', { clientPort: 50050 }, raw);
    const r = await c.hook(body);
    const applied = applyOperations({ message: { headers: headersOf(raw) } }, r.ops, 'cbor');
    expect((applied.message as { headers: { name: string }[] }).headers.map((x) => x.name)).toEqual([
      'X-Test-Scanned',
      'From',
      'Subject',
    ]);
    expect(Buffer.compare(lastMessage!, raw)).toBe(0);
  });
});
