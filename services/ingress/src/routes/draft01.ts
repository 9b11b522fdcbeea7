/**
 * draft-degennaro-mta-hooks-01 endpoints: discovery, registration, status, deregistration and hook invocation,
 * onto the same stage pipeline and policy as the legacy Stalwart route. Registrations, identity bindings, expiry,
 * statistics and answers for replay live in Redis, so any ingress replica serves any registration.
 *
 * Every error on these routes uses the draft's body `{"error":{"code","message"}}` and its status codes; the
 * encapsulated scope gives them their own error handler and the CBOR body parser, leaving the legacy route alone.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import {
  DRAFT01_ERROR_STATUS,
  DRAFT01_REGISTRATION_ID,
  DRAFT01_REQUEST_ID,
  errorMessage,
  Draft01HookRequest,
  Draft01RegistrationRequest,
  type Draft01DeregistrationResponse,
  type Draft01ErrorCode,
  type Draft01Operations,
  type Draft01Registration,
  type Draft01RegistrationResponse,
  type Draft01Serialization,
  type Draft01StatusResponse,
} from '@hookgate/contracts';
import type { StagePipeline } from '@hookgate/pipeline';
import type { DedupeStore, RegistrationStore, StoredAnswer } from '@hookgate/state-store';
import { DEFAULT_REPLIES, fallbackVerdict, type DefaultReplies } from '@hookgate/verdict';
import {
  discoveryDocument,
  endpointsOf,
  filterOps,
  fromDraft01,
  isEmpty,
  negotiate,
  toDraft01,
  writablePaths,
  type Draft01Answer,
  type Draft01Settings,
} from '../adapters/draft01.js';
import { CBOR_TYPE, encodeCbor, registerCborParser } from '../plugins/cbor.js';
import { HttpError } from '../errors.js';
import { tracedRequest } from '../plugins/tracing.js';
import { callerOf } from '../plugins/client-identity.js';
import { reasonOf } from './stalwart.js';

export interface Draft01Deps {
  registrations: RegistrationStore;
  dedupe: DedupeStore;
  settings: Draft01Settings;
  /** Replies for tempfail/reject when a verdict carries none (the configured verdict.replies). */
  replies?: DefaultReplies;
  /** Adds X-Hookgate-Reason to answers (debugging; content-free). */
  reasonHeader?: boolean;
  now?: () => number;
}

/** An error with a draft-01 code; `retryAfterSec` adds Retry-After (429, 503). */
export class Draft01Error extends HttpError {
  constructor(
    code: Draft01ErrorCode,
    message: string,
    readonly retryAfterSec?: number,
  ) {
    super(DRAFT01_ERROR_STATUS[code], code, message);
    this.name = 'Draft01Error';
  }
}

const hookBody = TypeCompiler.Compile(Draft01HookRequest);
const registrationBody = TypeCompiler.Compile(Draft01RegistrationRequest);

/** The first schema problem, as `path: message`, for the error body. */
function schemaProblem(check: typeof hookBody | typeof registrationBody, body: unknown): string | undefined {
  if (check.Check(body)) return undefined;
  const e = check.Errors(body).First();
  return e ? `body${e.path.replace(/\//g, '.')}: ${e.message}` : 'body does not match the schema';
}

type Wire = Draft01Serialization;

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

/** The format of a request body; anything but JSON or CBOR is refused (415). */
function bodyFormat(req: FastifyRequest): Wire {
  const t = mediaType(req.headers['content-type']);
  if (t === CBOR_TYPE) return 'cbor';
  if (t === 'application/json' || t === '') return 'json';
  throw new HttpError(415, 'INVALID_REQUEST', `unsupported Content-Type "${t.slice(0, 64)}": send application/json or application/cbor`);
}

/** The answer format: the request body's, else what Accept prefers (CBOR only when asked for), else JSON. */
function answerFormat(req: FastifyRequest): Wire {
  const t = mediaType(req.headers['content-type']);
  if (t === CBOR_TYPE) return 'cbor';
  if (t === 'application/json') return 'json';
  const accept = req.headers.accept;
  if (!accept) return 'json';
  let best: { wire: Wire; q: number } | undefined;
  for (const part of accept.split(',')) {
    const [type, ...ps] = part.trim().toLowerCase().split(';');
    const q = Number(ps.map((p) => /^\s*q=([\d.]+)/.exec(p)?.[1]).find(Boolean) ?? 1);
    const wire: Wire | undefined = type === CBOR_TYPE ? 'cbor' : type === 'application/json' || type === '*/*' || type === 'application/*' ? 'json' : undefined;
    if (wire && q > 0 && (!best || q > best.q)) best = { wire, q };
  }
  return best?.wire ?? 'json';
}

/** Binary values are Base64 in JSON and byte strings in CBOR. */
function toJsonValue(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJsonValue(v)]));
  return value;
}

function send(reply: FastifyReply, status: number, wire: Wire, value: unknown): FastifyReply {
  if (wire === 'cbor') return reply.code(status).type(CBOR_TYPE).send(encodeCbor(value));
  return reply.code(status).type('application/json').send(JSON.stringify(toJsonValue(value)));
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Maps any error on the draft routes to the draft's status and body. */
function classify(err: FastifyError | HttpError, req: FastifyRequest): { status: number; code: string; message: string; retryAfter?: number } {
  if (err instanceof Draft01Error) return { status: err.statusCode, code: err.code, message: err.message, ...(err.retryAfterSec ? { retryAfter: err.retryAfterSec } : {}) };
  if (err instanceof HttpError) {
    if (err.statusCode === 401) {
      const presented = Boolean(req.headers.authorization);
      return { status: 401, code: presented ? 'INVALID_CREDENTIALS' : 'AUTHENTICATION_REQUIRED', message: presented ? 'invalid credentials' : 'authentication required' };
    }
    return { status: err.statusCode, code: err.statusCode >= 500 ? 'INTERNAL_ERROR' : 'INVALID_REQUEST', message: err.message };
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, code: 'REQUEST_TOO_LARGE', message: 'request body larger than limits.maxMessageSize' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, code: 'INVALID_REQUEST', message: 'unsupported Content-Type: send application/json or application/cbor' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, code: 'INVALID_REQUEST', message: 'body is not valid JSON' };
  }
  const status = err.statusCode ?? 500;
  if (status === 503) return { status, code: 'SCANNER_UNAVAILABLE', message: 'service unavailable', retryAfter: 1 };
  if (status >= 400 && status < 500) return { status, code: 'INVALID_REQUEST', message: err instanceof SyntaxError ? 'body is not valid JSON' : err.message.slice(0, 300) };
  return { status: 500, code: 'INTERNAL_ERROR', message: 'internal error' };
}

/** Registers the draft-01 routes in their own scope (error handler, CBOR parser). */
export function draft01Routes(app: FastifyInstance, pipeline: StagePipeline, deps: Draft01Deps): void {
  const s = deps.settings;
  const now = deps.now ?? Date.now;
  const replies = deps.replies ?? DEFAULT_REPLIES;
  const ep = endpointsOf(s.basePath);
  const store = deps.registrations;
  const instance = randomBytes(6).toString('base64url');
  let inFlight = 0;
  const perRegistration = new Map<string, number>();
  // The registration a request was answered for, so its statistics count the answer whatever it was.
  const answeredFor = new WeakMap<FastifyRequest, { reg: Draft01Registration; started: number }>();

  void app.register(async (scope) => {
    registerCborParser(scope);

    scope.setErrorHandler((err: FastifyError | HttpError, req, reply) => {
      const c = classify(err, req);
      if (c.status >= 500 && c.code === 'INTERNAL_ERROR') req.log.error({ err: { code: (err as FastifyError).code, message: err.message } }, 'draft-01 request failed');
      if (c.status === 401) void reply.header('www-authenticate', 'Bearer');
      if (c.retryAfter) void reply.header('retry-after', String(c.retryAfter));
      return send(reply, c.status, answerFormat(req), { error: { code: c.code, message: c.message } });
    });

    scope.addHook('onResponse', async (req, reply) => {
      const a = answeredFor.get(req);
      if (!a) return;
      const ok = reply.statusCode < 300;
      // Statistics never delay or fail an answer.
      store.recordInvocation(a.reg, ok, now() - a.started, now()).catch((err: unknown) => req.log.warn({ err: { message: String(err) } }, 'draft-01 statistics not recorded'));
    });

    const loadOwned = async (req: FastifyRequest, id: string): Promise<Draft01Registration> => {
      if (!DRAFT01_REGISTRATION_ID.test(id)) throw new Draft01Error('REGISTRATION_NOT_FOUND', 'unknown registration');
      let reg: Draft01Registration | undefined;
      try {
        reg = await store.get(id);
      } catch (err) {
        req.log.warn({ err: { message: errorMessage(err) } }, 'registration lookup failed');
        throw new Draft01Error('SCANNER_UNAVAILABLE', 'registration state unavailable, retry shortly', 1);
      }
      if (!reg) throw new Draft01Error('REGISTRATION_NOT_FOUND', `unknown registration ${id}`);
      if (reg.identity !== req.mtaIdentity) throw new Draft01Error('REGISTRATION_MISMATCH', 'the credentials are not bound to this registration');
      return reg;
    };

    scope.get('/.well-known/mta-hooks', async (req, reply) => send(reply, 200, answerFormat(req), discoveryDocument(s)));

    scope.post(ep.registration, { bodyLimit: 256 * 1024 }, async (req, reply) => {
      const wire = answerFormat(req);
      bodyFormat(req);
      if (!s.registrationEnabled) throw new Draft01Error('REGISTRATION_DISABLED', 'registration is disabled on this scanner', 60);
      const identity = req.mtaIdentity;
      if (s.allowedIdentities.length > 0 && !s.allowedIdentities.includes(identity)) throw new Draft01Error('REGISTRATION_DENIED', 'this MTA identity may not register');
      const problem = schemaProblem(registrationBody, req.body);
      if (problem) throw new Draft01Error('INVALID_REQUEST', problem);
      const body = req.body as Draft01RegistrationRequest;
      const n = negotiate(body);
      if (!n.ok) throw new Draft01Error(n.code, n.message);
      const created = now();
      const maxExpiry = created + s.registrationTtlMs;
      let expiresAt = maxExpiry;
      if (body.expiresAt) {
        const asked = Date.parse(body.expiresAt);
        if (!(asked > created)) throw new Draft01Error('INVALID_REQUEST', 'expiresAt must be in the future');
        expiresAt = Math.min(asked, maxExpiry);
      }
      const id = `reg-${randomBytes(16).toString('base64url')}`;
      const reg: Draft01Registration = {
        v: 1,
        id,
        identity,
        name: body.name,
        version: body.version ?? null,
        status: 'active',
        createdAt: created,
        expiresAt,
        serialization: n.value.serialization,
        timeoutMs: body.timeoutMs && body.timeoutMs > 0 ? body.timeoutMs : null,
        inbound: n.value.inbound,
        outbound: n.value.outbound,
        metadata: body.metadata ?? null,
      };
      let stored: boolean;
      try {
        stored = await store.create(reg, s.maxRegistrations, created);
      } catch (err) {
        req.log.warn({ err: { message: errorMessage(err) } }, 'registration not stored');
        throw new Draft01Error('SCANNER_UNAVAILABLE', 'registration state unavailable, retry shortly', 1);
      }
      if (!stored) throw new Draft01Error('REGISTRATION_LIMIT_REACHED', `this MTA identity already has ${s.maxRegistrations} live registrations`);
      // An explicit renewal names the registration it replaces; that id then keeps working for the grace period only.
      const previous = req.headers['x-mta-hooks-registration'];
      if (typeof previous === 'string' && DRAFT01_REGISTRATION_ID.test(previous) && previous !== id) {
        const old = await store.get(previous).catch(() => undefined);
        if (old && old.identity === identity) await store.retire(old, id, created).catch(() => undefined);
      }
      req.log.info({ registrationId: id, identity, name: reg.name, inbound: reg.inbound?.stages, outbound: reg.outbound?.stages }, 'draft-01 registration');
      const answer: Draft01RegistrationResponse = {
        registrationId: id,
        status: 'active',
        createdAt: iso(created),
        expiresAt: iso(expiresAt),
        hookEndpoint: ep.hook(id),
        negotiated: { serialization: reg.serialization, inbound: reg.inbound, outbound: reg.outbound },
        endpoints: { deregistration: ep.registrationResource(id), status: ep.status(id) },
      };
      void reply.header('location', ep.registrationResource(id));
      return send(reply, 201, wire, answer);
    });

    const status = async (req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
      const reg = await loadOwned(req, req.params.id);
      const t = now();
      const state = store.state(reg, t);
      if (state.kind === 'expired') throw new Draft01Error('REGISTRATION_NOT_FOUND', `registration ${reg.id} expired; register again`);
      const stats = await store.stats(reg.id, t).catch(() => undefined);
      const cf = stats?.consecutiveFailures ?? 0;
      const body: Draft01StatusResponse = {
        registrationId: reg.id,
        status: reg.status,
        createdAt: iso(reg.createdAt),
        expiresAt: iso(reg.retiresAt !== undefined ? Math.min(reg.retiresAt, reg.expiresAt) : reg.expiresAt),
        lastInvocation: stats?.lastInvocation ? iso(stats.lastInvocation) : null,
        statistics: stats ? { invocations: stats.invocations, errors: stats.errors, averageResponseMs: stats.averageResponseMs } : null,
        health: { status: cf === 0 ? 'healthy' : cf < 5 ? 'degraded' : 'unhealthy', lastCheck: iso(t), consecutiveFailures: cf },
      };
      return send(reply, 200, answerFormat(req), body);
    };
    scope.get<{ Params: { id: string } }>(`${s.basePath}/registrations/:id/status`, status);
    scope.get<{ Params: { id: string } }>(`${s.basePath}/registrations/:id`, status);

    scope.delete<{ Params: { id: string } }>(`${s.basePath}/registrations/:id`, async (req, reply) => {
      const reg = await loadOwned(req, req.params.id);
      const t = now();
      if (store.state(reg, t).kind === 'expired') throw new Draft01Error('REGISTRATION_NOT_FOUND', `registration ${reg.id} expired`);
      let done: Draft01Registration;
      try {
        done = await store.deregister(reg, t);
      } catch {
        throw new Draft01Error('SCANNER_UNAVAILABLE', 'registration state unavailable, retry shortly', 1);
      }
      req.log.info({ registrationId: reg.id, identity: reg.identity }, 'draft-01 deregistration');
      const body: Draft01DeregistrationResponse = { registrationId: reg.id, status: 'deregistered', deregisteredAt: iso(done.deregisteredAt ?? t) };
      return send(reply, 200, answerFormat(req), body);
    });

    scope.post<{ Params: { id: string } }>(`${s.basePath}/hooks/:id`, { bodyLimit: s.maxMessageSize }, async (req, reply) => {
      const started = now();
      const wire = bodyFormat(req);
      const requestId = req.headers['x-mta-hooks-request-id'];
      if (requestId === undefined || requestId === '') throw new Draft01Error('MISSING_REQUEST_ID', 'X-MTA-Hooks-Request-Id is required');
      if (typeof requestId !== 'string' || !DRAFT01_REQUEST_ID.test(requestId)) {
        throw new Draft01Error('INVALID_REQUEST', 'X-MTA-Hooks-Request-Id must be 1-128 characters of A-Z a-z 0-9 - . _ ~');
      }
      const regHeader = req.headers['x-mta-hooks-registration'];
      if (typeof regHeader !== 'string' || regHeader === '') throw new Draft01Error('INVALID_REQUEST', 'X-MTA-Hooks-Registration is required');
      if (regHeader !== req.params.id) throw new Draft01Error('INVALID_REQUEST', 'X-MTA-Hooks-Registration does not name the registration of this hook endpoint');
      if (inFlight >= s.maxInFlight) throw new Draft01Error('SCANNER_UNAVAILABLE', 'too many hook calls in progress on this instance', 1);

      const reg = await loadOwned(req, regHeader);
      answeredFor.set(req, { reg, started });
      const state = store.state(reg, started);
      if (state.kind === 'expired') throw new Draft01Error('REGISTRATION_NOT_FOUND', `registration ${reg.id} expired; register again`);
      if (state.kind === 'deregistered') throw new Draft01Error('REGISTRATION_DEREGISTERED', `registration ${reg.id} was deregistered`);

      const problem = schemaProblem(hookBody, req.body);
      if (problem) throw new Draft01Error('INVALID_REQUEST', problem);
      const body = req.body as Draft01HookRequest;
      const mapped = fromDraft01(body, { registration: reg, identity: reg.identity, requestId, defaultTimeoutMs: s.defaultTimeoutMs });
      if (!mapped.ok) throw new Draft01Error(mapped.code, mapped.message);
      const { incoming, message, view } = mapped.value;
      const negotiated = (view.direction === 'inbound' ? reg.inbound : reg.outbound)!;
      const writable = writablePaths(negotiated, view.direction);

      return handleHook();

      async function handleHook(): Promise<FastifyReply> {
        const deadline = pipeline.deadlineFor(incoming.stage, started, incoming.mtaTimeoutMs);
        const owner = `${instance}.${randomBytes(4).toString('base64url')}`;
        // Dedupe: a retry of an answered request gets the stored answer; a concurrent duplicate waits for it.
        let claimed = true;
        try {
          const c = await deps.dedupe.claimOrWait(reg.identity, requestId as string, owner, deadline - now() + 5_000, deadline, now);
          if (c.kind === 'done') return replay(c.answer);
          if (c.kind === 'pending') throw new Draft01Error('SCANNER_UNAVAILABLE', 'the same request is still being processed; retry shortly', 1);
        } catch (err) {
          if (err instanceof Draft01Error) throw err;
          // Without Redis there is no dedupe: scanning twice is better than not answering.
          claimed = false;
          req.log.warn({ err: { message: errorMessage(err) } }, 'draft-01 dedupe unavailable');
        }

        // Limits count scans only: a replay or a duplicate waiting for its first answer costs next to nothing.
        const mine = perRegistration.get(reg.id) ?? 0;
        if (mine >= s.maxInFlightPerRegistration || inFlight >= s.maxInFlight) {
          if (claimed) await deps.dedupe.release(reg.identity, requestId as string, owner).catch(() => undefined);
          if (inFlight >= s.maxInFlight) throw new Draft01Error('SCANNER_UNAVAILABLE', 'too many hook calls in progress on this instance', 1);
          throw new Draft01Error('RATE_LIMITED', 'too many hook calls in progress for this registration', 1);
        }
        inFlight++;
        perRegistration.set(reg.id, mine + 1);
        try {
          return await scan(claimed, owner);
        } finally {
          inFlight--;
          const left = (perRegistration.get(reg.id) ?? 1) - 1;
          if (left > 0) perRegistration.set(reg.id, left);
          else perRegistration.delete(reg.id);
        }
      }

      async function scan(claimed: boolean, owner: string): Promise<FastifyReply> {
        let answer: Draft01Answer;
        let keep = true;
        let ids: { reqId?: string; txnId?: string } = {};
        let reason: string | undefined;
        try {
          const outcome = await tracedRequest(req, 'draft01', incoming.stage, () => pipeline.handle({ ...incoming, receivedAt: req.receivedAt, caller: callerOf(req) }, message));
          ids = { reqId: outcome.request.reqId, ...(outcome.request.txnId ? { txnId: outcome.request.txnId } : {}) };
          reason = reasonOf(outcome.verdict);
          const mappedAnswer = toDraft01(outcome.verdict, { view, writable, replies });
          answer = mappedAnswer.answer;
          if (mappedAnswer.dropped.length > 0) req.log.warn({ reqId: ids.reqId, registrationId: reg.id, dropped: mappedAnswer.dropped }, 'draft-01 answer: modifications not expressible');
        } catch (err) {
          // An explicit answer rather than the MTA's failure default: tempfail inbound, 503 outbound.
          req.log.error({ err: { message: errorMessage(err) } }, 'draft-01 hook failed');
          answer = toDraft01(fallbackVerdict('tempfail', 'internal-error', replies), { view, writable, replies }).answer;
          keep = false;
        }
        if (claimed) {
          const stored: StoredAnswer | undefined =
            keep && answer.status !== 503
              ? { v: 1, status: answer.status, ...(answer.status === 200 ? { ops: answer.ops } : {}), registrationId: reg.id, ...ids, at: now() }
              : undefined;
          try {
            if (stored) await deps.dedupe.complete(reg.identity, requestId as string, stored);
            else await deps.dedupe.release(reg.identity, requestId as string, owner);
          } catch (err) {
            req.log.warn({ err: { message: errorMessage(err) } }, 'draft-01 answer not stored for replay');
          }
        }
        if (ids.reqId) void reply.header('x-hookgate-request-id', ids.reqId);
        if (ids.txnId) void reply.header('x-hookgate-transaction-id', ids.txnId);
        if (deps.reasonHeader && reason) void reply.header('x-hookgate-reason', reason);
        return answerWith(answer);
      }

      function replay(a: StoredAnswer): FastifyReply {
        void reply.header('x-hookgate-replay', 'true');
        if (a.reqId) void reply.header('x-hookgate-request-id', a.reqId);
        if (a.txnId) void reply.header('x-hookgate-transaction-id', a.txnId);
        // Stored by another registration of this identity (re-registration): keep only what this one may write.
        const ops = a.ops && a.registrationId !== reg.id ? filterOps(a.ops, writable).ops : a.ops;
        return answerWith(a.status === 200 && ops && !isEmpty(ops) ? { status: 200, ops } : { status: 204 });
      }

      function answerWith(a: Draft01Answer): FastifyReply {
        if (a.status === 204) return reply.code(204).send();
        if (a.status === 503) throw new Draft01Error('SCANNER_UNAVAILABLE', a.message, 1);
        return send(reply, 200, wire, a.ops satisfies Draft01Operations);
      }
    });
  });
}
