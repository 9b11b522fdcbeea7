/**
 * POST {basePath}/hooks/:id, one hook call as named steps: validate → dedupe → admit → scan → store the answer.
 * Each step takes what the one before gave and returns what the next needs; the in-flight counts (`Admission`)
 * are the only state shared between calls, and admission is the one place they are checked.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  DRAFT01_ERRORS,
  DRAFT01_REQUEST_ID,
  Draft01HookRequest,
  errorMessage,
  type Draft01Registration,
} from '@hookgate/contracts';
import type { IncomingStage } from '@hookgate/pipeline';
import type { StoredAnswer } from '@hookgate/state-store';
import { fallbackVerdict } from '@hookgate/verdict';
import { toDraft01, type Draft01Answer } from '../adapters/draft01/answers.js';
import { writablePaths } from '../adapters/draft01/negotiation.js';
import { filterOps, isEmpty } from '../adapters/draft01/operations.js';
import { fromDraft01, type RequestView } from '../adapters/draft01/request.js';
import { HttpError } from '../errors.js';
import { callerOf } from '../plugins/client-identity.js';
import { tracedRequest } from '../plugins/tracing.js';
import { reasonOf } from './stalwart.js';
import { bodyCheck, type Draft01Context } from './draft01-context.js';
import { loadOwned } from './draft01-registration.js';
import { bodyFormat, send, type Wire } from './draft01-wire.js';

const hookProblem = bodyCheck(Draft01HookRequest);

/** A validated hook call: everything the later steps need. */
interface HookCall {
  reg: Draft01Registration;
  requestId: string;
  /** The request body's format, which the answer uses too. */
  wire: Wire;
  started: number;
  incoming: IncomingStage;
  message: Buffer | undefined;
  view: RequestView;
  /** What this registration may write in this direction. */
  writable: readonly string[];
}

/** Dedupe's outcome: a stored answer to replay, or leave to scan (with the claim held, or without dedupe). */
type Claim =
  { kind: 'replay'; answer: StoredAnswer } | { kind: 'claimed'; owner: string } | { kind: 'unclaimed' };

/** The scan's outcome. */
interface Scanned {
  answer: Draft01Answer;
  /** A verdict was reached: the answer may be stored for replay (an internal failure's tempfail is not). */
  decided: boolean;
  ids: { reqId?: string; txnId?: string };
  reason?: string;
}

/** Hook calls scanning on this instance, in total and per registration. Replays and waiting duplicates do not count. */
export class Admission {
  readonly #max: number;
  readonly #maxPerRegistration: number;
  readonly #perRegistration = new Map<string, number>();
  #inFlight = 0;

  constructor(max: number, maxPerRegistration: number) {
    this.#max = max;
    this.#maxPerRegistration = maxPerRegistration;
  }

  /** A slot for one scan for `registrationId`, or the error refusing it: 503 when the instance is full, else 429. */
  take(registrationId: string): { release: () => void } | HttpError {
    const mine = this.#perRegistration.get(registrationId) ?? 0;
    if (this.#inFlight >= this.#max)
      return new HttpError(
        DRAFT01_ERRORS.SCANNER_UNAVAILABLE,
        'too many hook calls in progress on this instance',
      );
    if (mine >= this.#maxPerRegistration) return new HttpError(DRAFT01_ERRORS.RATE_LIMITED);
    this.#inFlight++;
    this.#perRegistration.set(registrationId, mine + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#inFlight--;
        const left = (this.#perRegistration.get(registrationId) ?? 1) - 1;
        if (left > 0) this.#perRegistration.set(registrationId, left);
        else this.#perRegistration.delete(registrationId);
      },
    };
  }
}

/** Validate: headers, registration (bound to the caller, live), body; maps the request for the pipeline. */
async function validate(
  ctx: Draft01Context,
  req: FastifyRequest<{ Params: { id: string } }>,
): Promise<HookCall> {
  const started = ctx.now();
  const wire = bodyFormat(req);
  const requestId = req.headers['x-mta-hooks-request-id'];
  if (requestId === undefined || requestId === '') throw new HttpError(DRAFT01_ERRORS.MISSING_REQUEST_ID);
  if (typeof requestId !== 'string' || !DRAFT01_REQUEST_ID.test(requestId)) {
    throw new HttpError(
      DRAFT01_ERRORS.INVALID_REQUEST,
      'X-MTA-Hooks-Request-Id must be 1-128 characters of A-Z a-z 0-9 - . _ ~',
    );
  }
  const regHeader = req.headers['x-mta-hooks-registration'];
  if (typeof regHeader !== 'string' || regHeader === '')
    throw new HttpError(DRAFT01_ERRORS.INVALID_REQUEST, 'X-MTA-Hooks-Registration is required');
  if (regHeader !== req.params.id) {
    throw new HttpError(
      DRAFT01_ERRORS.INVALID_REQUEST,
      'X-MTA-Hooks-Registration does not name the registration of this hook endpoint',
    );
  }

  const reg = await loadOwned(ctx, req, regHeader);
  ctx.answeredFor.set(req, { reg, started });
  const state = ctx.store.state(reg, started);
  if (state.kind === 'expired')
    throw new HttpError(
      DRAFT01_ERRORS.REGISTRATION_NOT_FOUND,
      `registration ${reg.id} expired; register again`,
    );
  if (state.kind === 'deregistered')
    throw new HttpError(DRAFT01_ERRORS.REGISTRATION_DEREGISTERED, `registration ${reg.id} was deregistered`);

  const problem = hookProblem(req.body);
  if (problem) throw new HttpError(DRAFT01_ERRORS.INVALID_REQUEST, problem);
  const mapped = fromDraft01(req.body as Draft01HookRequest, {
    registration: reg,
    identity: reg.identity,
    requestId,
    defaultTimeoutMs: ctx.settings.defaultTimeoutMs,
  });
  if (!mapped.ok) throw new HttpError(DRAFT01_ERRORS[mapped.code], mapped.message);
  const { incoming, message, view } = mapped.value;
  const negotiated = (view.direction === 'inbound' ? reg.inbound : reg.outbound)!;
  return {
    reg,
    requestId,
    wire,
    started,
    incoming,
    message,
    view,
    writable: writablePaths(negotiated, view.direction),
  };
}

/**
 * Dedupe: a retry of an answered request gets the stored answer; a concurrent duplicate waits for it (503 when it
 * does not come in time). Without Redis there is no dedupe: scanning twice is better than not answering.
 */
async function dedupe(
  ctx: Draft01Context,
  req: FastifyRequest,
  call: HookCall,
  owner: string,
): Promise<Claim> {
  const deadline = ctx.pipeline.deadlineFor(call.incoming.stage, call.started, call.incoming.mtaTimeoutMs);
  let claim;
  try {
    claim = await ctx.dedupe.claimOrWait(
      call.reg.identity,
      call.requestId,
      owner,
      deadline - ctx.now() + 5_000,
      deadline,
      ctx.now,
    );
  } catch (err) {
    req.log.warn({ err: { message: errorMessage(err) } }, 'draft-01 dedupe unavailable');
    return { kind: 'unclaimed' };
  }
  if (claim.kind === 'done') return { kind: 'replay', answer: claim.answer };
  if (claim.kind === 'pending')
    throw new HttpError(
      DRAFT01_ERRORS.SCANNER_UNAVAILABLE,
      'the same request is still being processed; retry shortly',
    );
  return { kind: 'claimed', owner };
}

/** Admit: a scan slot, or the refusal (the claim is released first, so the MTA's retry may scan). */
async function admit(
  ctx: Draft01Context,
  admission: Admission,
  call: HookCall,
  claim: Claim,
): Promise<{ release: () => void }> {
  const slot = admission.take(call.reg.id);
  if (!(slot instanceof HttpError)) return slot;
  if (claim.kind === 'claimed')
    await ctx.dedupe.release(call.reg.identity, call.requestId, claim.owner).catch(() => undefined);
  throw slot;
}

/** Scan: the pipeline's verdict as the draft-01 answer; an internal failure is answered explicitly (tempfail inbound, 503 outbound). */
async function scan(ctx: Draft01Context, req: FastifyRequest, call: HookCall): Promise<Scanned> {
  const answerContext = { view: call.view, writable: call.writable, replies: ctx.replies };
  try {
    const { request, verdict } = await tracedRequest(req, 'draft01', call.incoming.stage, () =>
      ctx.pipeline.handle(
        { ...call.incoming, receivedAt: req.receivedAt, caller: callerOf(req) },
        call.message,
      ),
    );
    const ids = { reqId: request.reqId, ...(request.txnId ? { txnId: request.txnId } : {}) };
    const mapped = toDraft01(verdict, answerContext);
    if (mapped.dropped.length > 0)
      req.log.warn(
        { reqId: ids.reqId, registrationId: call.reg.id, dropped: mapped.dropped },
        'draft-01 answer: modifications not expressible',
      );
    return { answer: mapped.answer, decided: true, ids, reason: reasonOf(verdict) };
  } catch (err) {
    req.log.error({ err: { message: errorMessage(err) } }, 'draft-01 hook failed');
    return {
      answer: toDraft01(fallbackVerdict('tempfail', 'internal-error', ctx.replies), answerContext).answer,
      decided: false,
      ids: {},
    };
  }
}

/** Store the answer for replay when a verdict was reached; otherwise release the claim so a retry scans again. */
async function storeAnswer(
  ctx: Draft01Context,
  req: FastifyRequest,
  call: HookCall,
  claim: Claim,
  scanned: Scanned,
): Promise<void> {
  if (claim.kind !== 'claimed') return;
  const { reg, requestId } = call;
  const a = scanned.answer;
  try {
    if (scanned.decided && a.status !== 503) {
      const stored: StoredAnswer = {
        v: 1,
        status: a.status,
        ...(a.status === 200 ? { ops: a.ops } : {}),
        registrationId: reg.id,
        ...scanned.ids,
        at: ctx.now(),
      };
      await ctx.dedupe.complete(reg.identity, requestId, stored);
    } else {
      await ctx.dedupe.release(reg.identity, requestId, claim.owner);
    }
  } catch (err) {
    req.log.warn({ err: { message: errorMessage(err) } }, 'draft-01 answer not stored for replay');
  }
}

function withIds(reply: FastifyReply, ids: { reqId?: string; txnId?: string }): void {
  if (ids.reqId) void reply.header('x-hookgate-request-id', ids.reqId);
  if (ids.txnId) void reply.header('x-hookgate-transaction-id', ids.txnId);
}

function answerWith(reply: FastifyReply, wire: Wire, a: Draft01Answer): FastifyReply {
  if (a.status === 204) return reply.code(204).send();
  if (a.status === 503) throw new HttpError(DRAFT01_ERRORS.SCANNER_UNAVAILABLE, a.message);
  return send(reply, 200, wire, a.ops);
}

/** A stored answer, again. One stored by another registration of this identity (re-registration) keeps only what this one may write. */
function replay(reply: FastifyReply, call: HookCall, stored: StoredAnswer): FastifyReply {
  void reply.header('x-hookgate-replay', 'true');
  withIds(reply, stored);
  const ops =
    stored.ops && stored.registrationId !== call.reg.id
      ? filterOps(stored.ops, call.writable).ops
      : stored.ops;
  return answerWith(
    reply,
    call.wire,
    stored.status === 200 && ops && !isEmpty(ops) ? { status: 200, ops } : { status: 204 },
  );
}

export function hookRoute(scope: FastifyInstance, ctx: Draft01Context): void {
  const admission = new Admission(ctx.settings.maxInFlight, ctx.settings.maxInFlightPerRegistration);
  const instance = randomBytes(6).toString('base64url');

  scope.post<{ Params: { id: string } }>(
    `${ctx.settings.basePath}/hooks/:id`,
    { bodyLimit: ctx.settings.maxMessageSize },
    async (req, reply) => {
      const call = await validate(ctx, req);
      const claim = await dedupe(ctx, req, call, `${instance}.${randomBytes(4).toString('base64url')}`);
      if (claim.kind === 'replay') return replay(reply, call, claim.answer);
      const slot = await admit(ctx, admission, call, claim);
      let scanned: Scanned;
      try {
        scanned = await scan(ctx, req, call);
      } finally {
        slot.release();
      }
      await storeAnswer(ctx, req, call, claim, scanned);
      withIds(reply, scanned.ids);
      if (ctx.reasonHeader && scanned.reason) void reply.header('x-hookgate-reason', scanned.reason);
      return answerWith(reply, call.wire, scanned.answer);
    },
  );
}
