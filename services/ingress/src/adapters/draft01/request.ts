/**
 * Request mapping: a validated draft-01 hook request → the pipeline's StageRequest input, plus the view of the
 * request the answer mapping needs. Pure functions, no I/O (docs/protocols/draft01.md).
 */
import { createHash } from 'node:crypto';
import {
  DRAFT01_DELIVERY_STATUSES,
  DRAFT01_ERRORS,
  DRAFT01_INBOUND_ACTIONS,
  DRAFT01_OUTBOUND_ACTIONS,
  unfoldHeader,
  type Draft01Action,
  type Draft01Direction,
  type Draft01HookRequest,
  type Draft01Registration,
  type Draft01Stage,
  type EnvelopeAddress,
  type RecipientDelivery,
  type SmtpReply,
} from '@hookgate/contracts';
import type { IncomingStage } from '@hookgate/pipeline';
import { headerValueOf, parseHeaderSection } from './headers.js';
import { directionOf } from './negotiation.js';
import { fail, type Result } from './problems.js';

/** What the answer mapping needs to know about the request it answers. */
export interface RequestView {
  stage: Draft01Stage;
  direction: Draft01Direction;
  /** The action the MTA will take if nothing changes (default accept / continue when not negotiated). */
  action: Draft01Action;
  /** Header field names in message order (from `message.headers`, else parsed from `rawMessage`); unknown = undefined. */
  headers?: string[];
  /** `envelope.to` as sent (addresses as given, outbound status). */
  recipients: { address: string; status?: string }[];
  /** The exact message bytes, when sent. */
  raw?: Buffer;
}

/** Base64 as the draft uses it; whitespace (MIME-style line breaks) is tolerated, nothing else. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function decodeBinary(value: string | Uint8Array): Buffer | undefined {
  if (typeof value !== 'string')
    return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const compact = /\s/.test(value) ? value.replace(/\s+/g, '') : value;
  if (compact.length % 4 !== 0 || !BASE64.test(compact)) return undefined;
  return Buffer.from(compact, 'base64');
}

/** The session a hook call belongs to: the connection (client and server endpoints) inbound, the queued message outbound. */
export function draft01SessionId(
  identity: string,
  body: Draft01HookRequest,
  direction: Draft01Direction,
  requestId: string,
): string {
  const c = body.client;
  const s = body.server;
  const tuple =
    direction === 'outbound'
      ? ['out', identity, body.queue?.id ?? requestId]
      : c
        ? ['in', identity, c.ip, c.port ?? '', s?.ip ?? '', s?.port ?? '', s?.name ?? '']
        : ['in', identity, body.queue?.id ?? requestId];
  return createHash('sha256').update(tuple.join('|')).digest('base64url').slice(0, 22);
}

function params(p: Record<string, string | null> | null | undefined): Record<string, string> | undefined {
  if (!p) return undefined;
  const entries = Object.entries(p);
  return entries.length > 0 ? Object.fromEntries(entries.map(([k, v]) => [k, v ?? ''])) : undefined;
}

function smtpReply(
  r: { code: number; enhancedCode?: string | null; message?: string | null } | null | undefined,
): SmtpReply | undefined {
  if (!r) return undefined;
  return { code: r.code, ...(r.enhancedCode ? { enhanced: r.enhancedCode } : {}), text: r.message ?? '' };
}

export interface FromDraft01 {
  incoming: IncomingStage;
  message?: Buffer;
  view: RequestView;
}

/**
 * A validated hook request → the pipeline's StageRequest input. `rawMessage` gives scanners the exact bytes the MTA
 * holds (lossy: false). Returns a problem for values the schema cannot judge (Base64, actions, stages).
 */
export function fromDraft01(
  body: Draft01HookRequest,
  ctx: { registration: Draft01Registration; identity: string; requestId: string; defaultTimeoutMs: number },
): Result<FromDraft01> {
  const direction = directionOf(ctx.registration, body.stage);
  if (!direction)
    return fail(
      DRAFT01_ERRORS.INVALID_STAGE,
      `this registration is not subscribed to stage "${body.stage.slice(0, 32)}"`,
    );
  const stage = body.stage as Draft01Stage;
  const actions: readonly string[] =
    direction === 'inbound' ? DRAFT01_INBOUND_ACTIONS : DRAFT01_OUTBOUND_ACTIONS;
  const action = (body.action ?? (direction === 'inbound' ? 'accept' : 'continue')) as Draft01Action;
  if (!actions.includes(action))
    return fail(
      DRAFT01_ERRORS.INVALID_ACTION,
      `action "${String(body.action).slice(0, 32)}" is not a ${direction} action`,
    );

  let raw: Buffer | undefined;
  if (body.rawMessage !== null && body.rawMessage !== undefined) {
    raw = decodeBinary(body.rawMessage);
    if (!raw) return fail(DRAFT01_ERRORS.INVALID_REQUEST, 'rawMessage is not valid Base64');
  }
  const env = body.envelope ?? undefined;
  const recipients: RequestView['recipients'] = [];
  const to: EnvelopeAddress[] = [];
  for (const r of env?.to ?? []) {
    if (typeof r.address !== 'string' || r.address === '')
      return fail(DRAFT01_ERRORS.INVALID_REQUEST, 'envelope.to[].address must be a non-empty string');
    const status = 'status' in r && typeof r.status === 'string' ? r.status : undefined;
    if (
      direction === 'outbound' &&
      status !== undefined &&
      !(DRAFT01_DELIVERY_STATUSES as readonly string[]).includes(status)
    ) {
      return fail(
        DRAFT01_ERRORS.INVALID_REQUEST,
        `envelope.to[].status "${status.slice(0, 32)}" is not a delivery status`,
      );
    }
    recipients.push({ address: r.address, ...(status !== undefined ? { status } : {}) });
    const p = params(r.parameters);
    let delivery: RecipientDelivery | undefined;
    if (direction === 'outbound' && status !== undefined) {
      const attempt = 'attempt' in r && typeof r.attempt === 'number' ? r.attempt : undefined;
      const last = 'lastResponse' in r ? smtpReply(r.lastResponse) : undefined;
      delivery = {
        status: status as RecipientDelivery['status'],
        ...(attempt !== undefined ? { attempt } : {}),
        ...(last ? { lastReply: last } : {}),
      };
    }
    to.push({
      address: r.address.toLowerCase(),
      ...(p ? { parameters: p } : {}),
      ...(delivery ? { delivery } : {}),
    });
  }

  // Header names for index arithmetic: the MTA's own list when sent, else the raw message's header section.
  const parsed = raw ? parseHeaderSection(raw) : undefined;
  const headers = body.message?.headers
    ? body.message.headers.map((h) => h.name)
    : parsed?.headers.map((h) => h.name);
  const subjectRaw = parsed?.headers.find((h) => h.name.toLowerCase() === 'subject');
  const subject =
    body.message?.subject ??
    (subjectRaw ? Buffer.from(headerValueOf(subjectRaw), 'latin1').toString('utf8') : undefined);

  const c = body.client ?? undefined;
  const s = body.server ?? undefined;
  const incoming: IncomingStage = {
    protocol: 'draft01',
    stage,
    sessionId: draft01SessionId(ctx.identity, body, direction, ctx.requestId),
    // Outbound calls have no SMTP client: the MTA itself is the sender of the delivery.
    client: c
      ? {
          ip: c.ip,
          ...(typeof c.port === 'number' ? { port: c.port } : {}),
          ...(c.ptr ? { ptr: c.ptr } : {}),
          ...(c.ehlo ? { helo: c.ehlo } : {}),
        }
      : { ip: s?.ip ?? '' },
    ...(s
      ? {
          server: {
            ...(s.name ? { name: s.name } : {}),
            ...(s.ip ? { ip: s.ip } : {}),
            ...(typeof s.port === 'number' ? { port: s.port } : {}),
          },
        }
      : {}),
    ...(body.tls
      ? {
          tls: {
            ...(body.tls.version ? { version: body.tls.version } : {}),
            ...(body.tls.cipher ? { cipher: body.tls.cipher } : {}),
          },
        }
      : {}),
    ...(body.auth?.login
      ? { auth: { login: body.auth.login, ...(body.auth.method ? { method: body.auth.method } : {}) } }
      : {}),
    ...(env
      ? {
          // The null reverse-path arrives as `address: null`; hookgate's model spells it "".
          from: {
            address: (env.from?.address ?? '').toLowerCase(),
            ...(params(env.from?.parameters) ? { parameters: params(env.from?.parameters)! } : {}),
          },
          to,
        }
      : {}),
    ...(stage === 'rcpt' && to.length > 0 ? { rcpt: to[to.length - 1]!.address } : {}),
    ...(body.queue?.id ? { queueId: body.queue.id } : {}),
    mtaTimeoutMs: ctx.registration.timeoutMs ?? ctx.defaultTimeoutMs,
  };
  if (raw || body.message) {
    incoming.message = {
      size: body.message?.size ?? raw?.byteLength ?? 0,
      storedBytes: raw?.byteLength ?? 0,
      // Exact bytes when rawMessage came; without it scanners get nothing to read, which is not exact either.
      lossy: raw === undefined,
      ...(subject !== undefined ? { subject: unfoldHeader(subject) } : {}),
    };
  }
  const view: RequestView = {
    stage,
    direction,
    action,
    recipients,
    ...(headers ? { headers } : {}),
    ...(raw ? { raw } : {}),
  };
  return { ok: true, value: { incoming, ...(raw ? { message: raw } : {}), view } };
}
