/**
 * The draft-01 adapter (draft-degennaro-mta-hooks-01): capability negotiation, hook request → hookgate's
 * StageRequest, and Verdict → `set`/`add`/`delete` operations. Pure functions, no I/O; docs/protocols/draft01.md
 * records every rule applied here and how each ambiguity of the draft was read (always the reading that keeps mail
 * safe).
 */
import { createHash } from 'node:crypto';
import {
  DRAFT01_ACTION_RANK,
  DRAFT01_DELIVERY_STATUSES,
  DRAFT01_INBOUND_ACTIONS,
  DRAFT01_INBOUND_FETCH,
  DRAFT01_INBOUND_STAGES,
  DRAFT01_INBOUND_UPDATE,
  DRAFT01_OUTBOUND_ACTIONS,
  DRAFT01_OUTBOUND_FETCH,
  DRAFT01_OUTBOUND_STAGES,
  DRAFT01_OUTBOUND_UPDATE,
  DRAFT01_REQUIRED_PROPERTIES,
  DRAFT01_SERIALIZATIONS,
  type Draft01Action,
  type Draft01AddOperation,
  type Draft01DeleteOperation,
  type Draft01Direction,
  type Draft01Discovery,
  type Draft01ErrorCode,
  type Draft01HookRequest,
  type Draft01Negotiated,
  type Draft01Operations,
  type Draft01Registration,
  type Draft01RegistrationRequest,
  type Draft01Serialization,
  type Draft01SetOperation,
  type Draft01Stage,
  type EnvelopeAddress,
  type Modification,
  type RecipientDelivery,
  type SmtpReply,
  type Verdict,
  unfoldHeader,
} from '@hookgate/contracts';
import type { IncomingStage } from '@hookgate/pipeline';

/** What the operator configured for draft-01 (protocols.draft01 in the config). */
export interface Draft01Settings {
  /** Path prefix of the registration and hook endpoints, e.g. `/mta-hooks/v1`. */
  basePath: string;
  /** Largest hook request body accepted, bytes (discovery `limits.maxMessageSize`; above it: 413). */
  maxMessageSize: number;
  /** Live registrations per MTA identity (discovery `limits.maxRegistrations`; above it: 409). */
  maxRegistrations: number;
  /** Longest registration lifetime, ms; an MTA asking for a later `expiresAt` gets this. */
  registrationTtlMs: number;
  /** The hook timeout assumed when an MTA declares none, ms (discovery `limits.timeoutMs`). */
  defaultTimeoutMs: number;
  /** Hook calls handled at once by this ingress instance; beyond it: 503 with Retry-After. */
  maxInFlight: number;
  /** Hook calls of one registration handled at once by this instance; beyond it: 429 with Retry-After. */
  maxInFlightPerRegistration: number;
  /** false: registration answers 503 REGISTRATION_DISABLED (existing registrations keep working). */
  registrationEnabled: boolean;
  /** Identities allowed to register; empty = every authenticated identity. Others get 403 REGISTRATION_DENIED. */
  allowedIdentities: readonly string[];
}

// ---------------------------------------------------------------------------------------------------------------
// Discovery and negotiation

/** What hookgate sets in answers: `disconnect` is never sent (hookgate has no such verdict). */
const INBOUND_ANSWER_ACTIONS = ['accept', 'reject', 'discard', 'quarantine'] as const;

export function endpointsOf(basePath: string) {
  return {
    registration: `${basePath}/registrations`,
    deregistrationTemplate: `${basePath}/registrations/{registration_id}`,
    registrationResource: (id: string) => `${basePath}/registrations/${id}`,
    status: (id: string) => `${basePath}/registrations/${id}/status`,
    hook: (id: string) => `${basePath}/hooks/${id}`,
  };
}

/** The discovery document: exactly what hookgate supports. */
export function discoveryDocument(s: Draft01Settings): Draft01Discovery {
  const e = endpointsOf(s.basePath);
  return {
    version: '1.0',
    endpoints: { registration: e.registration, deregistration: e.deregistrationTemplate },
    serialization: [...DRAFT01_SERIALIZATIONS],
    capabilities: {
      inbound: {
        stages: [...DRAFT01_INBOUND_STAGES],
        actions: [...INBOUND_ANSWER_ACTIONS],
        fetchProperties: [...DRAFT01_INBOUND_FETCH],
        updateProperties: [...DRAFT01_INBOUND_UPDATE],
      },
      outbound: {
        stages: [...DRAFT01_OUTBOUND_STAGES],
        actions: [...DRAFT01_OUTBOUND_ACTIONS],
        fetchProperties: [...DRAFT01_OUTBOUND_FETCH],
        updateProperties: [...DRAFT01_OUTBOUND_UPDATE],
      },
    },
    limits: { maxMessageSize: s.maxMessageSize, maxRegistrations: s.maxRegistrations, timeoutMs: s.defaultTimeoutMs },
    extensions: null,
  };
}

export type Problem = { code: Draft01ErrorCode; message: string };
type Result<T> = { ok: true; value: T } | ({ ok: false } & Problem);

const fail = (code: Draft01ErrorCode, message: string): { ok: false } & Problem => ({ ok: false, code, message });

/** RFC 6901 JSON Pointer syntax (non-empty). */
const POINTER = /^(\/([^~/]|~[01])*)+$/;

function negotiateDirection(
  dir: Draft01Direction,
  sub: NonNullable<Draft01RegistrationRequest['inbound']>,
): Result<Draft01Negotiated | null> {
  const validStages: readonly string[] = dir === 'inbound' ? DRAFT01_INBOUND_STAGES : DRAFT01_OUTBOUND_STAGES;
  const bad = sub.stages.find((s) => !validStages.includes(s));
  if (bad !== undefined) return fail('INVALID_STAGE', `${dir} stage "${bad.slice(0, 32)}" is not one of ${validStages.join(', ')}`);
  const actions: readonly string[] = dir === 'inbound' ? INBOUND_ANSWER_ACTIONS : DRAFT01_OUTBOUND_ACTIONS;
  const badAction = (sub.actions ?? []).find((a) => !actions.includes(a));
  if (badAction !== undefined) return fail('INVALID_ACTION', `${dir} action "${badAction.slice(0, 32)}" is not one of ${actions.join(', ')}`);
  if (sub.stages.length === 0) return { ok: true, value: null };
  const supported: readonly string[] = dir === 'inbound' ? DRAFT01_INBOUND_FETCH : DRAFT01_OUTBOUND_FETCH;
  let properties: string[];
  if (sub.properties === null || sub.properties === undefined) {
    properties = [...supported];
  } else {
    const notPointer = sub.properties.find((p) => !POINTER.test(p));
    if (notPointer !== undefined) return fail('INVALID_REQUEST', `${dir}.properties: "${notPointer.slice(0, 64)}" is not a JSON Pointer`);
    // The intersection: a nested pointer is kept when its top-level property is supported.
    properties = sub.properties.filter((p, i, all) => all.indexOf(p) === i && supported.includes(`/${p.split('/')[1] ?? ''}`));
  }
  const missing = DRAFT01_REQUIRED_PROPERTIES.filter((r) => !properties.includes(r));
  if (missing.length > 0) return fail('CAPABILITY_MISMATCH', `${dir}.properties must include ${missing.join(', ')} (hookgate routes hook calls by stage)`);
  // Stages exactly as requested, in the requested order (the rspamd bridge refuses any other list).
  return { ok: true, value: { stages: [...sub.stages], properties } };
}

/** Conditions of RFC 8621 §4.4.1 that draft-01 excludes. */
const EXCLUDED_CONDITIONS = new Set([
  'inMailbox', 'inMailboxOtherThan', 'before', 'after', 'allInThreadHaveKeyword', 'someInThreadHaveKeyword',
  'noneInThreadHaveKeyword', 'hasKeyword', 'notKeyword',
]);
/** The conditions hookgate understands, with the JSON type of each value. */
const CONDITIONS: Record<string, 'string' | 'uint' | 'boolean' | 'header'> = {
  from: 'string', to: 'string', cc: 'string', bcc: 'string', subject: 'string', body: 'string', text: 'string',
  header: 'header', minSize: 'uint', maxSize: 'uint', hasAttachment: 'boolean', envelopeFrom: 'string', envelopeTo: 'string',
};

/**
 * Checks a registration filter. The MTA applies it; hookgate only has to understand it (an unknown or excluded
 * condition is 422 UNSUPPORTED_FILTER, bad syntax 400 FILTER_INVALID).
 */
export function checkFilter(filter: unknown, depth = 0): Problem | null {
  if (filter === null || filter === undefined) return null;
  if (depth > 16) return { code: 'FILTER_INVALID', message: 'filter nested too deeply' };
  if (typeof filter !== 'object' || Array.isArray(filter)) return { code: 'FILTER_INVALID', message: 'filter must be an object' };
  const f = filter as Record<string, unknown>;
  if ('operator' in f) {
    if (!['AND', 'OR', 'NOT'].includes(f.operator as string)) return { code: 'FILTER_INVALID', message: 'filter operator must be AND, OR or NOT' };
    if (!Array.isArray(f.conditions) || f.conditions.length === 0) return { code: 'FILTER_INVALID', message: 'filter operator needs a non-empty conditions array' };
    const extra = Object.keys(f).find((k) => k !== 'operator' && k !== 'conditions');
    if (extra) return { code: 'FILTER_INVALID', message: `unexpected key "${extra.slice(0, 32)}" in a filter operator` };
    for (const c of f.conditions as unknown[]) {
      const p = checkFilter(c, depth + 1);
      if (p) return p;
    }
    return null;
  }
  for (const [k, v] of Object.entries(f)) {
    if (EXCLUDED_CONDITIONS.has(k)) return { code: 'UNSUPPORTED_FILTER', message: `filter condition "${k}" is excluded by draft-01` };
    const type = CONDITIONS[k];
    if (!type) return { code: 'UNSUPPORTED_FILTER', message: `filter condition "${k.slice(0, 32)}" is not supported` };
    const ok =
      type === 'string' ? typeof v === 'string'
      : type === 'uint' ? Number.isSafeInteger(v) && (v as number) >= 0
      : type === 'boolean' ? typeof v === 'boolean'
      : Array.isArray(v) && v.length >= 1 && v.length <= 2 && v.every((x) => typeof x === 'string');
    if (!ok) return { code: 'FILTER_INVALID', message: `filter condition "${k}" has a value of the wrong type` };
  }
  return null;
}

export interface Negotiation {
  serialization: Draft01Serialization;
  inbound: Draft01Negotiated | null;
  outbound: Draft01Negotiated | null;
}

/** Validates a registration request and computes what is negotiated; errors carry the draft's codes. */
export function negotiate(req: Draft01RegistrationRequest): Result<Negotiation> {
  if (!(DRAFT01_SERIALIZATIONS as readonly string[]).includes(req.serialization)) {
    return fail('CAPABILITY_MISMATCH', `serialization "${req.serialization.slice(0, 32)}" is not one of ${DRAFT01_SERIALIZATIONS.join(', ')}`);
  }
  const inbound = req.inbound ? negotiateDirection('inbound', req.inbound) : ({ ok: true, value: null } as const);
  if (!inbound.ok) return inbound;
  const outbound = req.outbound ? negotiateDirection('outbound', req.outbound) : ({ ok: true, value: null } as const);
  if (!outbound.ok) return outbound;
  if (!inbound.value && !outbound.value) return fail('NO_STAGES_REQUESTED', 'request at least one inbound or outbound stage');
  const filter = checkFilter(req.filter);
  if (filter) return { ok: false, ...filter };
  return { ok: true, value: { serialization: req.serialization as Draft01Serialization, inbound: inbound.value, outbound: outbound.value } };
}

/** The direction a stage belongs to in this registration, or undefined when it did not subscribe to the stage. */
export function directionOf(reg: Pick<Draft01Registration, 'inbound' | 'outbound'>, stage: string): Draft01Direction | undefined {
  if (reg.inbound?.stages.includes(stage)) return 'inbound';
  if (reg.outbound?.stages.includes(stage)) return 'outbound';
  return undefined;
}

/**
 * The paths hookgate may write for a registration and direction. draft-01 never negotiates `updateProperties`
 * (its §"Registration" gap), so hookgate derives them: a path from its advertised `updateProperties` is writable
 * when the registration negotiated the property it lives in (hookgate never changes what the MTA did not show
 * it). `/action` and `/response` are always writable (they are how any verdict is given). `/message/headers` is
 * writable with `/message` or with `/rawMessage`: a header edit is an edit of the message the MTA sent, and the
 * rspamd bridge, which sends only `/rawMessage`, applies header edits.
 */
export function writablePaths(negotiated: Draft01Negotiated, dir: Draft01Direction): string[] {
  const props = negotiated.properties;
  const covers = (path: string) => props.some((p) => path === p || path.startsWith(`${p}/`));
  const candidates: readonly string[] = dir === 'inbound' ? DRAFT01_INBOUND_UPDATE : [...DRAFT01_OUTBOUND_UPDATE, '/message/headers'];
  return candidates.filter((w) => {
    if (w === '/action' || w === '/response') return true;
    if (w === '/message/headers' && covers('/rawMessage')) return true;
    return covers(w);
  });
}

/** Keeps only operations on writable paths (a last safety net: hookgate never emits anything else). */
export function filterOps(ops: Draft01Operations, writable: readonly string[]): { ops: Draft01Operations; dropped: string[] } {
  const ok = (path: string) => writable.some((w) => path === w || path.startsWith(`${w}/`));
  const dropped: string[] = [];
  const keep = <T extends { path: string }>(list: T[] | undefined): T[] | undefined => {
    if (!list) return undefined;
    const kept = list.filter((o) => (ok(o.path) ? true : (dropped.push(o.path), false)));
    return kept.length > 0 ? kept : undefined;
  };
  const out: Draft01Operations = {};
  const set = keep(ops.set);
  const add = keep(ops.add);
  const del = keep(ops.delete);
  if (set) out.set = set;
  if (add) out.add = add;
  if (del) out.delete = del;
  return { ops: out, dropped };
}

export function isEmpty(ops: Draft01Operations): boolean {
  return !ops.set?.length && !ops.add?.length && !ops.delete?.length;
}

// ---------------------------------------------------------------------------------------------------------------
// Requests

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
  if (typeof value !== 'string') return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const compact = /\s/.test(value) ? value.replace(/\s+/g, '') : value;
  if (compact.length % 4 !== 0 || !BASE64.test(compact)) return undefined;
  return Buffer.from(compact, 'base64');
}

/** A parsed header field: its name and the raw bytes of the whole field (name, colon, value, folding, CRLF). */
export interface RawHeader {
  name: string;
  raw: string;
}

/**
 * Splits the header section of a raw message (latin1, so bytes survive) into fields, and returns the offset of
 * the body (after the empty line). Lines without a colon are not fields and are skipped.
 */
export function parseHeaderSection(raw: Buffer): { headers: RawHeader[]; bodyOffset: number } {
  const text = raw.toString('latin1');
  const headers: RawHeader[] = [];
  let pos = 0;
  let current: RawHeader | undefined;
  let bodyOffset = text.length;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    const end = nl < 0 ? text.length : nl + 1;
    const line = text.slice(pos, end);
    if (line === '\r\n' || line === '\n') {
      bodyOffset = end;
      break;
    }
    if ((line.startsWith(' ') || line.startsWith('\t')) && current) {
      current.raw += line;
    } else {
      const colon = line.indexOf(':');
      current = colon > 0 ? { name: line.slice(0, colon).trim(), raw: line } : undefined;
      if (current) headers.push(current);
    }
    pos = end;
  }
  return { headers, bodyOffset };
}

function headerValueOf(h: RawHeader): string {
  return unfoldHeader(h.raw.slice(h.raw.indexOf(':') + 1));
}

/** The session a hook call belongs to: the connection (client and server endpoints) inbound, the queued message outbound. */
export function draft01SessionId(identity: string, body: Draft01HookRequest, direction: Draft01Direction, requestId: string): string {
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

function smtpReply(r: { code: number; enhancedCode?: string | null; message?: string | null } | null | undefined): SmtpReply | undefined {
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
  if (!direction) return fail('INVALID_STAGE', `this registration is not subscribed to stage "${body.stage.slice(0, 32)}"`);
  const stage = body.stage as Draft01Stage;
  const actions: readonly string[] = direction === 'inbound' ? DRAFT01_INBOUND_ACTIONS : DRAFT01_OUTBOUND_ACTIONS;
  const action = (body.action ?? (direction === 'inbound' ? 'accept' : 'continue')) as Draft01Action;
  if (!actions.includes(action)) return fail('INVALID_ACTION', `action "${String(body.action).slice(0, 32)}" is not a ${direction} action`);

  let raw: Buffer | undefined;
  if (body.rawMessage !== null && body.rawMessage !== undefined) {
    raw = decodeBinary(body.rawMessage);
    if (!raw) return fail('INVALID_REQUEST', 'rawMessage is not valid Base64');
  }
  const env = body.envelope ?? undefined;
  const recipients: RequestView['recipients'] = [];
  const to: EnvelopeAddress[] = [];
  for (const r of env?.to ?? []) {
    if (typeof r.address !== 'string' || r.address === '') return fail('INVALID_REQUEST', 'envelope.to[].address must be a non-empty string');
    const status = 'status' in r && typeof r.status === 'string' ? r.status : undefined;
    if (direction === 'outbound' && status !== undefined && !(DRAFT01_DELIVERY_STATUSES as readonly string[]).includes(status)) {
      return fail('INVALID_REQUEST', `envelope.to[].status "${status.slice(0, 32)}" is not a delivery status`);
    }
    recipients.push({ address: r.address, ...(status !== undefined ? { status } : {}) });
    const p = params(r.parameters);
    let delivery: RecipientDelivery | undefined;
    if (direction === 'outbound' && status !== undefined) {
      const attempt = 'attempt' in r && typeof r.attempt === 'number' ? r.attempt : undefined;
      const last = 'lastResponse' in r ? smtpReply(r.lastResponse) : undefined;
      delivery = { status: status as RecipientDelivery['status'], ...(attempt !== undefined ? { attempt } : {}), ...(last ? { lastReply: last } : {}) };
    }
    to.push({ address: r.address.toLowerCase(), ...(p ? { parameters: p } : {}), ...(delivery ? { delivery } : {}) });
  }

  // Header names for index arithmetic: the MTA's own list when sent, else the raw message's header section.
  const parsed = raw ? parseHeaderSection(raw) : undefined;
  const headers = body.message?.headers ? body.message.headers.map((h) => h.name) : parsed?.headers.map((h) => h.name);
  const subjectRaw = parsed?.headers.find((h) => h.name.toLowerCase() === 'subject');
  const subject = body.message?.subject ?? (subjectRaw ? Buffer.from(headerValueOf(subjectRaw), 'latin1').toString('utf8') : undefined);

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
    ...(s ? { server: { ...(s.name ? { name: s.name } : {}), ...(s.ip ? { ip: s.ip } : {}), ...(typeof s.port === 'number' ? { port: s.port } : {}) } } : {}),
    ...(body.tls ? { tls: { ...(body.tls.version ? { version: body.tls.version } : {}), ...(body.tls.cipher ? { cipher: body.tls.cipher } : {}) } } : {}),
    ...(body.auth?.login ? { auth: { login: body.auth.login, ...(body.auth.method ? { method: body.auth.method } : {}) } } : {}),
    ...(env
      ? {
          // The null reverse-path arrives as `address: null`; hookgate's model spells it "".
          from: { address: (env.from?.address ?? '').toLowerCase(), ...(params(env.from?.parameters) ? { parameters: params(env.from?.parameters)! } : {}) },
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
  const view: RequestView = { stage, direction, action, recipients, ...(headers ? { headers } : {}), ...(raw ? { raw } : {}) };
  return { ok: true, value: { incoming, ...(raw ? { message: raw } : {}), view } };
}

// ---------------------------------------------------------------------------------------------------------------
// Answers

/** The answer to one hook call: 204, 200 with operations, or 503 (hookgate could not decide an outbound stage). */
export type Draft01Answer = { status: 204 } | { status: 200; ops: Draft01Operations } | { status: 503; message: string };

export interface AnswerContext {
  view: RequestView;
  writable: readonly string[];
  /** Replies used when a verdict carries none or one of the wrong class. */
  replies: { tempfail: SmtpReply; reject: SmtpReply };
}

/** One line, printable ASCII, bounded: what ends up verbatim in an SMTP reply. */
function replyText(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/[^\x20-\x7e]/g, '?').slice(0, 400);
}

/** Header values go into the message: no CR, LF or NUL (the rspamd bridge refuses them). */
function headerValue(value: string): string {
  return value.replace(/[\r\n\0]+/g, ' ').trim();
}

const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3}$/;

function replyFor(verdict: Verdict, kind: 'tempfail' | 'reject', replies: AnswerContext['replies']): { code: number; enhancedCode: string | null; message: string } {
  const fallback = replies[kind];
  const r = verdict.reply ?? fallback;
  const cls = kind === 'tempfail' ? 4 : 5;
  const use = Math.floor(r.code / 100) === cls ? r : fallback;
  const enhanced = use.enhanced && ENHANCED.test(use.enhanced) && use.enhanced.startsWith(String(cls)) ? use.enhanced : null;
  return { code: use.code, enhancedCode: enhanced, message: replyText(use.text) };
}

interface OpsBuilder {
  set: Draft01SetOperation[];
  add: Draft01AddOperation[];
  delete: Draft01DeleteOperation[];
}

function build(b: OpsBuilder): Draft01Operations {
  const out: Draft01Operations = {};
  if (b.set.length) out.set = b.set;
  if (b.add.length) out.add = b.add;
  if (b.delete.length) out.delete = b.delete;
  return out;
}

/** The n-th (1-based) occurrence of a header name in `names`, case-insensitively; -1 if absent. */
function nth(names: readonly string[], name: string, n: number): number {
  const lower = name.toLowerCase();
  let seen = 0;
  for (let i = 0; i < names.length; i++) {
    if (names[i]!.toLowerCase() === lower && ++seen === n) return i;
  }
  return -1;
}

/**
 * Header modifications as operations on `/message/headers`, with the draft's index rules: `set` runs first on the
 * original list, then every `add` (each index against the list as it is then), then `delete` (highest index first,
 * against the list after the adds). `addHeader` prepends (in order), as trace headers are, and as the legacy
 * Stalwart path does; `insertHeader` index n (1-based, milter style) puts the header before the n-th original
 * header; `changeHeader` of an absent occurrence adds the header (milter semantics).
 */
function headerOps(mods: readonly Modification[], names: readonly string[] | undefined, b: OpsBuilder, dropped: string[]): void {
  // Simulated list: original index, or -1 for an added header.
  const sim: number[] = (names ?? []).map((_, i) => i);
  let prepended = 0;
  const add = (index: number, name: string, value: string) => {
    b.add.push({ path: '/message/headers', value: { name, value: headerValue(value) }, index });
    sim.splice(index, 0, -1);
  };
  const deletes: number[] = [];
  for (const m of mods) {
    switch (m.type) {
      case 'addHeader':
        add(prepended++, m.name, m.value);
        break;
      case 'insertHeader': {
        if (!names) {
          add(prepended++, m.name, m.value);
          break;
        }
        const before = Math.max(0, m.index - 1);
        const at = before >= names.length ? sim.length : sim.indexOf(before);
        add(at < 0 ? sim.length : at, m.name, m.value);
        break;
      }
      case 'changeHeader': {
        const i = names ? nth(names, m.name, m.index) : -1;
        if (i >= 0) b.set.push({ path: `/message/headers/${i}/value`, value: headerValue(m.value) });
        else if (names) add(prepended++, m.name, m.value);
        else dropped.push(`changeHeader ${m.name}: header list unknown`);
        break;
      }
      case 'deleteHeader': {
        const i = names ? nth(names, m.name, m.index) : -1;
        if (i >= 0) deletes.push(i);
        else if (!names) dropped.push(`deleteHeader ${m.name}: header list unknown`);
        break;
      }
      case 'changeFrom':
      case 'addRecipient':
      case 'deleteRecipient':
      case 'replaceBody':
        break;
    }
  }
  const positions = [...new Set(deletes)].map((orig) => sim.indexOf(orig)).filter((p) => p >= 0).sort((x, y) => y - x);
  for (const p of positions) b.delete.push({ path: `/message/headers/${p}` });
}

/** Rebuilds the raw message with the header modifications applied and a new body (for `replaceBody`). */
export function rebuildRaw(raw: Buffer, mods: readonly Modification[], body: string): Buffer {
  const { headers } = parseHeaderSection(raw);
  const names = headers.map((h) => h.name);
  const lines: (string | null)[] = headers.map((h) => h.raw.replace(/\r?\n$/, '\r\n').replace(/([^\r])\n/g, '$1\r\n'));
  const field = (name: string, value: string) => Buffer.from(`${name}: ${headerValue(value)}\r\n`, 'utf8').toString('latin1');
  const top: string[] = [];
  const inserted = new Map<number, string[]>();
  for (const m of mods) {
    switch (m.type) {
      case 'addHeader':
        top.push(field(m.name, m.value));
        break;
      case 'insertHeader': {
        const at = Math.max(0, m.index - 1);
        inserted.set(at, [...(inserted.get(at) ?? []), field(m.name, m.value)]);
        break;
      }
      case 'changeHeader': {
        const i = nth(names, m.name, m.index);
        if (i >= 0) lines[i] = field(headers[i]!.name, m.value);
        else top.push(field(m.name, m.value));
        break;
      }
      case 'deleteHeader': {
        const i = nth(names, m.name, m.index);
        if (i >= 0) lines[i] = null;
        break;
      }
      case 'changeFrom':
      case 'addRecipient':
      case 'deleteRecipient':
      case 'replaceBody':
        break;
    }
  }
  const out: string[] = [...top];
  lines.forEach((l, i) => {
    out.push(...(inserted.get(i) ?? []));
    if (l !== null) out.push(l);
  });
  for (const [at, list] of inserted) if (at >= lines.length) out.push(...list);
  return Buffer.concat([Buffer.from(out.join(''), 'latin1'), Buffer.from('\r\n'), Buffer.from(body, 'utf8')]);
}

function envelopeOps(mods: readonly Modification[], view: RequestView, b: OpsBuilder, dropped: string[]): void {
  const deletes: number[] = [];
  for (const m of mods) {
    switch (m.type) {
      case 'changeFrom':
        b.set.push({ path: '/envelope/from', value: { address: m.address === '' ? null : m.address, parameters: m.parameters ?? {} } });
        break;
      case 'addRecipient':
        b.add.push({ path: '/envelope/to', value: { address: m.address, parameters: m.parameters ?? {} } });
        break;
      case 'deleteRecipient': {
        const i = view.recipients.findIndex((r) => r.address.toLowerCase() === m.address.toLowerCase());
        if (i >= 0) deletes.push(i);
        else dropped.push(`deleteRecipient: not a recipient of this request`);
        break;
      }
      case 'addHeader':
      case 'insertHeader':
      case 'changeHeader':
      case 'deleteHeader':
      case 'replaceBody':
        break;
    }
  }
  // Added recipients are appended, so original indices still hold when the deletes run.
  for (const i of [...new Set(deletes)].sort((x, y) => y - x)) b.delete.push({ path: `/envelope/to/${i}` });
}

function can(writable: readonly string[], path: string): boolean {
  return writable.some((w) => path === w || path.startsWith(`${w}/`));
}

/**
 * Message and envelope modifications of a verdict that lets the message go on. With a body replacement the whole
 * message is rewritten (`set /rawMessage`, header changes folded in): the draft ignores `/message` edits next to a
 * `/rawMessage` one. Returns false when a modification the verdict needs cannot be expressed in a way that keeps
 * mail safe (a body replacement without a writable `/rawMessage`, e.g. a DLP redaction).
 */
function modificationOps(verdict: Verdict, ctx: AnswerContext, b: OpsBuilder, dropped: string[]): boolean {
  const mods = verdict.modifications;
  if (mods.length === 0) return true;
  const { view, writable } = ctx;
  const replace = [...mods].reverse().find((m): m is Extract<Modification, { type: 'replaceBody' }> => m.type === 'replaceBody');
  if (replace) {
    if (!can(writable, '/rawMessage') || !view.raw) return false;
    b.set.push({ path: '/rawMessage', value: rebuildRaw(view.raw, mods, replace.body) });
  } else if (can(writable, '/message/headers')) {
    headerOps(mods, view.headers, b, dropped);
  } else if (mods.some((m) => m.type.endsWith('Header'))) {
    dropped.push('header modifications: /message/headers not negotiated');
  }
  if (view.direction === 'inbound' && mods.some((m) => m.type === 'changeFrom' || m.type === 'addRecipient' || m.type === 'deleteRecipient')) {
    if (can(writable, '/envelope/from') && can(writable, '/envelope/to')) envelopeOps(mods, view, b, dropped);
    else dropped.push('envelope modifications: /envelope not negotiated');
  }
  return true;
}

/** Answers a terminal inbound verdict with `set /action` and, for reject, `set /response`. */
function inboundAction(action: 'reject' | 'discard' | 'quarantine', reply: ReturnType<typeof replyFor> | undefined, b: OpsBuilder): void {
  b.set.push({ path: '/action', value: action });
  if (reply) b.set.push({ path: '/response', value: reply });
}

function inbound(verdict: Verdict, ctx: AnswerContext, dropped: string[]): Draft01Answer {
  const { view } = ctx;
  const b: OpsBuilder = { set: [], add: [], delete: [] };
  const current = DRAFT01_ACTION_RANK[view.action];
  let action: 'accept' | 'reject' | 'discard' | 'quarantine' = 'accept';
  let reply: ReturnType<typeof replyFor> | undefined;
  switch (verdict.action) {
    case 'accept':
      break;
    case 'tempfail':
      action = 'reject';
      reply = replyFor(verdict, 'tempfail', ctx.replies);
      break;
    case 'reject':
      action = 'reject';
      reply = replyFor(verdict, 'reject', ctx.replies);
      break;
    case 'discard':
      // Nothing to discard before a transaction exists (the rspamd bridge refuses it there): refuse instead.
      if (view.stage === 'connect' || view.stage === 'ehlo') {
        action = 'reject';
        reply = replyFor(verdict, 'reject', ctx.replies);
      } else action = 'discard';
      break;
    case 'quarantine':
      // Kept in hookgate's quarantine (issue 16): refused naming the item, or discarded.
      if (verdict.quarantine) {
        action = verdict.quarantine.answer;
        if (action === 'reject') reply = replyFor(verdict, 'reject', ctx.replies);
        break;
      }
      // Quarantine applies to a message: before data there is none yet, and data is scanned again.
      action = view.stage === 'data' ? 'quarantine' : 'accept';
      break;
  }
  // Never downgrade: an action at or below the request's own is not sent (nor is a lateral change between
  // terminal actions); a terminal request action also makes message edits moot.
  if (DRAFT01_ACTION_RANK[action] > current) inboundAction(action as 'reject' | 'discard' | 'quarantine', reply, b);
  const goesOn = action === 'accept' || action === 'quarantine';
  if (goesOn && current < 2 && view.stage === 'data' && !modificationOps(verdict, ctx, b, dropped)) {
    // A change the message must get (e.g. a DLP redaction) cannot be made: hold the message rather than pass it.
    dropped.push('replaceBody: /rawMessage not negotiated; answered tempfail');
    const hold: OpsBuilder = { set: [], add: [], delete: [] };
    if (current < DRAFT01_ACTION_RANK.reject) inboundAction('reject', replyFor({ ...verdict, reply: undefined }, 'tempfail', ctx.replies), hold);
    return isEmpty(build(hold)) ? { status: 204 } : { status: 200, ops: build(hold) };
  }
  const ops = build(b);
  return isEmpty(ops) ? { status: 204 } : { status: 200, ops };
}

/**
 * Outbound stages. hookgate cannot retry a delivery or hold a DSN for later, so:
 * - accept, quarantine: continue (204; header changes to a DSN are applied);
 * - tempfail (a required scanner could not answer): 503 SCANNER_UNAVAILABLE, so the MTA retries the call and then
 *   applies its own failure policy, rather than hookgate guessing;
 * - delivery/defer: reject → `cancel`; discard → `cancel` and every recipient not yet delivered becomes
 *   `failed-silent` (no DSN: the message is dropped without backscatter);
 * - dsn: reject/discard (malware or a DLP hit in the DSN about to be sent) → the DSN is suppressed: `/rawMessage`
 *   and `/message` are deleted and its recipients become `failed-silent`; with none of those writable, `cancel`.
 */
function outbound(verdict: Verdict, ctx: AnswerContext, dropped: string[]): Draft01Answer {
  const { view, writable } = ctx;
  const b: OpsBuilder = { set: [], add: [], delete: [] };
  const cancelled = DRAFT01_ACTION_RANK[view.action] >= DRAFT01_ACTION_RANK.cancel;
  switch (verdict.action) {
    case 'tempfail':
      return { status: 503, message: 'a required scanner could not decide; retry later' };
    case 'accept':
    case 'quarantine':
      if (!cancelled && view.stage === 'dsn' && !modificationOps(verdict, ctx, b, dropped)) {
        dropped.push('replaceBody: /rawMessage not negotiated; DSN suppressed');
        return outboundStop('discard', view, writable, dropped);
      }
      break;
    case 'reject':
    case 'discard':
      if (cancelled) break;
      return outboundStop(verdict.action, view, writable, dropped);
  }
  const ops = build(b);
  return isEmpty(ops) ? { status: 204 } : { status: 200, ops };
}

function outboundStop(action: 'reject' | 'discard', view: RequestView, writable: readonly string[], dropped: string[]): Draft01Answer {
  const b: OpsBuilder = { set: [], add: [], delete: [] };
  const silence = (statuses: readonly string[]) => {
    if (!can(writable, '/envelope/to')) return;
    view.recipients.forEach((r, i) => {
      if (r.status !== undefined && statuses.includes(r.status)) b.set.push({ path: `/envelope/to/${i}/status`, value: 'failed-silent' });
    });
  };
  if (view.stage === 'dsn') {
    if (can(writable, '/rawMessage') && view.raw) b.delete.push({ path: '/rawMessage' });
    if (can(writable, '/message')) b.delete.push({ path: '/message' });
    silence(['failed', 'deferred', 'pending']);
    if (b.delete.length === 0 && b.set.length === 0) {
      dropped.push('DSN suppression: neither /rawMessage, /message nor /envelope/to negotiated; cancelled instead');
      b.set.push({ path: '/action', value: 'cancel' });
    }
  } else {
    b.set.push({ path: '/action', value: 'cancel' });
    if (action === 'discard') silence(['pending', 'deferred', 'failed']);
  }
  return { status: 200, ops: build(b) };
}

/**
 * A verdict → the draft-01 answer for the request it decides. Operations are limited to `writable` (checked again
 * by `filterOps`); `dropped` lists what could not be expressed, for the log.
 */
export function toDraft01(verdict: Verdict, ctx: AnswerContext): { answer: Draft01Answer; dropped: string[] } {
  const dropped: string[] = [];
  const answer = ctx.view.direction === 'inbound' ? inbound(verdict, ctx, dropped) : outbound(verdict, ctx, dropped);
  if (answer.status !== 200) return { answer, dropped };
  const filtered = filterOps(answer.ops, ctx.writable);
  dropped.push(...filtered.dropped.map((p) => `${p}: not writable`));
  return { answer: isEmpty(filtered.ops) ? { status: 204 } : { status: 200, ops: filtered.ops }, dropped };
}
