/**
 * Discovery, registration, status and deregistration (draft-01 §"Discovery", §"Registration"). Registrations and
 * identity bindings live in Redis, so any ingress replica serves any registration.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  DRAFT01_ERRORS,
  DRAFT01_REGISTRATION_ID,
  Draft01RegistrationRequest,
  errorMessage,
  type Draft01DeregistrationResponse,
  type Draft01Registration,
  type Draft01RegistrationResponse,
  type Draft01StatusResponse,
} from '@hookgate/contracts';
import { discoveryDocument, negotiate } from '../adapters/draft01/negotiation.js';
import { HttpError } from '../errors.js';
import { bodyCheck, iso, type Draft01Context } from './draft01-context.js';
import { answerFormat, bodyFormat, send } from './draft01-wire.js';

const registrationProblem = bodyCheck(Draft01RegistrationRequest);

/** Redis did not answer: the MTA is told to retry shortly rather than that the registration is gone. */
const stateUnavailable = () =>
  new HttpError(DRAFT01_ERRORS.SCANNER_UNAVAILABLE, 'registration state unavailable, retry shortly');

/** The registration `id`, when the caller's credentials are bound to it (403 otherwise, 404 when unknown). */
export async function loadOwned(
  ctx: Draft01Context,
  req: FastifyRequest,
  id: string,
): Promise<Draft01Registration> {
  if (!DRAFT01_REGISTRATION_ID.test(id)) throw new HttpError(DRAFT01_ERRORS.REGISTRATION_NOT_FOUND);
  let reg: Draft01Registration | undefined;
  try {
    reg = await ctx.store.get(id);
  } catch (err) {
    req.log.warn({ err: { message: errorMessage(err) } }, 'registration lookup failed');
    throw stateUnavailable();
  }
  if (!reg) throw new HttpError(DRAFT01_ERRORS.REGISTRATION_NOT_FOUND, `unknown registration ${id}`);
  if (reg.identity !== req.mtaIdentity) throw new HttpError(DRAFT01_ERRORS.REGISTRATION_MISMATCH);
  return reg;
}

export function registrationRoutes(scope: FastifyInstance, ctx: Draft01Context): void {
  const { settings: s, store, endpoints: ep, now } = ctx;

  scope.get('/.well-known/mta-hooks', async (req, reply) =>
    send(reply, 200, answerFormat(req), discoveryDocument(s)),
  );

  scope.post(ep.registration, { bodyLimit: 256 * 1024 }, async (req, reply) => {
    const wire = answerFormat(req);
    bodyFormat(req);
    if (!s.registrationEnabled) throw new HttpError(DRAFT01_ERRORS.REGISTRATION_DISABLED);
    const identity = req.mtaIdentity;
    if (s.allowedIdentities.length > 0 && !s.allowedIdentities.includes(identity))
      throw new HttpError(DRAFT01_ERRORS.REGISTRATION_DENIED);
    const problem = registrationProblem(req.body);
    if (problem) throw new HttpError(DRAFT01_ERRORS.INVALID_REQUEST, problem);
    const body = req.body as Draft01RegistrationRequest;
    const n = negotiate(body);
    if (!n.ok) throw new HttpError(DRAFT01_ERRORS[n.code], n.message);
    const created = now();
    const maxExpiry = created + s.registrationTtlMs;
    let expiresAt = maxExpiry;
    if (body.expiresAt) {
      const asked = Date.parse(body.expiresAt);
      if (!(asked > created))
        throw new HttpError(DRAFT01_ERRORS.INVALID_REQUEST, 'expiresAt must be in the future');
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
      throw stateUnavailable();
    }
    if (!stored)
      throw new HttpError(
        DRAFT01_ERRORS.REGISTRATION_LIMIT_REACHED,
        `this MTA identity already has ${s.maxRegistrations} live registrations`,
      );
    // An explicit renewal names the registration it replaces; that id then keeps working for the grace period only.
    const previous = req.headers['x-mta-hooks-registration'];
    if (typeof previous === 'string' && DRAFT01_REGISTRATION_ID.test(previous) && previous !== id) {
      const old = await store.get(previous).catch(() => undefined);
      if (old && old.identity === identity) await store.retire(old, id, created).catch(() => undefined);
    }
    req.log.info(
      {
        registrationId: id,
        identity,
        name: reg.name,
        inbound: reg.inbound?.stages,
        outbound: reg.outbound?.stages,
      },
      'draft-01 registration',
    );
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
    const reg = await loadOwned(ctx, req, req.params.id);
    const t = now();
    const state = store.state(reg, t);
    if (state.kind === 'expired')
      throw new HttpError(
        DRAFT01_ERRORS.REGISTRATION_NOT_FOUND,
        `registration ${reg.id} expired; register again`,
      );
    const stats = await store.stats(reg.id, t).catch(() => undefined);
    const cf = stats?.consecutiveFailures ?? 0;
    const body: Draft01StatusResponse = {
      registrationId: reg.id,
      status: reg.status,
      createdAt: iso(reg.createdAt),
      expiresAt: iso(reg.retiresAt !== undefined ? Math.min(reg.retiresAt, reg.expiresAt) : reg.expiresAt),
      lastInvocation: stats?.lastInvocation ? iso(stats.lastInvocation) : null,
      statistics: stats
        ? { invocations: stats.invocations, errors: stats.errors, averageResponseMs: stats.averageResponseMs }
        : null,
      health: {
        status: cf === 0 ? 'healthy' : cf < 5 ? 'degraded' : 'unhealthy',
        lastCheck: iso(t),
        consecutiveFailures: cf,
      },
    };
    return send(reply, 200, answerFormat(req), body);
  };
  scope.get<{ Params: { id: string } }>(`${s.basePath}/registrations/:id/status`, status);
  scope.get<{ Params: { id: string } }>(`${s.basePath}/registrations/:id`, status);

  scope.delete<{ Params: { id: string } }>(`${s.basePath}/registrations/:id`, async (req, reply) => {
    const reg = await loadOwned(ctx, req, req.params.id);
    const t = now();
    if (store.state(reg, t).kind === 'expired')
      throw new HttpError(DRAFT01_ERRORS.REGISTRATION_NOT_FOUND, `registration ${reg.id} expired`);
    let done: Draft01Registration;
    try {
      done = await store.deregister(reg, t);
    } catch {
      throw stateUnavailable();
    }
    req.log.info({ registrationId: reg.id, identity: reg.identity }, 'draft-01 deregistration');
    const body: Draft01DeregistrationResponse = {
      registrationId: reg.id,
      status: 'deregistered',
      deregisteredAt: iso(done.deregisteredAt ?? t),
    };
    return send(reply, 200, answerFormat(req), body);
  });
}
