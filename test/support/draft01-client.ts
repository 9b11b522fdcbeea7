/**
 * An MTA-side draft-01 client (draft-degennaro-mta-hooks-01) that behaves like a real MTA, after the rspamd
 * Postfix bridge: discovery, registration with the checks the bridge makes on the answer, one call per stage with
 * `X-MTA-Hooks-Registration` and a UUID `X-MTA-Hooks-Request-Id`, retries with the same request id on 5xx, 429
 * and network errors (exponential backoff, Retry-After honoured), registration again after 404/410 with the same
 * request id resent, deregistration. JSON (binary as Base64) or CBOR (binary as byte strings).
 *
 * It also applies answers the way the draft tells an MTA to (`applyOperations`), so tests check what an MTA would
 * end up with, not only the operations' shape. Test code only; no hookgate package is imported.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { randomUUID } from 'node:crypto';
import { Decoder, Encoder } from 'cbor-x';
import { toEml, type Sample } from './samples.js';

export type Serialization = 'json' | 'cbor';

const cborEncoder = new Encoder({ useRecords: false, tagUint8Array: false, variableMapSize: true });
const cborDecoder = new Decoder({ useRecords: false, mapsAsObjects: true });

/** Binary values as the serialization wants them: Base64 strings in JSON, byte strings in CBOR. */
export function encodeBody(value: unknown, serialization: Serialization): Buffer {
  if (serialization === 'cbor') return cborEncoder.encode(value);
  return Buffer.from(JSON.stringify(base64Binary(value)));
}

function base64Binary(value: unknown): unknown {
  if (value instanceof Uint8Array)
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (Array.isArray(value)) return value.map(base64Binary);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, base64Binary(v)]));
  return value;
}

export function decodeBody(bytes: Buffer, contentType: string | undefined): unknown {
  const t = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (t === 'application/cbor') return cborDecoder.decode(bytes);
  if (t === 'application/json') return JSON.parse(bytes.toString('utf8')) as unknown;
  throw new Error(`unexpected Content-Type "${contentType ?? ''}"`);
}

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  raw: Buffer;
  /** The decoded body, when there is one. */
  body?: unknown;
}

export interface TlsClientOptions {
  ca?: Buffer | string;
  cert?: Buffer | string;
  key?: Buffer | string;
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
}

export interface ClientOptions {
  /** Scanner base URL, e.g. https://127.0.0.1:8443. */
  baseUrl: string;
  token?: string;
  serialization?: Serialization;
  tls?: TlsClientOptions;
  /** Registration request fields. */
  name?: string;
  timeoutMs?: number;
  inbound?: { stages: string[]; properties: string[] | null } | null;
  outbound?: { stages: string[]; properties: string[] | null } | null;
  /** Retries after the first attempt (the bridge's default is 2). */
  maxRetries?: number;
  /** First backoff, ms (doubled per retry, capped at 5 s, plus 0-100 ms jitter as the draft recommends). */
  backoffMs?: number;
  /** Cap on an honoured Retry-After, ms (tests keep it short). */
  maxRetryAfterMs?: number;
  /** Request timeout, ms; timeouts are not retried (as the bridge does). */
  requestTimeoutMs?: number;
}

export interface Registration {
  registrationId: string;
  status: string;
  createdAt: string;
  expiresAt: string | null;
  hookEndpoint: string;
  negotiated: {
    serialization: string;
    inbound: { stages: string[]; properties: string[] } | null;
    outbound: { stages: string[]; properties: string[] } | null;
  };
  endpoints: { deregistration: string; status: string };
}

export interface Operations {
  set?: { path: string; value: unknown }[] | null;
  add?: { path: string; value: unknown; index?: number | null }[] | null;
  delete?: { path: string }[] | null;
}

export interface HookResult {
  status: number;
  ops?: Operations;
  headers: IncomingHttpHeaders;
  requestId: string;
  /** HTTP attempts made (1 = no retry). */
  attempts: number;
  /** Registrations made during the call (404/410 recovery). */
  reregistered: number;
  error?: { code: string; message: string };
}

export const DEFAULT_INBOUND = ['connect', 'ehlo', 'mail', 'rcpt', 'data'];
/** What the bridge offers in its latest version. */
export const BRIDGE_PROPERTIES = [
  '/stage',
  '/action',
  '/timestamp',
  '/protocol',
  '/rawMessage',
  '/envelope',
  '/queue',
  '/client',
  '/tls',
  '/auth',
  '/server',
];

const REGISTRATION_ID = /^[A-Za-z0-9_:-]{1,255}$/;

export class Draft01Client {
  readonly options: Required<
    Pick<
      ClientOptions,
      'serialization' | 'maxRetries' | 'backoffMs' | 'maxRetryAfterMs' | 'requestTimeoutMs' | 'name'
    >
  > &
    ClientOptions;
  registration?: Registration;
  discovery?: Record<string, unknown>;
  readonly #agent: HttpAgent | HttpsAgent;
  readonly #https: boolean;

  constructor(options: ClientOptions) {
    this.options = {
      serialization: 'json',
      maxRetries: 2,
      backoffMs: 100,
      maxRetryAfterMs: 5_000,
      requestTimeoutMs: 30_000,
      name: 'mx.test.invalid',
      ...options,
    };
    this.#https = options.baseUrl.startsWith('https:');
    this.#agent = this.#https
      ? new HttpsAgent({ keepAlive: true, maxSockets: 64, ...(options.tls ?? {}) })
      : new HttpAgent({ keepAlive: true, maxSockets: 64 });
  }

  close(): void {
    this.#agent.destroy();
  }

  /** One HTTP exchange, no retries. */
  async http(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<HttpAnswer> {
    const url = new URL(path, this.options.baseUrl);
    const payload = body === undefined ? undefined : encodeBody(body, this.options.serialization);
    const type = this.options.serialization === 'cbor' ? 'application/cbor' : 'application/json';
    const h: Record<string, string> = {
      accept: type,
      ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
      ...(payload ? { 'content-type': type, 'content-length': String(payload.byteLength) } : {}),
      ...headers,
    };
    for (const [k, v] of Object.entries(h)) if (v === '') delete h[k];
    const send = this.#https ? httpsRequest : httpRequest;
    return new Promise<HttpAnswer>((resolve, reject) => {
      const req = send(
        url,
        { method, headers: h, agent: this.#agent, timeout: this.options.requestTimeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const raw = Buffer.concat(chunks);
            const answer: HttpAnswer = { status: res.statusCode ?? 0, headers: res.headers, raw };
            if (raw.byteLength > 0) {
              try {
                answer.body = decodeBody(raw, res.headers['content-type']);
              } catch (err) {
                return reject(err instanceof Error ? err : new Error(String(err)));
              }
            }
            resolve(answer);
          });
        },
      );
      req.on('timeout', () =>
        req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })),
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  async discover(): Promise<Record<string, unknown>> {
    const res = await this.http('GET', '/.well-known/mta-hooks', undefined, { authorization: '' });
    if (res.status !== 200) throw new Error(`discovery answered ${res.status}`);
    this.discovery = res.body as Record<string, unknown>;
    return this.discovery;
  }

  registrationRequest(): Record<string, unknown> {
    return {
      name: this.options.name,
      version: 'draft01-client 1.0',
      timeoutMs: this.options.timeoutMs ?? null,
      serialization: this.options.serialization,
      inbound:
        this.options.inbound === undefined
          ? { stages: DEFAULT_INBOUND, properties: BRIDGE_PROPERTIES }
          : this.options.inbound,
      outbound: this.options.outbound ?? null,
    };
  }

  /** Registers (discovering the endpoint first if needed) and checks the answer as the rspamd bridge does. */
  async register(extraHeaders: Record<string, string> = {}): Promise<Registration> {
    const endpoints = (this.discovery ?? (await this.discover())).endpoints as { registration: string };
    const request = this.registrationRequest();
    const res = await this.http('POST', endpoints.registration, request, extraHeaders);
    if (res.status !== 201)
      throw Object.assign(new Error(`registration answered ${res.status}: ${JSON.stringify(res.body)}`), {
        answer: res,
      });
    const reg = res.body as Registration;
    const problems: string[] = [];
    if (typeof res.headers.location !== 'string') problems.push('no Location header');
    if (reg.status !== 'active') problems.push(`status ${reg.status}`);
    if (reg.negotiated.serialization !== this.options.serialization) problems.push('serialization differs');
    if (!REGISTRATION_ID.test(reg.registrationId)) problems.push('registrationId charset');
    for (const dir of ['inbound', 'outbound'] as const) {
      const asked = request[dir] as { stages: string[]; properties: string[] | null } | null;
      const got = reg.negotiated[dir];
      if (!asked) continue;
      if (!got || JSON.stringify(got.stages) !== JSON.stringify(asked.stages))
        problems.push(`${dir} stages differ from the request`);
      if (got && asked.properties && got.properties.some((p) => !asked.properties!.includes(p)))
        problems.push(`${dir} properties not a subset`);
      if (got && (!got.properties.includes('/stage') || !got.properties.includes('/action')))
        problems.push(`${dir} properties lack /stage or /action`);
    }
    const base = new URL(endpoints.registration, this.options.baseUrl);
    for (const u of [reg.hookEndpoint, reg.endpoints.deregistration, reg.endpoints.status]) {
      if (new URL(u, base).origin !== base.origin) problems.push(`${u} is not same-origin`);
    }
    if (reg.expiresAt !== null && Date.parse(reg.expiresAt) <= Date.now())
      problems.push('expiresAt not in the future');
    if (problems.length > 0) throw new Error(`registration answer refused: ${problems.join('; ')}`);
    this.registration = reg;
    return reg;
  }

  #resolve(u: string): string {
    const base = new URL(
      (this.discovery?.endpoints as { registration?: string } | undefined)?.registration ?? '/',
      this.options.baseUrl,
    );
    const r = new URL(u, base);
    return `${r.pathname}${r.search}`;
  }

  async status(): Promise<HttpAnswer> {
    if (!this.registration) throw new Error('not registered');
    return this.http('GET', this.#resolve(this.registration.endpoints.status));
  }

  /** Deregisters; 200, 204, 404 and 410 all count as done (the bridge's rule). */
  async deregister(): Promise<HttpAnswer> {
    if (!this.registration) throw new Error('not registered');
    const res = await this.http(
      'DELETE',
      this.#resolve(this.registration.endpoints.deregistration),
      undefined,
      { 'x-mta-hooks-registration': this.registration.registrationId },
    );
    if (![200, 204, 404, 410].includes(res.status)) throw new Error(`deregistration answered ${res.status}`);
    return res;
  }

  /**
   * One hook invocation as an MTA makes it: same request id on every retry; 5xx, 429 and network errors retried
   * with backoff; 404/410 → register again once and resend. 200 must carry JSON or CBOR with only set/add/delete.
   */
  async hook(
    body: Record<string, unknown>,
    opts: { requestId?: string; headers?: Record<string, string> } = {},
  ): Promise<HookResult> {
    if (!this.registration) await this.register();
    const requestId = opts.requestId ?? randomUUID();
    let attempts = 0;
    let reregistered = 0;
    for (let retry = 0; ;) {
      const reg = this.registration!;
      attempts++;
      let res: HttpAnswer;
      try {
        res = await this.http('POST', this.#resolve(reg.hookEndpoint), body, {
          'x-mta-hooks-registration': reg.registrationId,
          'x-mta-hooks-request-id': requestId,
          ...(opts.headers ?? {}),
        });
      } catch (err) {
        if ((err as { code?: string }).code === 'ETIMEDOUT' || retry >= this.options.maxRetries) throw err;
        await this.#backoff(retry++, undefined);
        continue;
      }
      if ((res.status === 404 || res.status === 410) && reregistered === 0) {
        reregistered++;
        await this.register();
        continue;
      }
      if ((res.status >= 500 || res.status === 429) && retry < this.options.maxRetries) {
        await this.#backoff(retry++, res.headers['retry-after']);
        continue;
      }
      const result: HookResult = {
        status: res.status,
        headers: res.headers,
        requestId,
        attempts,
        reregistered,
      };
      if (res.status === 200) {
        const type = (res.headers['content-type'] ?? '').split(';')[0]!.trim();
        const want = this.options.serialization === 'cbor' ? 'application/cbor' : 'application/json';
        if (type !== want) throw new Error(`200 with Content-Type "${type}", expected ${want}`);
        const ops = res.body as Record<string, unknown>;
        const unknown = Object.keys(ops).filter((k) => !['set', 'add', 'delete'].includes(k));
        if (unknown.length) throw new Error(`answer has unknown keys ${unknown.join(', ')}`);
        result.ops = ops as Operations;
      } else if (res.status !== 204) {
        result.error = (res.body as { error?: { code: string; message: string } } | undefined)?.error ?? {
          code: '',
          message: '',
        };
      }
      return result;
    }
  }

  async #backoff(retry: number, retryAfter: string | string[] | undefined): Promise<void> {
    const ra =
      typeof retryAfter === 'string' && /^\d+$/.test(retryAfter) ? Number(retryAfter) * 1000 : undefined;
    const wait =
      ra !== undefined
        ? Math.min(ra, this.options.maxRetryAfterMs)
        : Math.min(this.options.backoffMs * 2 ** retry, 5_000) + Math.random() * 100;
    await new Promise((r) => setTimeout(r, wait));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Requests as a draft-01 MTA sends them (the rspamd bridge's shapes)

export interface Session {
  clientIp?: string;
  clientPort?: number;
  helo?: string;
  login?: string;
  /** Envelope sender; `null` = the null reverse-path. */
  from?: string | null;
  rcpts?: string[];
  queueId?: string | null;
  /** Restrict the body to these top-level properties (what was negotiated). */
  properties?: string[];
}

const server = { name: 'mx1.test.invalid', ip: '198.51.100.25', port: 25 };

/** UTCDate with milliseconds, as the bridge sends it. */
export function timestamp(at = Date.now()): string {
  return new Date(at).toISOString();
}

/** One inbound stage request. `rawMessage` is a Buffer (the client encodes it per serialization). */
export function draft01Request(
  stage: 'connect' | 'ehlo' | 'mail' | 'rcpt' | 'data',
  s: Session = {},
  sample?: Sample | Buffer,
  rcptCount?: number,
): Record<string, unknown> {
  const rcpts = s.rcpts ?? ['bob@example.net'];
  const early = stage === 'connect' || stage === 'ehlo';
  const to =
    stage === 'mail' || early
      ? []
      : rcpts
          .slice(0, rcptCount ?? rcpts.length)
          .map((address) => ({ address, parameters: { NOTIFY: 'FAILURE,DELAY' } }));
  const raw =
    stage === 'data' && sample
      ? Buffer.isBuffer(sample)
        ? sample
        : Buffer.from(toEml(sample), 'utf8')
      : null;
  const body: Record<string, unknown> = {
    stage,
    action: 'accept',
    timestamp: timestamp(),
    protocol: { version: '1.0' },
    rawMessage: raw,
    envelope: early
      ? null
      : {
          from: {
            address: s.from === undefined ? 'alice@example.org' : s.from,
            parameters: { SIZE: '2048', BODY: '8BITMIME', SMTPUTF8: '' },
          },
          to,
        },
    queue: stage === 'data' ? { id: s.queueId ?? '4Xk2Lz0m1Tz9q' } : null,
    client: {
      ip: s.clientIp ?? '203.0.113.45',
      port: s.clientPort ?? 40522,
      ptr: 'mail.sender.example',
      ehlo: stage === 'connect' ? null : (s.helo ?? 'mail.sender.example'),
      activeConnections: 1,
    },
    tls: null,
    auth: s.login ? { login: s.login, method: 'PLAIN' } : null,
    server,
  };
  if (s.properties) for (const k of Object.keys(body)) if (!s.properties.includes(`/${k}`)) delete body[k];
  return body;
}

/** The inbound stages of one transaction: connect, ehlo, mail, rcpt per recipient, data. */
export function draft01Transaction(s: Session, sample: Sample | Buffer): Record<string, unknown>[] {
  const rcpts = s.rcpts ?? ['bob@example.net'];
  return [
    draft01Request('connect', s),
    draft01Request('ehlo', s),
    draft01Request('mail', s),
    ...rcpts.map((_, i) => draft01Request('rcpt', s, undefined, i + 1)),
    draft01Request('data', s, sample),
  ];
}

export interface OutboundRecipient {
  address: string;
  status: 'pending' | 'delivered' | 'deferred' | 'failed' | 'failed-silent';
  code?: number;
}

/** One outbound stage request (delivery, defer or dsn). At dsn, `message` is the DSN about to be sent. */
export function outboundRequest(
  stage: 'delivery' | 'defer' | 'dsn',
  recipients: OutboundRecipient[],
  message?: Buffer,
  queueId = 'q-7f3a91',
): Record<string, unknown> {
  return {
    stage,
    action: 'continue',
    timestamp: timestamp(),
    protocol: { version: '1.0' },
    queue: { id: queueId, expiresAt: timestamp(Date.now() + 5 * 86_400_000), attempts: 1 },
    server: { name: 'out1.test.invalid', ip: '198.51.100.50', port: 25 },
    envelope: {
      from: { address: 'alice@example.org', parameters: {} },
      to: recipients.map((r) => ({
        address: r.address,
        parameters: {},
        status: r.status,
        attempt: 1,
        lastResponse: r.code
          ? { code: r.code, enhancedCode: `${String(r.code)[0]}.0.0`, message: 'remote said so' }
          : null,
        nextAttemptAt: r.status === 'deferred' ? timestamp(Date.now() + 900_000) : null,
        nextDsnAt: null,
        queueName: 'remote',
      })),
    },
    message: message ? { size: message.byteLength } : null,
    rawMessage: message ?? null,
  };
}

/** A DSN (multipart/report) that returns the original message, as an MTA would generate it. */
export function dsnMessage(original: Sample, rcpt = 'u3@gone.example'): Buffer {
  const returned = toEml(original);
  return Buffer.from(
    'From: MAILER-DAEMON@mx1.test.invalid\r\nTo: alice@example.org\r\nSubject: Undelivered Mail Returned to Sender\r\n' +
      'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="dsn1"\r\n\r\n' +
      `--dsn1\r\nContent-Type: text/plain\r\n\r\nYour message to ${rcpt} could not be delivered.\r\n` +
      `--dsn1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx1.test.invalid\r\n\r\nFinal-Recipient: rfc822; ${rcpt}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n` +
      `--dsn1\r\nContent-Type: message/rfc822\r\n\r\n${returned}\r\n--dsn1--\r\n`,
    'utf8',
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Applying answers as the draft tells an MTA to

function decodePointer(path: string): string[] {
  if (!path.startsWith('/')) throw new Error(`not a JSON Pointer: ${path}`);
  return path
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parent(
  root: Record<string, unknown>,
  path: string,
): { container: Record<string, unknown> | unknown[]; key: string } {
  const parts = decodePointer(path);
  let node: unknown = root;
  for (const p of parts.slice(0, -1)) {
    if (node === null || typeof node !== 'object') throw new Error(`path ${path} does not exist`);
    node = (node as Record<string, unknown>)[p];
  }
  if (node === null || typeof node !== 'object') throw new Error(`path ${path} does not exist`);
  return { container: node as Record<string, unknown> | unknown[], key: parts[parts.length - 1]! };
}

/**
 * Applies a draft-01 answer to a request body: all `set`, then all `add` (arrays: insert at `index`, or append),
 * then all `delete`, each in array order, indices against the structure as it is at that moment. Binary values are
 * decoded from Base64 for JSON answers. Returns a new object; throws on an operation that does not apply.
 */
export function applyOperations(
  body: Record<string, unknown>,
  ops: Operations | undefined,
  serialization: Serialization = 'json',
): Record<string, unknown> {
  const out = structuredClone(body);
  const value = (path: string, v: unknown) =>
    path === '/rawMessage' && serialization === 'json' && typeof v === 'string'
      ? Buffer.from(v, 'base64')
      : v;
  for (const op of ops?.set ?? []) {
    const { container, key } = parent(out, op.path);
    if (Array.isArray(container)) container[Number(key)] = op.value;
    else container[key] = value(op.path, op.value);
  }
  for (const op of ops?.add ?? []) {
    const parts = decodePointer(op.path);
    let node: unknown = out;
    for (const p of parts) node = (node as Record<string, unknown>)[p];
    if (Array.isArray(node)) {
      if (op.index === undefined || op.index === null) node.push(op.value);
      else node.splice(op.index, 0, op.value);
    } else {
      const { container, key } = parent(out, op.path);
      (container as Record<string, unknown>)[key] = op.value;
    }
  }
  for (const op of ops?.delete ?? []) {
    const { container, key } = parent(out, op.path);
    if (Array.isArray(container)) {
      const i = Number(key);
      if (!(i >= 0 && i < container.length)) throw new Error(`delete ${op.path}: no such element`);
      container.splice(i, 1);
    } else {
      if (!(key in container)) throw new Error(`delete ${op.path}: no such member`);
      delete container[key];
    }
  }
  return out;
}

/** The header fields of a raw message as `{name, value}` (value trimmed and unfolded), like JMAP `headers`. */
export function headersOf(raw: Buffer): { name: string; value: string }[] {
  const text = raw.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const section = end < 0 ? text : text.slice(0, end);
  return section
    .split(/\r?\n(?![ \t])/)
    .filter((l) => l.includes(':'))
    .map((l) => ({
      name: l.slice(0, l.indexOf(':')),
      value: l
        .slice(l.indexOf(':') + 1)
        .replace(/\r?\n[ \t]+/g, ' ')
        .trim(),
    }));
}
