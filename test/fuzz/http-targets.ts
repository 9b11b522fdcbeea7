/**
 * HTTP fuzz targets: the real ingress app (`buildApp(deps).inject()`, every fastify parser, hook, schema, adapter
 * and error handler), with in-memory stand-ins only where the parser is not the target: the stage pipeline answers
 * at once with the verdict the case chose, and the draft-01 registration and dedupe stores are maps reset before
 * every case (so a million cases stay independent and need no Redis).
 *
 * Oracles (docs/protocols/stalwart.md and draft01.md give the documented statuses and bodies):
 * - every request gets a status from the documented set, never a 500;
 * - the unmodified seed with canonical headers gets the happy answer (200, 200/204, 201);
 * - an answer is well formed: a valid Stalwart action or draft-01 operations, in the negotiated encoding;
 * - an error is exactly `{"error":{"code","message"}}` in JSON, MessagePack or CBOR, its code documented for its
 *   status, its message short, and no stack trace or source path anywhere in a body;
 * - the pipeline is called only for answered requests, with a stage request that keeps the contract's shape;
 * - nothing is logged at error level (the routes log `error` only when an adapter or the pipeline threw: a bug
 *   hidden behind a fallback answer);
 * - a draft-01 retry with the same request id gets the same answer without a second scan.
 */
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { pino } from 'pino';
import { decode as msgpackDecode } from '@msgpack/msgpack';
import { Decoder as CborDecoder } from 'cbor-x';
import type { FastifyInstance } from 'fastify';
import {
  DRAFT01_ERRORS,
  DRAFT01_INBOUND_FETCH,
  DRAFT01_OUTBOUND_FETCH,
  DRAFT01_REGISTRATION_ID,
  STAGES,
  type Draft01Registration,
  type Modification,
  type Verdict,
} from '@hookgate/contracts';
import type { IncomingStage, StagePipeline } from '@hookgate/pipeline';
import { buildApp, type Draft01Settings } from '@hookgate/ingress';
import { stalwartRequest, transaction } from '../support/stalwart.js';
import {
  draft01Request,
  draft01Transaction,
  dsnMessage,
  outboundRequest,
  BRIDGE_PROPERTIES,
  DEFAULT_INBOUND,
} from '../support/draft01-client.js';
import { clean, eicarInline, gtube } from '../support/samples.js';
import {
  byteOp,
  evilValue,
  field,
  mutateBytes,
  mutateTree,
  showBytes,
  toCbor,
  toJson,
  toMsgpack,
  treeOp,
  type ByteOp,
  type Tree,
  type TreeOp,
} from './mutate.js';
import { cpuTime, violated, type Target } from './harness.js';
import { verdict as makeVerdict } from '../support/verdicts.js';

// ---------------------------------------------------------------------------------------------------------------
// Verdicts the stand-in pipeline answers with: every action, hostile replies and modifications, so the answer
// mappers see what a misbehaving scanner could produce.

const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom('', 'a\r\nb', 'x\0y', '%s', 'é😀', 'v'.repeat(600)),
);
const headerName = fc.oneof(
  fc.constantFrom('X-Spam', 'Subject', 'X-Hookgate', 'From', 'x'),
  fc.string({ maxLength: 12 }),
);
const index = fc.oneof(fc.integer({ min: -3, max: 12 }), fc.constantFrom(2 ** 31, -(2 ** 31), 2 ** 53));
const params = fc.option(
  fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 12 }), { maxKeys: 3 }),
  { nil: undefined },
);

export const modificationArb: fc.Arbitrary<Modification> = fc.oneof(
  fc.record({ type: fc.constant('addHeader' as const), name: headerName, value: text }),
  fc.record({ type: fc.constant('insertHeader' as const), index, name: headerName, value: text }),
  fc.record({ type: fc.constant('changeHeader' as const), index, name: headerName, value: text }),
  fc.record({ type: fc.constant('deleteHeader' as const), index, name: headerName }),
  fc.record(
    { type: fc.constant('changeFrom' as const), address: text, parameters: params },
    { requiredKeys: ['type', 'address'] },
  ),
  fc.record(
    { type: fc.constant('addRecipient' as const), address: text, parameters: params },
    { requiredKeys: ['type', 'address'] },
  ),
  fc.record({
    type: fc.constant('deleteRecipient' as const),
    address: fc.oneof(text, fc.constantFrom('bob@example.net', 'u1@remote.example')),
  }),
  fc.record({ type: fc.constant('replaceBody' as const), body: text }),
);

export const verdictArb: fc.Arbitrary<Verdict> = fc.record(
  {
    v: fc.constant(1 as const),
    action: fc.constantFrom(
      'accept' as const,
      'tempfail' as const,
      'reject' as const,
      'discard' as const,
      'quarantine' as const,
    ),
    reply: fc.record(
      {
        code: fc.oneof(fc.constantFrom(250, 421, 451, 550, 554), fc.integer({ min: -1, max: 1000 })),
        enhanced: fc.oneof(fc.constantFrom('4.7.1', '5.7.1', '2.0.0', '5.x.1'), fc.string({ maxLength: 8 })),
        text,
      },
      { requiredKeys: ['code', 'text'] },
    ),
    modifications: fc.array(modificationArb, { maxLength: 4 }),
    reasons: fc.array(fc.string({ maxLength: 16 }), { maxLength: 3 }),
    decidedBy: fc.array(fc.string({ maxLength: 10 }), { maxLength: 2 }),
    partial: fc.boolean(),
  },
  { requiredKeys: ['v', 'action', 'modifications', 'reasons', 'decidedBy', 'partial'] },
);

// ---------------------------------------------------------------------------------------------------------------
// The app under test, with its stand-ins

export const TOKEN = 'fuzz-token-0123456789abcdef0123';
const OTHER_TOKEN = 'fuzz-other-0123456789abcdef012';
const BASIC = `Basic ${Buffer.from('stalwart:fuzz-secret').toString('base64')}`;
export const BASE = '/mta-hooks/v1';
const MAX_BODY = 256 * 1024;

interface PipelineCall {
  incoming: IncomingStage;
  message?: Uint8Array;
}

/** Everything one app instance shares with the oracles. */
export class Harness {
  app!: FastifyInstance;
  errorLines: string[] = [];
  calls: PipelineCall[] = [];
  verdict: Verdict = makeVerdict();
  registrations = new Map<string, Draft01Registration>();
  answers = new Map<string, { kind: 'pending' } | { kind: 'done'; answer: unknown }>();
  /** The route that answered the last request (undefined: no route matched, fastify's not-found handling). */
  route: string | undefined;

  async start(): Promise<void> {
    const sink = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        this.errorLines.push(String(chunk));
        cb();
      },
    });
    const pipeline = {
      inFlight: 0,
      deadlineFor: (_stage: string, receivedAt: number) => receivedAt + 5_000,
      handle: async (incoming: IncomingStage, message?: Uint8Array) => {
        this.calls.push({ incoming, ...(message ? { message } : {}) });
        const receivedAt = Date.now();
        return {
          verdict: this.verdict,
          request: {
            ...incoming,
            v: 1,
            txnId: `${incoming.sessionId}.0`,
            reqId: `req-${this.calls.length}`,
            receivedAt,
            deadlineAt: receivedAt + 5_000,
          },
          recorded: Promise.resolve(),
        };
      },
    };
    const registrations = {
      create: async (reg: Draft01Registration, max: number, now: number) => {
        const live = [...this.registrations.values()].filter(
          (r) => r.identity === reg.identity && r.status === 'active' && r.expiresAt > now,
        );
        if (live.length >= max) return false;
        this.registrations.set(reg.id, reg);
        return true;
      },
      get: async (id: string) => this.registrations.get(id),
      state: (reg: Draft01Registration, now: number) =>
        reg.status === 'deregistered'
          ? { kind: 'deregistered' }
          : now >= reg.expiresAt
            ? { kind: 'expired' }
            : { kind: 'active' },
      deregister: async (reg: Draft01Registration, now: number) => {
        const next: Draft01Registration = { ...reg, status: 'deregistered', deregisteredAt: now };
        this.registrations.set(reg.id, next);
        return next;
      },
      retire: async (old: Draft01Registration, newId: string, now: number) => {
        this.registrations.set(old.id, { ...old, replacedBy: newId, retiresAt: now + 1_000 });
      },
      recordInvocation: async () => undefined,
      stats: async () => {
        const zero = { total: 0, last24h: 0, last7d: 0, last30d: 0 };
        return {
          invocations: zero,
          errors: zero,
          averageResponseMs: 0,
          lastInvocation: undefined,
          consecutiveFailures: 0,
        };
      },
    };
    const dedupe = {
      claimOrWait: async (identity: string, requestId: string) => {
        const a = this.answers.get(`${identity}|${requestId}`);
        if (a?.kind === 'done') return { kind: 'done', answer: a.answer };
        if (a?.kind === 'pending') return { kind: 'pending' };
        this.answers.set(`${identity}|${requestId}`, { kind: 'pending' });
        return { kind: 'claimed' };
      },
      complete: async (identity: string, requestId: string, answer: unknown) =>
        void this.answers.set(`${identity}|${requestId}`, { kind: 'done', answer }),
      release: async (identity: string, requestId: string) =>
        void this.answers.delete(`${identity}|${requestId}`),
    };
    const settings: Draft01Settings = {
      basePath: BASE,
      maxMessageSize: MAX_BODY,
      maxRegistrations: 3,
      registrationTtlMs: 86_400_000,
      defaultTimeoutMs: 10_000,
      maxInFlight: 64,
      maxInFlightPerRegistration: 16,
      registrationEnabled: true,
      allowedIdentities: [],
    };
    this.app = buildApp({
      pipeline: pipeline as unknown as StagePipeline,
      auth: {
        tokens: [
          { identity: 'mta-fuzz', token: TOKEN },
          { identity: 'mta-other', token: OTHER_TOKEN },
        ],
        basic: [{ username: 'stalwart', secret: 'fuzz-secret' }],
      },
      stalwart: { quarantine: 'header', quarantineHeader: { name: 'X-Hookgate-Quarantine', value: 'yes' } },
      maxBodyBytes: MAX_BODY,
      logger: pino({ level: 'error' }, sink),
      isReady: () => true,
      reasonHeader: true,
      draft01: {
        registrations: registrations as never,
        dedupe: dedupe as never,
        settings,
      },
    });
    this.app.addHook('onResponse', async (req) => {
      this.route = req.routeOptions.url;
    });
    await this.app.ready();
  }

  /** The state every case starts from: one registration of each kind, nothing answered yet. */
  reset(verdict: Verdict): void {
    const now = Date.now();
    const base: Draft01Registration = {
      v: 1,
      id: 'reg-active',
      identity: 'mta-fuzz',
      name: 'mx.test.invalid',
      version: null,
      status: 'active',
      createdAt: now - 1_000,
      expiresAt: now + 3_600_000,
      serialization: 'json',
      timeoutMs: 10_000,
      inbound: { stages: [...DEFAULT_INBOUND], properties: [...DRAFT01_INBOUND_FETCH] },
      outbound: { stages: ['delivery', 'defer', 'dsn'], properties: [...DRAFT01_OUTBOUND_FETCH] },
      metadata: null,
    };
    this.registrations = new Map([
      ['reg-active', base],
      [
        'reg-bridge',
        {
          ...base,
          id: 'reg-bridge',
          inbound: { stages: [...DEFAULT_INBOUND], properties: [...BRIDGE_PROPERTIES] },
          outbound: null,
        },
      ],
      ['reg-dereg', { ...base, id: 'reg-dereg', status: 'deregistered', deregisteredAt: now - 1_000 }],
      ['reg-expired', { ...base, id: 'reg-expired', expiresAt: now - 1_000 }],
      ['reg-other', { ...base, id: 'reg-other', identity: 'mta-other' }],
    ]);
    this.answers.clear();
    this.calls = [];
    this.errorLines = [];
    this.route = undefined;
    this.verdict = verdict;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Cases

type Encoding = 'json' | 'msgpack' | 'cbor';

export interface HttpCase {
  method: string;
  url: string;
  headers: Record<string, string | string[]>;
  /** The body: a tree to encode (then byte mutations), or raw bytes. */
  body?:
    | { tree: Tree; encoding: Encoding; bytes?: undefined }
    | { bytes: Buffer; tree?: undefined; encoding?: undefined };
  byteOps: ByteOp[];
  verdict: Verdict;
  /** Unmodified seed, canonical headers: the happy answer is expected. */
  valid: boolean;
  /** Send twice (draft-01 hooks: the second must be a replay of the first). */
  twice: boolean;
  kind: 'stalwart' | 'hook' | 'registration' | 'discovery' | 'status' | 'deregister';
}

function encodeBody(c: HttpCase): Buffer | undefined {
  if (!c.body) return undefined;
  const raw =
    c.body.bytes ??
    (c.body.encoding === 'json'
      ? toJson(c.body.tree)
      : c.body.encoding === 'msgpack'
        ? toMsgpack(c.body.tree)
        : toCbor(c.body.tree));
  return c.byteOps.length > 0 ? mutateBytes(raw, c.byteOps) : raw;
}

function showCase(c: HttpCase): string {
  const body = encodeBody(c);
  return `${c.method} ${c.url} headers=${JSON.stringify(c.headers).slice(0, 600)} valid=${c.valid} twice=${c.twice} verdict=${JSON.stringify(c.verdict).slice(0, 400)} body=${body ? showBytes(body) : '(none)'}`;
}

/** A body from seeds: as is, mutated as a tree, generated from scratch, or random bytes. */
function bodyArb(seeds: readonly Tree[], generated: fc.Arbitrary<Tree>, encoding: fc.Arbitrary<Encoding>) {
  type B = { body: NonNullable<HttpCase['body']>; mutated: boolean };
  const fromSeed: fc.Arbitrary<B> = fc
    .tuple(fc.constantFrom(...seeds), encoding)
    .map(([tree, enc]) => ({ body: { tree, encoding: enc }, mutated: false }));
  const mutated: fc.Arbitrary<B> = fc
    .tuple(fc.constantFrom(...seeds), fc.array(treeOp, { minLength: 1, maxLength: 4 }), encoding)
    .map(([tree, ops, enc]: [Tree, TreeOp[], Encoding]) => ({
      body: { tree: mutateTree(tree, ops), encoding: enc },
      mutated: true,
    }));
  const gen: fc.Arbitrary<B> = fc
    .tuple(generated, encoding)
    .map(([tree, enc]) => ({ body: { tree, encoding: enc }, mutated: true }));
  const anything: fc.Arbitrary<B> = fc
    .tuple(fc.oneof(evilValue, fc.jsonValue() as fc.Arbitrary<Tree>), encoding)
    .map(([tree, enc]) => ({ body: { tree, encoding: enc }, mutated: true }));
  const bytes: fc.Arbitrary<B> = fc
    .uint8Array({ maxLength: 300 })
    .map((b) => ({ body: { bytes: Buffer.from(b) }, mutated: true }));
  return fc.oneof(
    { weight: 3, arbitrary: fromSeed },
    { weight: 8, arbitrary: mutated },
    { weight: 4, arbitrary: gen },
    { weight: 1, arbitrary: anything },
    { weight: 1, arbitrary: bytes },
  );
}

const byteOps = fc.oneof(
  { weight: 5, arbitrary: fc.constant<ByteOp[]>([]) },
  { weight: 2, arbitrary: fc.array(byteOp, { minLength: 1, maxLength: 4 }) },
);

/** A header that is usually `canonical`, sometimes a listed variant, garbage, absent or sent twice. */
function headerArb(canonical: string | undefined, variants: readonly string[]) {
  const printable = fc.string({
    unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    maxLength: 80,
  });
  return fc.oneof(
    { weight: 14, arbitrary: fc.constant({ value: canonical, canonical: true }) },
    {
      weight: 3,
      arbitrary: fc
        .constantFrom(...variants, ...(canonical ? [canonical.toUpperCase(), `${canonical} `] : []))
        .map((value) => ({ value: value as string | string[] | undefined, canonical: value === canonical })),
    },
    {
      weight: 1,
      arbitrary: printable.map((value) => ({
        value: value as string | string[] | undefined,
        canonical: false,
      })),
    },
    {
      weight: 1,
      arbitrary: fc.constant({
        value: undefined as string | string[] | undefined,
        canonical: canonical === undefined,
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(...variants, 'x')
        .map((v) => ({ value: [canonical ?? v, v] as string | string[] | undefined, canonical: false })),
    },
  );
}

const AUTH_VARIANTS = [
  `Bearer ${TOKEN}`,
  BASIC,
  `Bearer ${OTHER_TOKEN}`,
  'Bearer',
  'Bearer ',
  `bearer ${TOKEN}`,
  `Bearer  ${TOKEN}`,
  'Basic',
  'Basic !!!!',
  'Basic Og==',
  `Basic ${Buffer.from('stalwart').toString('base64')}`,
  'Digest x',
  `Bearer ${TOKEN}x`,
  `Bearer ${'A'.repeat(5000)}`,
];

function headersFrom(parts: Record<string, { value: string | string[] | undefined; canonical: boolean }>): {
  headers: Record<string, string | string[]>;
  canonical: boolean;
} {
  const headers: Record<string, string | string[]> = {};
  let canonical = true;
  for (const [k, p] of Object.entries(parts)) {
    if (p.value !== undefined) headers[k] = p.value;
    canonical &&= p.canonical;
  }
  return { headers, canonical };
}

// ---------------------------------------------------------------------------------------------------------------
// Generators of plausible requests (structure-aware), hostile in places through `field`

const ip = fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('::1', '127.0.0.1', 'IPv6:2001:db8::1', 'unknown'));
const host = fc.oneof(fc.domain(), fc.constantFrom('[192.0.2.1]', 'localhost', ''));
const email = fc.oneof(
  fc.emailAddress(),
  fc.constantFrom('', '<>', 'ALICE@EXAMPLE.ORG', 'a@b', '@', '"a b"@example.org'),
);
const port = fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.constantFrom(-1, 65536, 1.5));
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null });
const rawHeader = fc.tuple(
  fc.constantFrom('From', 'To', 'Subject', 'Date', 'Message-ID', 'Content-Type', 'X-Test', 'subject'),
  fc.string({ maxLength: 60 }).map((s) => ` ${s}\r\n`),
);
const any = <T>(a: fc.Arbitrary<T>) => a as unknown as fc.Arbitrary<Tree>;

const stalwartGenerated: fc.Arbitrary<Tree> = any(
  fc.record(
    {
      context: field(
        any(
          fc.record(
            {
              stage: field(
                fc.constantFrom('connect', 'ehlo', 'mail', 'rcpt', 'data', 'auth', 'CONNECT', 'Data'),
              ),
              client: field(
                any(
                  fc.record(
                    {
                      ip: field(ip),
                      port: field(port),
                      ptr: field(opt(host)),
                      helo: field(opt(host)),
                      activeConnections: field(fc.nat()),
                    },
                    { requiredKeys: ['ip'] },
                  ),
                ),
              ),
              sasl: field(
                opt(
                  any(
                    fc.record({
                      login: field(fc.string({ maxLength: 20 })),
                      method: field(opt(fc.string({ maxLength: 8 }))),
                    }),
                  ),
                ),
              ),
              tls: field(
                opt(
                  any(
                    fc.record({
                      version: field(opt(fc.constantFrom('TLSv1.3', 'TLSv1.2'))),
                      cipher: field(opt(fc.string({ maxLength: 30 }))),
                    }),
                  ),
                ),
              ),
              server: field(
                any(
                  fc.record(
                    { name: field(opt(fc.string({ maxLength: 20 }))), port: field(port), ip: field(opt(ip)) },
                    { requiredKeys: [] },
                  ),
                ),
              ),
              queue: field(opt(any(fc.record({ id: field(fc.stringMatching(/^[0-9a-f]{1,20}$/)) })))),
              protocol: field(any(fc.record({ version: field(fc.constantFrom(1, '1.0')) }))),
            },
            { requiredKeys: ['stage', 'client'] },
          ),
        ),
      ),
      envelope: field(
        opt(
          any(
            fc.record({
              from: field(any(fc.record({ address: field(email) }))),
              to: field(
                any(
                  fc.array(
                    field(
                      any(
                        fc.record(
                          {
                            address: field(email),
                            parameters: field(
                              opt(
                                fc.dictionary(fc.string({ maxLength: 8 }), opt(fc.string({ maxLength: 8 })), {
                                  maxKeys: 2,
                                }),
                              ),
                            ),
                          },
                          { requiredKeys: ['address'] },
                        ),
                      ),
                    ),
                    { maxLength: 5 },
                  ),
                ),
              ),
            }),
          ),
        ),
      ),
      message: field(
        opt(
          any(
            fc.record({
              headers: field(any(fc.array(field(any(rawHeader)), { maxLength: 8 }))),
              contents: field(fc.string({ unit: 'grapheme', maxLength: 300 })),
              size: field(fc.nat()),
            }),
          ),
        ),
      ),
    },
    { requiredKeys: ['context'] },
  ),
);

const utcDate = fc.oneof(
  fc.constant(new Date().toISOString()),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom(
    '2026-13-01T00:00:00Z',
    '2026-01-01T00:00:00+02:00',
    'yesterday',
    '2026-01-01T00:00:00.123456789Z',
  ),
);
const b64 = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('base64')),
  fc.constantFrom('@@@@', 'QQ', 'QQ==\r\nQQ==', ' '),
);
const rawMessage = fc.oneof(
  fc.constant(Buffer.from('Subject: hi\r\nFrom: a@b\r\n\r\nbody\r\n') as Uint8Array),
  fc.uint8Array({ maxLength: 200 }),
  b64,
);
const params2 = fc.dictionary(
  fc.constantFrom('SIZE', 'BODY', 'SMTPUTF8', 'NOTIFY', 'ORCPT', '__proto__', 'x'),
  opt(fc.string({ maxLength: 12 })),
  { maxKeys: 3 },
);

const hookGenerated: fc.Arbitrary<Tree> = any(
  fc.record(
    {
      stage: field(
        fc.constantFrom(
          'connect',
          'ehlo',
          'mail',
          'rcpt',
          'data',
          'delivery',
          'defer',
          'dsn',
          'auth',
          'DATA',
        ),
      ),
      action: field(
        fc.constantFrom('accept', 'reject', 'discard', 'quarantine', 'disconnect', 'continue', 'cancel'),
      ),
      timestamp: field(utcDate),
      protocol: field(opt(any(fc.record({ version: field(fc.constantFrom('1.0', 1)) })))),
      queue: field(
        opt(
          any(
            fc.record(
              {
                id: field(fc.string({ maxLength: 16 })),
                expiresAt: field(opt(utcDate)),
                attempts: field(opt(fc.nat())),
              },
              { requiredKeys: ['id'] },
            ),
          ),
        ),
      ),
      server: field(
        opt(any(fc.record({ name: field(opt(host)), ip: field(opt(ip)), port: field(opt(port)) }))),
      ),
      client: field(
        opt(
          any(
            fc.record(
              {
                ip: field(ip),
                port: field(opt(port)),
                ptr: field(opt(host)),
                ehlo: field(opt(host)),
                asn: field(opt(fc.nat())),
                country: field(opt(fc.string({ maxLength: 3 }))),
                activeConnections: field(opt(fc.nat())),
              },
              { requiredKeys: ['ip'] },
            ),
          ),
        ),
      ),
      tls: field(
        opt(
          any(
            fc.record({
              version: field(opt(fc.string({ maxLength: 8 }))),
              cipher: field(opt(fc.string({ maxLength: 20 }))),
              cipherBits: field(opt(fc.nat())),
            }),
          ),
        ),
      ),
      auth: field(
        opt(
          any(
            fc.record({
              login: field(fc.string({ maxLength: 20 })),
              method: field(opt(fc.constantFrom('PLAIN', 'LOGIN'))),
            }),
          ),
        ),
      ),
      senderAuth: field(
        opt(
          fc.dictionary(
            fc.constantFrom('spf', 'dkim', 'dmarc', 'arc', '__proto__'),
            opt(fc.constantFrom('pass', 'fail', 'none')),
            { maxKeys: 3 },
          ),
        ),
      ),
      response: field(
        opt(
          any(
            fc.record(
              {
                code: field(fc.integer({ min: 100, max: 700 })),
                enhancedCode: field(opt(fc.string({ maxLength: 8 }))),
                message: field(opt(fc.string({ maxLength: 30 }))),
              },
              { requiredKeys: ['code'] },
            ),
          ),
        ),
      ),
      envelope: field(
        opt(
          any(
            fc.record({
              from: field(
                opt(any(fc.record({ address: field(opt(email)), parameters: field(opt(params2)) }))),
              ),
              to: field(
                opt(
                  any(
                    fc.array(
                      field(
                        any(
                          fc.record(
                            {
                              address: field(email),
                              parameters: field(opt(params2)),
                              status: field(
                                fc.constantFrom(
                                  'pending',
                                  'delivered',
                                  'deferred',
                                  'failed',
                                  'failed-silent',
                                  'lost',
                                ),
                              ),
                              attempt: field(opt(fc.nat())),
                              lastResponse: field(
                                opt(
                                  any(
                                    fc.record({
                                      code: field(fc.integer({ min: 100, max: 700 })),
                                      enhancedCode: field(opt(fc.string({ maxLength: 8 }))),
                                      message: field(opt(fc.string({ maxLength: 20 }))),
                                    }),
                                  ),
                                ),
                              ),
                            },
                            { requiredKeys: ['address'] },
                          ),
                        ),
                      ),
                      { maxLength: 5 },
                    ),
                  ),
                ),
              ),
            }),
          ),
        ),
      ),
      message: field(
        opt(
          any(
            fc.record({
              size: field(opt(fc.nat())),
              subject: field(opt(fc.string({ maxLength: 40 }))),
              headers: field(
                opt(
                  any(
                    fc.array(
                      field(
                        any(
                          fc.record({
                            name: field(fc.string({ maxLength: 12 })),
                            value: field(fc.string({ maxLength: 30 })),
                          }),
                        ),
                      ),
                      { maxLength: 6 },
                    ),
                  ),
                ),
              ),
            }),
          ),
        ),
      ),
      rawMessage: field(opt(rawMessage)),
    },
    { requiredKeys: ['stage'] },
  ),
);

const subscription = any(
  fc.record(
    {
      stages: field(
        any(
          fc.array(
            field(
              fc.constantFrom('connect', 'ehlo', 'mail', 'rcpt', 'data', 'delivery', 'defer', 'dsn', 'auth'),
            ),
            { maxLength: 9 },
          ),
        ),
      ),
      properties: field(
        opt(
          any(
            fc.array(
              field(
                fc.constantFrom(
                  ...DRAFT01_INBOUND_FETCH,
                  ...DRAFT01_OUTBOUND_FETCH,
                  '/envelope/to',
                  '/message/headers',
                  '',
                  'stage',
                  '/~',
                  '/a~2',
                ),
              ),
              { maxLength: 16 },
            ),
          ),
        ),
      ),
      actions: field(
        opt(
          any(
            fc.array(
              field(
                fc.constantFrom(
                  'accept',
                  'reject',
                  'discard',
                  'quarantine',
                  'disconnect',
                  'continue',
                  'cancel',
                ),
              ),
              { maxLength: 4 },
            ),
          ),
        ),
      ),
    },
    { requiredKeys: ['stages'] },
  ),
);
const condition: fc.Arbitrary<Tree> = fc.letrec<{ f: Tree }>((tie) => ({
  f: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    any(
      fc.dictionary(
        fc.constantFrom(
          'from',
          'to',
          'subject',
          'header',
          'minSize',
          'maxSize',
          'hasAttachment',
          'envelopeFrom',
          'envelopeTo',
          'inMailbox',
          'before',
          'bogus',
        ),
        field(
          fc.oneof(
            fc.string({ maxLength: 10 }),
            fc.nat(),
            fc.boolean(),
            fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 }),
          ),
        ),
        { maxKeys: 2 },
      ),
    ),
    any(
      fc.record({
        operator: field(fc.constantFrom('AND', 'OR', 'NOT', 'XOR')),
        conditions: field(any(fc.array(tie('f'), { maxLength: 3 }))),
      }),
    ),
  ),
})).f;

const registrationGenerated: fc.Arbitrary<Tree> = any(
  fc.record(
    {
      name: field(fc.string({ maxLength: 40 })),
      version: field(opt(fc.string({ maxLength: 12 }))),
      timeoutMs: field(opt(fc.nat())),
      expiresAt: field(opt(fc.oneof(utcDate, fc.constant(new Date(Date.now() + 3_600_000).toISOString())))),
      serialization: field(fc.constantFrom('json', 'cbor', 'xml', 'JSON')),
      inbound: field(opt(subscription)),
      outbound: field(opt(subscription)),
      filter: field(opt(condition)),
      metadata: field(
        opt(fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }), { maxKeys: 3 })),
      ),
    },
    { requiredKeys: ['name', 'serialization'] },
  ),
);

// ---------------------------------------------------------------------------------------------------------------
// Seeds: valid requests exactly as the test clients send them (dates made now)

const t = (v: unknown) => v as Tree;
function stalwartSeeds(): Tree[] {
  return [
    ...transaction({ rcpts: ['bob@example.net', 'carol@example.net'], login: 'alice' }, clean()).map(t),
    t(stalwartRequest('data', {}, eicarInline())),
    t(stalwartRequest('data', { queueId: 'abc' }, gtube())),
  ];
}

function hookSeeds(): { tree: Tree; registration: string }[] {
  const inbound = [
    ...draft01Transaction({ rcpts: ['bob@example.net', 'carol@example.net'], login: 'alice' }, clean()),
    draft01Request('data', { from: null }, eicarInline()),
  ];
  const outbound = [
    outboundRequest('delivery', [
      { address: 'u1@remote.example', status: 'pending' },
      { address: 'u2@remote.example', status: 'deferred', code: 451 },
    ]),
    outboundRequest('defer', [{ address: 'u1@remote.example', status: 'deferred', code: 421 }]),
    outboundRequest(
      'dsn',
      [{ address: 'u3@gone.example', status: 'failed', code: 550 }],
      dsnMessage(clean()),
    ),
  ];
  const bridge = draft01Transaction({ properties: BRIDGE_PROPERTIES }, gtube());
  return [
    ...inbound.map((b) => ({ tree: t(b), registration: 'reg-active' })),
    ...outbound.map((b) => ({ tree: t(b), registration: 'reg-active' })),
    ...bridge.map((b) => ({ tree: t(b), registration: 'reg-bridge' })),
  ];
}

function registrationSeeds(): Tree[] {
  const later = new Date(Date.now() + 3_600_000).toISOString();
  return [
    {
      name: 'mx.test.invalid',
      version: '1.0',
      timeoutMs: 10_000,
      expiresAt: later,
      serialization: 'json',
      inbound: { stages: [...DEFAULT_INBOUND], properties: [...BRIDGE_PROPERTIES] },
      outbound: null,
      filter: null,
      metadata: { site: 'fuzz' },
    },
    { name: 'mx.test.invalid', serialization: 'cbor', inbound: { stages: ['data'], properties: null } },
    {
      name: 'out.test.invalid',
      serialization: 'json',
      outbound: { stages: ['delivery', 'dsn'], properties: null },
      filter: { operator: 'AND', conditions: [{ envelopeFrom: '*@example.org' }, { minSize: 10 }] },
    },
    {
      name: 'both',
      serialization: 'json',
      inbound: { stages: ['connect', 'rcpt'] },
      outbound: { stages: ['defer'] },
      filter: { envelopeTo: '*' },
    },
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// Oracles

const STACK = /\n\s+at .+[:(]\d+:\d+|node_modules|\/src\/[\w-]+\.ts|\.js:\d+/;
const cbor = new CborDecoder({ useRecords: false, mapsAsObjects: true });

interface Answer {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  raw: Buffer;
}

function mediaType(h: unknown): string {
  const value = typeof h === 'string' ? h : Array.isArray(h) && typeof h[0] === 'string' ? h[0] : '';
  return value.split(';')[0]!.trim().toLowerCase();
}

function decodeAnswer(a: Answer, what: string): unknown {
  const type = mediaType(a.headers['content-type']);
  try {
    if (type === 'application/json') return JSON.parse(a.raw.toString('utf8')) as unknown;
    if (type === 'application/cbor') return cbor.decode(a.raw) as unknown;
    if (['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack'].includes(type))
      return msgpackDecode(a.raw);
  } catch (err) {
    violated(
      'body',
      `${what}: ${a.status} body does not decode as ${type}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return violated('body', `${what}: ${a.status} answered with Content-Type "${type}"`);
}

function checkCommon(a: Answer, h: Harness, allowed: readonly number[]): void {
  if (a.status >= 500 && a.status !== 503) violated('status', `answered ${a.status}`);
  if (!allowed.includes(a.status))
    violated('status', `answered ${a.status}, not one of ${allowed.join(', ')}`);
  if (STACK.test(a.raw.toString('latin1')))
    violated('leak', `body looks like it carries a stack trace or source path: ${showBytes(a.raw, 300)}`);
  if (h.errorLines.length > 0)
    violated('log', `logged at error level: ${h.errorLines.join(' | ').slice(0, 600)}`);
}

/** fastify's own answer for a URL that matches no route (no protocol owns such a URL). */
function isNotFound(a: Answer, body: unknown): boolean {
  const b = body as { error?: unknown; statusCode?: unknown };
  return a.status === 404 && b?.error === 'Not Found' && b.statusCode === 404;
}

/** `{"error":{"code","message"}}` and nothing else. */
function checkErrorBody(a: Answer, what: string, codeOk: (code: string) => boolean): void {
  const body = decodeAnswer(a, what) as { error?: { code?: unknown; message?: unknown } };
  if (isNotFound(a, body)) return;
  const e = body?.error;
  const keys = body && typeof body === 'object' ? Object.keys(body) : [];
  if (
    !e ||
    typeof e !== 'object' ||
    keys.length !== 1 ||
    typeof e.code !== 'string' ||
    typeof e.message !== 'string' ||
    Object.keys(e).length !== 2
  ) {
    violated('body', `${what}: error body is not {"error":{"code","message"}}: ${showBytes(a.raw, 300)}`);
  }
  if (!codeOk(e.code as string))
    violated('code', `${what}: status ${a.status} with error code "${e.code as string}"`);
  if ((e.message as string).length > 1024)
    violated('body', `${what}: error message of ${(e.message as string).length} characters echoes input`);
}

function checkIncoming(h: Harness, protocol: string): void {
  for (const { incoming: i, message } of h.calls) {
    const bad = (why: string) => violated('pipeline-input', `${why}: ${JSON.stringify(i).slice(0, 400)}`);
    if (i.protocol !== protocol) bad('wrong protocol');
    if (!(STAGES as readonly string[]).includes(i.stage)) bad(`stage "${String(i.stage)}"`);
    if (typeof i.sessionId !== 'string' || i.sessionId === '') bad('no session id');
    if (typeof i.client?.ip !== 'string') bad('client.ip is not a string');
    if (
      i.client.port !== undefined &&
      !(Number.isInteger(i.client.port) && i.client.port >= 0 && i.client.port <= 65535)
    )
      bad('client.port out of range');
    for (const k of ['ptr', 'helo'] as const)
      if (i.client[k] !== undefined && typeof i.client[k] !== 'string') bad(`client.${k} is not a string`);
    if (i.from !== undefined && typeof i.from.address !== 'string') bad('from.address is not a string');
    if (i.to !== undefined && (!Array.isArray(i.to) || i.to.some((r) => typeof r.address !== 'string')))
      bad('to is not a list of addresses');
    if (i.rcpt !== undefined && typeof i.rcpt !== 'string') bad('rcpt is not a string');
    if (i.message) {
      const m = i.message;
      if (!Number.isSafeInteger(m.size) || m.size < 0) bad(`message.size ${m.size}`);
      if (m.storedBytes !== (message?.byteLength ?? 0))
        bad(`message.storedBytes ${m.storedBytes} but ${message?.byteLength ?? 0} bytes handed over`);
      if (m.subject !== undefined && typeof m.subject !== 'string') bad('message.subject is not a string');
    }
  }
}

const STALWART_ACTIONS = ['accept', 'reject', 'discard', 'quarantine'];

function checkStalwartAnswer(a: Answer, c: HttpCase, h: Harness): void {
  checkCommon(a, h, [200, 400, 401, 413, 415]);
  if (c.valid && a.status !== 200)
    violated('valid', `a valid request was answered ${a.status}: ${showBytes(a.raw, 300)}`);
  if (a.status !== 200) {
    if (h.calls.length > 0) violated('pipeline', `${a.status} after the pipeline was called`);
    if (a.status === 401 && !a.headers['www-authenticate'])
      violated('header', '401 without WWW-Authenticate');
    checkErrorBody(a, 'stalwart', (code) => code.startsWith('HOOKGATE_ERR_'));
    return;
  }
  if (h.calls.length !== 1) violated('pipeline', `200 after ${h.calls.length} pipeline calls`);
  checkIncoming(h, 'stalwart');
  const r = decodeAnswer(a, 'stalwart') as {
    action?: unknown;
    response?: { status?: unknown; message?: unknown };
    modifications?: unknown;
  };
  if (!r || typeof r !== 'object' || !STALWART_ACTIONS.includes(r.action as string))
    violated('answer', `no valid action: ${showBytes(a.raw, 300)}`);
  if (r.action === 'reject') {
    const s = r.response?.status;
    if (
      typeof s !== 'number' ||
      s < 400 ||
      s > 599 ||
      typeof r.response?.message !== 'string' ||
      /[\r\n]/.test(r.response.message)
    )
      violated('answer', `bad reject response: ${showBytes(a.raw, 300)}`);
  }
  if (r.modifications !== undefined) {
    if (!Array.isArray(r.modifications)) violated('answer', 'modifications is not a list');
    for (const m of r.modifications as { type?: unknown; value?: unknown }[]) {
      if (typeof m?.type !== 'string') violated('answer', 'modification without a type');
      if (m.type.endsWith('Header') && typeof m.value === 'string' && /[\r\n]/.test(m.value))
        violated('answer', 'header value with CR or LF (header injection)');
    }
  }
}

/** A draft-01 error answer whose code and status the catalogue pairs (INVALID_REQUEST also goes with 415). */
const DRAFT_15 = (status: number, code: string) =>
  Object.values(DRAFT01_ERRORS).some((e) => e.code === code && e.status === status);

function checkDraftError(a: Answer, what: string, h: Harness): void {
  if (a.status === 401 && !a.headers['www-authenticate']) violated('header', '401 without WWW-Authenticate');
  if ((a.status === 429 || a.status === 503) && !a.headers['retry-after'])
    violated('header', `${a.status} without Retry-After`);
  // A URL that matches no route belongs to no protocol: hookgate's generic error body is right there.
  const routed = h.route !== undefined && (h.route.startsWith(BASE) || h.route.startsWith('/.well-known/'));
  checkErrorBody(
    a,
    what,
    (code) => DRAFT_15(a.status, code) || (!routed && code.startsWith('HOOKGATE_ERR_')),
  );
}

function checkOps(a: Answer, c: HttpCase): void {
  const want = c.body?.encoding === 'cbor' ? 'application/cbor' : 'application/json';
  const type = mediaType(a.headers['content-type']);
  if (c.valid && type !== want) violated('answer', `200 as ${type} for a ${want} request`);
  const ops = decodeAnswer(a, 'hook') as Record<string, unknown>;
  if (!ops || typeof ops !== 'object' || Array.isArray(ops))
    violated('answer', '200 without an operations object');
  const keys = Object.keys(ops);
  if (keys.length === 0 || keys.some((k) => !['set', 'add', 'delete'].includes(k)))
    violated('answer', `operations with keys ${keys.join(',')}`);
  for (const k of keys) {
    const list = ops[k];
    if (!Array.isArray(list) || list.length === 0) violated('answer', `${k} is not a non-empty list`);
    for (const op of list as { path?: unknown; value?: unknown }[]) {
      if (typeof op?.path !== 'string' || !op.path.startsWith('/'))
        violated('answer', `${k} operation without a JSON Pointer path`);
      if (op.path === '/response') {
        const v = op.value as { code?: unknown; message?: unknown } | undefined;
        if (
          typeof v?.code !== 'number' ||
          v.code < 400 ||
          v.code > 599 ||
          typeof v.message !== 'string' ||
          /[\r\n\0]/.test(v.message)
        )
          violated('answer', `bad /response ${JSON.stringify(v).slice(0, 200)}`);
      }
      if (op.path.startsWith('/message/headers')) {
        const v = op.value as { value?: unknown } | string | undefined;
        const value = typeof v === 'string' ? v : v?.value;
        if (typeof value === 'string' && /[\r\n\0]/.test(value))
          violated('answer', 'header value with CR, LF or NUL (header injection)');
      }
    }
  }
}

function checkHookAnswer(a: Answer, c: HttpCase, h: Harness): void {
  checkCommon(a, h, [200, 204, 400, 401, 403, 404, 410, 413, 415, 429, 503]);
  if (
    c.valid &&
    a.status !== 200 &&
    a.status !== 204 &&
    !(a.status === 503 && c.verdict.action === 'tempfail')
  )
    violated('valid', `a valid hook call was answered ${a.status}: ${showBytes(a.raw, 300)}`);
  if (a.status >= 400) {
    if (h.calls.length > 0 && a.status !== 503)
      violated('pipeline', `${a.status} after the pipeline was called`);
    checkDraftError(a, 'hook', h);
    return;
  }
  if (h.calls.length !== 1) violated('pipeline', `${a.status} after ${h.calls.length} pipeline calls`);
  checkIncoming(h, 'draft01');
  if (a.status === 204) {
    if (a.raw.length > 0) violated('answer', '204 with a body');
    return;
  }
  checkOps(a, c);
}

function checkRegistrationAnswer(a: Answer, c: HttpCase, h: Harness): void {
  const allowed: Record<HttpCase['kind'], number[]> = {
    registration: [201, 400, 401, 403, 409, 413, 415, 422],
    discovery: [200],
    status: [200, 401, 403, 404],
    deregister: [200, 401, 403, 404],
    hook: [],
    stalwart: [],
  };
  checkCommon(a, h, allowed[c.kind]);
  if (h.calls.length > 0) violated('pipeline', 'the pipeline was called by a registration endpoint');
  if (c.valid && a.status >= 300)
    violated('valid', `a valid ${c.kind} request was answered ${a.status}: ${showBytes(a.raw, 300)}`);
  if (a.status >= 400) return checkDraftError(a, c.kind, h);
  const body = decodeAnswer(a, c.kind) as Record<string, unknown>;
  if (c.kind === 'registration') {
    if (typeof body.registrationId !== 'string' || !DRAFT01_REGISTRATION_ID.test(body.registrationId))
      violated('answer', `registrationId ${String(body.registrationId)}`);
    if (a.headers.location !== `${BASE}/registrations/${body.registrationId}`)
      violated('answer', `Location ${String(a.headers.location)}`);
    if (typeof body.hookEndpoint !== 'string') violated('answer', 'no hookEndpoint');
  } else if (c.kind === 'discovery') {
    if (body.version !== '1.0') violated('answer', 'discovery without version 1.0');
  } else if (typeof body.registrationId !== 'string')
    violated('answer', `${c.kind} answer without registrationId`);
}

// ---------------------------------------------------------------------------------------------------------------
// Targets

async function send(h: Harness, c: HttpCase, payload: Buffer | undefined): Promise<Answer & { ms: number }> {
  const [res, ms] = await cpuTime(() =>
    h.app.inject({
      method: c.method as 'POST',
      url: c.url,
      headers: c.headers,
      ...(payload !== undefined ? { payload } : {}),
    }),
  );
  return { status: res.statusCode, headers: res.headers, raw: res.rawPayload, ms };
}

function httpTarget(
  name: string,
  description: string,
  arbitrary: fc.Arbitrary<HttpCase>,
  check: (a: Answer, c: HttpCase, h: Harness) => void,
): Target<HttpCase> {
  const h = new Harness();
  return {
    name,
    description,
    arbitrary,
    setup: () => h.start(),
    teardown: () => h.app.close(),
    show: showCase,
    async check(c) {
      h.reset(c.verdict);
      const payload = encodeBody(c);
      const first = await send(h, c, payload);
      check(first, c, h);
      if (!c.twice) return first.ms;
      const calls = h.calls.length;
      const again = await send(h, c, payload);
      // Time is per request: the replay is a second request, not a longer first one.
      if (first.status !== 200 && first.status !== 204) return Math.max(first.ms, again.ms);
      if (again.status !== first.status || !again.raw.equals(first.raw)) {
        violated(
          'replay',
          `a retry with the same request id got ${again.status} ${showBytes(again.raw, 200)} after ${first.status} ${showBytes(first.raw, 200)}`,
        );
      }
      if (h.calls.length !== calls) violated('replay', 'a retry with the same request id was scanned again');
      return Math.max(first.ms, again.ms);
    },
  };
}

function stalwartTarget(
  name: string,
  encodings: readonly ('json' | 'msgpack')[],
  types: readonly string[],
): Target<HttpCase> {
  const seeds = stalwartSeeds();
  const arbitrary = fc
    .record({
      type: fc.constantFrom(...types),
      body: bodyArb(seeds, stalwartGenerated, fc.constantFrom<Encoding>(...encodings)),
      byteOps,
      auth: headerArb(`Bearer ${TOKEN}`, AUTH_VARIANTS),
      accept: headerArb(undefined, [
        'application/json',
        'application/msgpack',
        'application/x-msgpack',
        '*/*',
        'text/html',
        'application/msgpack;q=0, application/json;q=abc',
        'application/cbor',
      ]),
      ctVariant: headerArb('(canonical)', [
        'application/json; charset=utf-8',
        'application/json; charset=latin1',
        'text/plain',
        'application/msgpack',
        'application/cbor',
        'multipart/form-data; boundary=x',
        'application/json;',
        ';',
      ]),
      verdict: verdictArb,
    })
    .map(({ type, body, byteOps: ops, auth, accept, ctVariant, verdict }): HttpCase => {
      const { headers, canonical } = headersFrom({
        authorization: auth,
        accept,
        'content-type': { ...ctVariant, value: ctVariant.value === '(canonical)' ? type : ctVariant.value },
      });
      return {
        method: 'POST',
        url: '/hooks/stalwart',
        headers,
        body: body.body,
        byteOps: ops,
        verdict,
        valid: canonical && !body.mutated && ops.length === 0,
        twice: false,
        kind: 'stalwart',
      };
    });
  return httpTarget(
    name,
    `POST /hooks/stalwart, ${encodings.join('/')} bodies (${types.join(', ')})`,
    arbitrary,
    checkStalwartAnswer,
  );
}

function hookTarget(name: string, encoding: 'json' | 'cbor'): Target<HttpCase> {
  const seeds = hookSeeds();
  const trees = seeds.map((s) => s.tree);
  const type = encoding === 'cbor' ? 'application/cbor' : 'application/json';
  const requestId = fc.oneof(
    {
      weight: 10,
      arbitrary: fc
        .stringMatching(/^[A-Za-z0-9._~-]{1,36}$/)
        .map((v) => ({ value: v as string | string[] | undefined, canonical: true })),
    },
    { weight: 1, arbitrary: headerArb('x', ['', ' ', 'a b', 'ü', 'x'.repeat(129), '../x', 'a,b']) },
  );
  const registration = fc.oneof(
    { weight: 12, arbitrary: fc.constant('(seed)') },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        'reg-active',
        'reg-bridge',
        'reg-dereg',
        'reg-expired',
        'reg-other',
        'reg-none',
        'reg%00',
        '..',
        'reg-active/..',
        'x'.repeat(300),
        '%E2%82%AC',
      ),
    },
  );
  const arbitrary = fc
    .record({
      body: bodyArb(trees, hookGenerated, fc.constant<Encoding>(encoding)),
      byteOps,
      auth: headerArb(`Bearer ${TOKEN}`, AUTH_VARIANTS),
      accept: headerArb(undefined, [
        'application/json',
        'application/cbor',
        '*/*',
        'application/cbor;q=0',
        'text/html',
      ]),
      ct: headerArb(type, [
        'application/json',
        'application/cbor',
        'application/json; charset=utf-8',
        'text/plain',
        'application/msgpack',
        '',
      ]),
      requestId,
      registration,
      headerRegistration: fc.oneof(
        { weight: 12, arbitrary: fc.constant('(url)') },
        { weight: 1, arbitrary: fc.constantFrom('reg-active', 'reg-other', '', 'reg-none') },
      ),
      twice: fc.boolean(),
      verdict: verdictArb,
    })
    .map((r): HttpCase => {
      // A seed sent as is goes to its own registration; mutated and generated trees to the one with every property.
      const seedReg = seeds.find((s) => s.tree === (r.body.body.tree ?? null))?.registration ?? 'reg-active';
      const reg = r.registration === '(seed)' ? seedReg : r.registration;
      const headerReg = r.headerRegistration === '(url)' ? reg : r.headerRegistration;
      const { headers, canonical } = headersFrom({
        authorization: r.auth,
        accept: r.accept,
        'content-type': r.ct,
        'x-mta-hooks-request-id': r.requestId,
        'x-mta-hooks-registration': { value: headerReg, canonical: r.headerRegistration === '(url)' },
      });
      const valid = canonical && r.registration === '(seed)' && !r.body.mutated && r.byteOps.length === 0;
      return {
        method: 'POST',
        url: `${BASE}/hooks/${reg}`,
        headers,
        body: r.body.body,
        byteOps: r.byteOps,
        verdict: r.verdict,
        valid,
        twice: r.twice,
        kind: 'hook',
      };
    });
  return httpTarget(
    name,
    `POST ${BASE}/hooks/{id}, draft-01 ${encoding.toUpperCase()} hook requests`,
    arbitrary,
    checkHookAnswer,
  );
}

function registrationTarget(): Target<HttpCase> {
  const seeds = registrationSeeds();
  const register = fc
    .record({
      body: bodyArb(seeds, registrationGenerated, fc.constantFrom<Encoding>('json', 'cbor')),
      byteOps,
      auth: headerArb(`Bearer ${TOKEN}`, AUTH_VARIANTS),
      accept: headerArb(undefined, ['application/json', 'application/cbor', '*/*', 'text/html']),
      ct: headerArb('(canonical)', [
        'application/json',
        'application/cbor',
        'text/plain',
        'application/json; charset=utf-16',
        '',
      ]),
      renew: headerArb(undefined, ['reg-active', 'reg-other', 'reg-dereg', 'reg-none', 'x'.repeat(300)]),
      verdict: verdictArb,
    })
    .map((r): HttpCase => {
      const encoding = r.body.body.encoding ?? 'json';
      const type = encoding === 'cbor' ? 'application/cbor' : 'application/json';
      const { headers, canonical } = headersFrom({
        authorization: r.auth,
        accept: r.accept,
        'content-type': { ...r.ct, value: r.ct.value === '(canonical)' ? type : r.ct.value },
        'x-mta-hooks-registration': r.renew,
      });
      return {
        method: 'POST',
        url: `${BASE}/registrations`,
        headers,
        body: r.body.body,
        byteOps: r.byteOps,
        verdict: r.verdict,
        valid: canonical && !r.body.mutated && r.byteOps.length === 0,
        twice: false,
        kind: 'registration',
      };
    });
  const ids = fc.oneof(
    fc.constantFrom(
      'reg-active',
      'reg-dereg',
      'reg-expired',
      'reg-other',
      'reg-none',
      '%00',
      '%2F',
      'a'.repeat(256),
      '{registration_id}',
      '..',
    ),
    fc.string({ unit: fc.constantFrom(...'az09-_:%.~'), maxLength: 20 }),
  );
  const lifecycle = fc
    .record({
      kind: fc.constantFrom('discovery' as const, 'status' as const, 'deregister' as const),
      id: ids,
      auth: headerArb(`Bearer ${TOKEN}`, AUTH_VARIANTS),
      accept: headerArb(undefined, [
        'application/json',
        'application/cbor',
        '*/*',
        'application/cbor;q=0.5, application/json;q=0.9',
        'text/html',
        'application/cbor;q=x',
      ]),
      statusPath: fc.boolean(),
      verdict: verdictArb,
    })
    .map((r): HttpCase => {
      const { headers, canonical } = headersFrom({ authorization: r.auth, accept: r.accept });
      const url =
        r.kind === 'discovery'
          ? '/.well-known/mta-hooks'
          : `${BASE}/registrations/${encodeURI(r.id)}${r.kind === 'status' && r.statusPath ? '/status' : ''}`;
      const valid = r.kind === 'discovery' || (canonical && r.id === 'reg-active');
      return {
        method: r.kind === 'deregister' ? 'DELETE' : 'GET',
        url,
        headers,
        byteOps: [],
        verdict: r.verdict,
        valid,
        twice: false,
        kind: r.kind,
      };
    });
  const arbitrary = fc.oneof({ weight: 5, arbitrary: register }, { weight: 1, arbitrary: lifecycle });
  return httpTarget(
    'draft01-registration',
    `POST ${BASE}/registrations (JSON and CBOR), discovery, status and deregistration`,
    arbitrary,
    checkRegistrationAnswer,
  );
}

export const HTTP_TARGETS: Record<string, () => Target<HttpCase>> = {
  'stalwart-json': () => stalwartTarget('stalwart-json', ['json'], ['application/json']),
  'stalwart-msgpack': () =>
    stalwartTarget(
      'stalwart-msgpack',
      ['msgpack'],
      ['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack'],
    ),
  'draft01-json': () => hookTarget('draft01-json', 'json'),
  'draft01-cbor': () => hookTarget('draft01-cbor', 'cbor'),
  'draft01-registration': registrationTarget,
};
