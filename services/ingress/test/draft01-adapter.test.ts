import { describe, expect, it } from 'vitest';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import {
  Draft01HookRequest,
  Draft01RegistrationRequest,
  type Draft01Registration,
  type Modification,
  type Verdict,
} from '@hookgate/contracts';
import {
  checkFilter,
  filterOps,
  fromDraft01,
  negotiate,
  parseHeaderSection,
  rebuildRaw,
  toDraft01,
  writablePaths,
  type Draft01Answer,
  type RequestView,
} from '@hookgate/ingress';
import { DEFAULT_REPLIES } from '@hookgate/verdict';
import {
  applyOperations,
  draft01Request,
  outboundRequest,
  headersOf,
  BRIDGE_PROPERTIES,
} from '../../../test/support/draft01-client.js';
import { clean } from '../../../test/support/samples.js';

const hookSchema = TypeCompiler.Compile(Draft01HookRequest);
const regSchema = TypeCompiler.Compile(Draft01RegistrationRequest);

const reg = (over: Partial<Draft01Registration> = {}): Draft01Registration => ({
  v: 1,
  id: 'reg-1',
  identity: 'mta-1',
  name: 'mx1',
  version: null,
  status: 'active',
  createdAt: 0,
  expiresAt: 1e15,
  serialization: 'json',
  timeoutMs: 20_000,
  inbound: { stages: ['connect', 'ehlo', 'mail', 'rcpt', 'data'], properties: [...BRIDGE_PROPERTIES] },
  outbound: {
    stages: ['delivery', 'defer', 'dsn'],
    properties: ['/stage', '/action', '/envelope', '/message', '/rawMessage'],
  },
  metadata: null,
  ...over,
});

const verdict = (action: Verdict['action'], extra: Partial<Verdict> = {}): Verdict => ({
  v: 1,
  action,
  modifications: [],
  reasons: [],
  decidedBy: ['test'],
  partial: false,
  ...extra,
});

/** A request as the wire delivers it (rawMessage Base64 in JSON), parsed like the route does. */
function wire(body: Record<string, unknown>): Draft01HookRequest {
  const json = JSON.parse(
    JSON.stringify(body, (_k, v: unknown) =>
      v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer'
        ? Buffer.from((v as { data: number[] }).data).toString('base64')
        : v,
    ),
  ) as unknown;
  expect(hookSchema.Errors(json).First()?.message).toBeUndefined();
  return json as Draft01HookRequest;
}

function map(body: Record<string, unknown>, r = reg()) {
  const m = fromDraft01(wire(body), {
    registration: r,
    identity: r.identity,
    requestId: 'req-1',
    defaultTimeoutMs: 30_000,
  });
  if (!m.ok) throw new Error(`${m.code}: ${m.message}`);
  return m.value;
}

/** The operations of a 200 answer (fails the test otherwise). */
function opsOf(a: Draft01Answer): never {
  if (a.status !== 200) throw new Error(`expected 200, got ${a.status}`);
  return a.ops as never;
}

function answer(v: Verdict, view: RequestView, r = reg()) {
  const negotiated = (view.direction === 'inbound' ? r.inbound : r.outbound)!;
  return toDraft01(v, {
    view,
    writable: writablePaths(negotiated, view.direction),
    replies: DEFAULT_REPLIES,
  });
}

describe('draft-01 negotiation', () => {
  const base = { name: 'mx1', serialization: 'json' };
  it('returns stages exactly as requested and properties as the intersection, in request order', () => {
    const req = {
      ...base,
      inbound: {
        stages: ['data', 'rcpt'],
        properties: ['/stage', '/action', '/rawMessage', '/x-vendor', '/envelope/from'],
      },
      outbound: null,
    };
    expect(regSchema.Check(req)).toBe(true);
    const n = negotiate(req);
    expect(n).toEqual({
      ok: true,
      value: {
        serialization: 'json',
        inbound: {
          stages: ['data', 'rcpt'],
          properties: ['/stage', '/action', '/rawMessage', '/envelope/from'],
        },
        outbound: null,
      },
    });
  });

  it('gives every supported property for properties: null', () => {
    const n = negotiate({ ...base, outbound: { stages: ['dsn'], properties: null } });
    expect(n.ok && n.value.outbound?.properties).toEqual([
      '/stage',
      '/action',
      '/timestamp',
      '/protocol',
      '/queue',
      '/server',
      '/envelope',
      '/message',
      '/rawMessage',
    ]);
  });

  it.each([
    [{ ...base }, 'NO_STAGES_REQUESTED'],
    [{ ...base, inbound: { stages: [], properties: null } }, 'NO_STAGES_REQUESTED'],
    [{ ...base, inbound: { stages: ['data', 'auth'], properties: null } }, 'INVALID_STAGE'],
    [{ ...base, outbound: { stages: ['data'], properties: null } }, 'INVALID_STAGE'],
    [
      { ...base, serialization: 'xml', inbound: { stages: ['data'], properties: null } },
      'CAPABILITY_MISMATCH',
    ],
    [
      { ...base, inbound: { stages: ['data'], properties: ['/action', '/rawMessage'] } },
      'CAPABILITY_MISMATCH',
    ],
    [{ ...base, inbound: { stages: ['data'], properties: ['stage'] } }, 'INVALID_REQUEST'],
    [{ ...base, inbound: { stages: ['data'], properties: null, actions: ['explode'] } }, 'INVALID_ACTION'],
    [
      { ...base, inbound: { stages: ['data'], properties: null }, filter: { inMailbox: 'x' } },
      'UNSUPPORTED_FILTER',
    ],
    [
      {
        ...base,
        inbound: { stages: ['data'], properties: null },
        filter: { operator: 'XOR', conditions: [{}] },
      },
      'FILTER_INVALID',
    ],
  ])('refuses %j with %s', (req, code) => {
    const n = negotiate(req as never);
    expect(n.ok ? 'ok' : n.code).toBe(code);
  });

  it('understands the draft filter conditions, nested operators included', () => {
    expect(
      checkFilter({ operator: 'NOT', conditions: [{ envelopeFrom: '*@internal.example.com' }] }),
    ).toBeNull();
    expect(
      checkFilter({
        operator: 'AND',
        conditions: [
          { minSize: 10, header: ['X-Tag'] },
          { operator: 'OR', conditions: [{ to: 'a' }, { hasAttachment: true }] },
        ],
      }),
    ).toBeNull();
    expect(checkFilter({ minSize: -1 })?.code).toBe('FILTER_INVALID');
    expect(checkFilter({ bogus: 1 })?.code).toBe('UNSUPPORTED_FILTER');
  });
});

describe('draft-01 requests → StageRequest', () => {
  it('accepts what real clients send: null envelope and ehlo at connect, fractional timestamps', () => {
    const body = draft01Request('connect');
    expect(body).toMatchObject({ envelope: null, client: { ehlo: null }, rawMessage: null });
    expect(String(body.timestamp)).toMatch(/\.\d{3}Z$/);
    const { incoming, message, view } = map(body);
    expect(incoming).toMatchObject({
      protocol: 'draft01',
      stage: 'connect',
      client: { ip: '203.0.113.45', port: 40522, ptr: 'mail.sender.example' },
      mtaTimeoutMs: 20_000,
    });
    expect(incoming.client.helo).toBeUndefined();
    expect(incoming.from).toBeUndefined();
    expect(message).toBeUndefined();
    expect(view).toMatchObject({ stage: 'connect', direction: 'inbound', action: 'accept', recipients: [] });
  });

  it('maps the null sender to "" and keeps valueless ESMTP parameters as ""', () => {
    const { incoming } = map(draft01Request('mail', { from: null }));
    expect(incoming.from).toEqual({
      address: '',
      parameters: { SIZE: '2048', BODY: '8BITMIME', SMTPUTF8: '' },
    });
    expect(incoming.to).toEqual([]);
  });

  it('at rcpt, checks the last recipient; the session is the connection', () => {
    const a = map(draft01Request('rcpt', { rcpts: ['Bob@Example.net', 'carol@example.net'] }));
    expect(a.incoming.rcpt).toBe('carol@example.net');
    expect(a.incoming.to?.[0]).toEqual({
      address: 'bob@example.net',
      parameters: { NOTIFY: 'FAILURE,DELAY' },
    });
    expect(map(draft01Request('connect')).incoming.sessionId).toBe(a.incoming.sessionId);
    expect(map(draft01Request('connect', { clientPort: 1 })).incoming.sessionId).not.toBe(
      a.incoming.sessionId,
    );
  });

  it('gives scanners the exact bytes of rawMessage (not lossy), from Base64 or from a CBOR byte string', () => {
    const raw = Buffer.concat([
      Buffer.from('Subject: =?utf-8?q?caf=C3=A9?=\r\nX-Bin: '),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('\r\n\r\n\x00\x80body\r\n'),
    ]);
    const { incoming, message } = map(draft01Request('data', {}, raw));
    expect(Buffer.compare(message!, raw)).toBe(0);
    expect(incoming.message).toMatchObject({
      size: raw.byteLength,
      storedBytes: raw.byteLength,
      lossy: false,
      subject: '=?utf-8?q?caf=C3=A9?=',
    });
    const cbor = { ...draft01Request('data', {}, raw), rawMessage: raw };
    expect(hookSchema.Check(cbor)).toBe(true);
    const m = fromDraft01(cbor as unknown as Draft01HookRequest, {
      registration: reg(),
      identity: 'mta-1',
      requestId: 'r',
      defaultTimeoutMs: 1,
    });
    expect(m.ok && Buffer.compare(m.value.message!, raw)).toBe(0);
  });

  it('refuses bad Base64, unsubscribed stages and unknown actions with the draft codes', () => {
    const bad = { ...wire(draft01Request('data', {}, clean())), rawMessage: 'not*base64' };
    expect(
      fromDraft01(bad, { registration: reg(), identity: 'x', requestId: 'r', defaultTimeoutMs: 1 }),
    ).toMatchObject({ ok: false, code: 'INVALID_REQUEST' });
    const onlyData = reg({ inbound: { stages: ['data'], properties: ['/stage'] } });
    expect(
      fromDraft01(wire(draft01Request('mail')), {
        registration: onlyData,
        identity: 'x',
        requestId: 'r',
        defaultTimeoutMs: 1,
      }),
    ).toMatchObject({ ok: false, code: 'INVALID_STAGE' });
    expect(
      fromDraft01(
        { ...wire(draft01Request('mail')), action: 'continue' },
        { registration: reg(), identity: 'x', requestId: 'r', defaultTimeoutMs: 1 },
      ),
    ).toMatchObject({ ok: false, code: 'INVALID_ACTION' });
  });

  it('accepts RFC 3339 timestamps with and without fractions, and refuses others', () => {
    for (const t of ['2026-11-02T10:14:02Z', '2026-11-02T10:14:02.123Z', '2026-11-02T10:14:02.123456+01:00'])
      expect(hookSchema.Check({ stage: 'data', timestamp: t })).toBe(true);
    expect(hookSchema.Check({ stage: 'data', timestamp: '02/11/2026' })).toBe(false);
  });

  it('carries outbound recipients with their delivery status into the model', () => {
    const body = outboundRequest('delivery', [
      { address: 'u1@dest.example', status: 'delivered', code: 250 },
      { address: 'u3@gone.example', status: 'failed', code: 550 },
    ]);
    const { incoming, view } = map(body);
    expect(incoming.client.ip).toBe('198.51.100.50');
    expect(incoming.to?.[1]).toEqual({
      address: 'u3@gone.example',
      delivery: {
        status: 'failed',
        attempt: 1,
        lastReply: { code: 550, enhanced: '5.0.0', text: 'remote said so' },
      },
    });
    expect(view).toMatchObject({ direction: 'outbound', action: 'continue' });
  });
});

describe('verdict → draft-01 answer', () => {
  const data = () => map(draft01Request('data', {}, clean()));

  it('answers 204 when nothing changes', () => {
    expect(answer(verdict('accept'), data().view).answer).toEqual({ status: 204 });
    expect(answer(verdict('accept'), map(draft01Request('connect')).view).answer).toEqual({ status: 204 });
  });

  it('rejects with set /action and set /response; tempfail is a 4xx reject', () => {
    const rcpt = map(draft01Request('rcpt')).view;
    expect(
      answer(
        verdict('reject', { reply: { code: 550, enhanced: '5.7.1', text: 'Virus found:\r\nEICAR' } }),
        rcpt,
      ).answer,
    ).toEqual({
      status: 200,
      ops: {
        set: [
          { path: '/action', value: 'reject' },
          { path: '/response', value: { code: 550, enhancedCode: '5.7.1', message: 'Virus found: EICAR' } },
        ],
      },
    });
    const t = answer(verdict('tempfail', { reply: { code: 550, text: 'wrong class' } }), rcpt).answer;
    expect(t).toEqual({
      status: 200,
      ops: {
        set: [
          { path: '/action', value: 'reject' },
          {
            path: '/response',
            value: { code: 451, enhancedCode: '4.7.1', message: DEFAULT_REPLIES.tempfail.text },
          },
        ],
      },
    });
  });

  it('never downgrades the request action', () => {
    const q = { ...data().view, action: 'quarantine' as const };
    expect(answer(verdict('accept'), q).answer).toEqual({ status: 204 });
    const r = { ...data().view, action: 'reject' as const };
    expect(answer(verdict('discard'), r).answer).toEqual({ status: 204 });
    expect(
      answer(verdict('accept', { modifications: [{ type: 'addHeader', name: 'X-A', value: '1' }] }), r)
        .answer,
    ).toEqual({ status: 204 });
    expect(answer(verdict('reject'), q).answer).toMatchObject({
      status: 200,
      ops: { set: [{ path: '/action', value: 'reject' }, { path: '/response' }] },
    });
  });

  it('discard at connect/ehlo becomes a reject; quarantine only at data', () => {
    expect(answer(verdict('discard'), map(draft01Request('connect')).view).answer).toMatchObject({
      ops: {
        set: [
          { path: '/action', value: 'reject' },
          { path: '/response', value: { code: 550 } },
        ],
      },
    });
    expect(answer(verdict('discard'), map(draft01Request('rcpt')).view).answer).toEqual({
      status: 200,
      ops: { set: [{ path: '/action', value: 'discard' }] },
    });
    expect(answer(verdict('quarantine'), map(draft01Request('rcpt')).view).answer).toEqual({ status: 204 });
    expect(
      answer(
        verdict('quarantine', { modifications: [{ type: 'addHeader', name: 'X-Q', value: 'yes' }] }),
        data().view,
      ).answer,
    ).toEqual({
      status: 200,
      ops: {
        set: [{ path: '/action', value: 'quarantine' }],
        add: [{ path: '/message/headers', value: { name: 'X-Q', value: 'yes' }, index: 0 }],
      },
    });
  });

  it("a message kept in hookgate's quarantine is refused naming the item, or discarded (issue 16)", () => {
    const kept = (answer: 'reject' | 'discard') =>
      verdict('quarantine', {
        quarantine: { id: 'mj4x2c1k0qh3vw7zbn2', answer },
        reply: { code: 550, enhanced: '5.7.1', text: 'Message quarantined as mj4x2c1k0qh3vw7zbn2' },
      });
    expect(answer(kept('reject'), data().view).answer).toEqual({
      status: 200,
      ops: {
        set: [
          { path: '/action', value: 'reject' },
          {
            path: '/response',
            value: {
              code: 550,
              enhancedCode: '5.7.1',
              message: 'Message quarantined as mj4x2c1k0qh3vw7zbn2',
            },
          },
        ],
      },
    });
    expect(answer(kept('discard'), data().view).answer).toEqual({
      status: 200,
      ops: { set: [{ path: '/action', value: 'discard' }] },
    });
  });

  it('header changes land where the model says, once an MTA applies them in draft order', () => {
    const raw = Buffer.from(
      'Received: x\r\nFrom: a@b\r\nX-Spam: old1\r\nSubject: Hello\r\nX-Spam: old2\r\nTo: c@d\r\n\r\nbody\r\n',
    );
    const body = { ...draft01Request('data', {}, raw), message: { headers: headersOf(raw) } };
    const r = reg({ inbound: { stages: ['data'], properties: ['/stage', '/action', '/message'] } });
    const { view } = map(body, r);
    const mods: Modification[] = [
      { type: 'deleteHeader', index: 2, name: 'x-spam' },
      { type: 'deleteHeader', index: 1, name: 'X-Spam' },
      { type: 'addHeader', name: 'X-Spam-Status', value: 'No, score=0.4' },
      { type: 'addHeader', name: 'X-Virus-Scanned', value: 'hookgate\r\n(ClamAV)' },
      { type: 'insertHeader', index: 3, name: 'X-Inserted', value: 'before the 3rd original' },
      { type: 'changeHeader', index: 1, name: 'subject', value: '[SPAM] Hello' },
      { type: 'changeHeader', index: 1, name: 'X-Absent', value: 'added' },
    ];
    const a = answer(verdict('accept', { modifications: mods }), view, r).answer;
    expect(a.status).toBe(200);
    const applied = applyOperations({ message: { headers: headersOf(raw) } }, opsOf(a));
    expect(
      (applied.message as { headers: { name: string; value: string }[] }).headers.map(
        (h) => `${h.name}: ${h.value}`,
      ),
    ).toEqual([
      'X-Spam-Status: No, score=0.4',
      'X-Virus-Scanned: hookgate (ClamAV)',
      'X-Absent: added',
      'Received: x',
      'From: a@b',
      'X-Inserted: before the 3rd original',
      'Subject: [SPAM] Hello',
      'To: c@d',
    ]);
  });

  it('envelope changes at data: set /envelope/from, add and delete recipients', () => {
    const { view } = map(
      draft01Request('data', { rcpts: ['bob@example.net', 'carol@example.net'] }, clean()),
    );
    const mods: Modification[] = [
      { type: 'changeFrom', address: 'bounce@example.org' },
      { type: 'addRecipient', address: 'archive@example.org' },
      { type: 'deleteRecipient', address: 'BOB@example.net' },
    ];
    const a = answer(verdict('accept', { modifications: mods }), view);
    const applied = applyOperations(
      { envelope: { from: { address: 'x' }, to: view.recipients.map((r) => ({ address: r.address })) } },
      opsOf(a.answer),
    );
    expect(applied.envelope).toEqual({
      from: { address: 'bounce@example.org', parameters: {} },
      to: [{ address: 'carol@example.net' }, { address: 'archive@example.org', parameters: {} }],
    });
  });

  it('never touches a path the registration did not negotiate', () => {
    const r = reg({ inbound: { stages: ['data'], properties: ['/stage', '/action'] } });
    expect(writablePaths(r.inbound!, 'inbound')).toEqual(['/action', '/response']);
    const { view } = map({ stage: 'data', action: 'accept' }, r);
    const mods: Modification[] = [
      { type: 'addHeader', name: 'X-A', value: '1' },
      { type: 'addRecipient', address: 'x@y' },
    ];
    const a = answer(verdict('accept', { modifications: mods }), view, r);
    expect(a.answer).toEqual({ status: 204 });
    expect(a.dropped.length).toBeGreaterThan(0);
    expect(
      filterOps(
        {
          set: [
            { path: '/action', value: 'reject' },
            { path: '/actionX', value: 1 },
          ],
          delete: [{ path: '/message' }],
        },
        ['/action'],
      ),
    ).toEqual({
      ops: { set: [{ path: '/action', value: 'reject' }] },
      dropped: ['/actionX', '/message'],
    });
    // The bridge sends only /rawMessage and applies header edits.
    expect(writablePaths({ stages: ['data'], properties: [...BRIDGE_PROPERTIES] }, 'inbound')).toEqual([
      '/action',
      '/response',
      '/envelope/from',
      '/envelope/to',
      '/message/headers',
      '/rawMessage',
    ]);
  });

  it('a body replacement rewrites rawMessage with header changes folded in, or holds the mail when it cannot', () => {
    const raw = Buffer.from('From: a@b\r\nSubject: secret\r\n\r\ncard 4111 1111 1111 1111\r\n');
    const mods: Modification[] = [
      { type: 'changeHeader', index: 1, name: 'Subject', value: 'redacted' },
      { type: 'replaceBody', body: 'card [REDACTED]\r\n' },
    ];
    const { view } = map(draft01Request('data', {}, raw));
    const a = answer(verdict('accept', { modifications: mods }), view).answer;
    expect(a.status).toBe(200);
    const set = (a as { ops: { set: { path: string; value: Buffer }[] } }).ops.set;
    expect(set.map((o) => o.path)).toEqual(['/rawMessage']);
    expect(set[0]!.value.toString()).toBe('From: a@b\r\nSubject: redacted\r\n\r\ncard [REDACTED]\r\n');
    expect(rebuildRaw(raw, [{ type: 'addHeader', name: 'X-A', value: '1' }], 'b')).toEqual(
      Buffer.from('X-A: 1\r\nFrom: a@b\r\nSubject: secret\r\n\r\nb'),
    );
    const noRaw = reg({ inbound: { stages: ['data'], properties: ['/stage', '/action', '/message'] } });
    const held = answer(
      verdict('accept', { modifications: mods }),
      map({ stage: 'data', message: { headers: headersOf(raw) } }, noRaw).view,
      noRaw,
    ).answer;
    expect(held).toMatchObject({
      status: 200,
      ops: {
        set: [
          { path: '/action', value: 'reject' },
          { path: '/response', value: { code: 451 } },
        ],
      },
    });
  });

  it('parses header sections with folding, LF-only lines and no body', () => {
    expect(
      parseHeaderSection(Buffer.from('A: 1\n  folded\nB: 2\n\nbody')).headers.map((h) => h.name),
    ).toEqual(['A', 'B']);
    expect(parseHeaderSection(Buffer.from('A: 1\r\n')).bodyOffset).toBe(6);
  });
});

describe('verdict → draft-01 answer, outbound', () => {
  const rcpts = [
    { address: 'u1@dest.example', status: 'delivered' as const, code: 250 },
    { address: 'u2@slow.example', status: 'deferred' as const, code: 451 },
    { address: 'u3@gone.example', status: 'failed' as const, code: 550 },
  ];

  it('continues on accept and quarantine, asks the MTA to retry (503) on tempfail', () => {
    const { view } = map(outboundRequest('delivery', rcpts));
    expect(answer(verdict('accept'), view).answer).toEqual({ status: 204 });
    expect(answer(verdict('quarantine'), view).answer).toEqual({ status: 204 });
    expect(answer(verdict('tempfail'), view).answer).toMatchObject({ status: 503 });
  });

  it('discard at delivery cancels and silences every recipient not yet delivered (no backscatter)', () => {
    const { view } = map(outboundRequest('delivery', rcpts));
    expect(answer(verdict('discard'), view).answer).toEqual({
      status: 200,
      ops: {
        set: [
          { path: '/action', value: 'cancel' },
          { path: '/envelope/to/1/status', value: 'failed-silent' },
          { path: '/envelope/to/2/status', value: 'failed-silent' },
        ],
      },
    });
    expect(answer(verdict('reject'), view).answer).toEqual({
      status: 200,
      ops: { set: [{ path: '/action', value: 'cancel' }] },
    });
    expect(answer(verdict('reject'), { ...view, action: 'cancel' }).answer).toEqual({ status: 204 });
  });

  it('a DSN with malware or a DLP hit is suppressed: rawMessage and message deleted, recipients silenced', () => {
    const dsn = Buffer.from('Subject: Undelivered\r\n\r\nreturned content\r\n');
    const { view } = map(outboundRequest('dsn', [rcpts[2]!], dsn));
    const a = answer(verdict('reject'), view).answer;
    expect(a).toEqual({
      status: 200,
      ops: {
        set: [{ path: '/envelope/to/0/status', value: 'failed-silent' }],
        delete: [{ path: '/rawMessage' }, { path: '/message' }],
      },
    });
    const applied = applyOperations(outboundRequest('dsn', [rcpts[2]!], dsn), opsOf(a));
    expect(applied.rawMessage).toBeUndefined();
    expect(applied.message).toBeUndefined();
    // Negotiated nothing to change but the action: cancel.
    const bare = reg({ outbound: { stages: ['dsn'], properties: ['/stage', '/action'] } });
    expect(
      answer(verdict('discard'), map({ stage: 'dsn', action: 'continue' }, bare).view, bare).answer,
    ).toEqual({ status: 200, ops: { set: [{ path: '/action', value: 'cancel' }] } });
  });
});
