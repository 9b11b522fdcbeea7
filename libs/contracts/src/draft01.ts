/**
 * MTA Hooks draft-degennaro-mta-hooks-01, the scanner side: wire types and schemas for discovery, registration,
 * hook requests, operation answers and errors, plus the record hookgate keeps per registration in Redis.
 * docs/protocols/draft01.md records every rule applied and each reading of an ambiguity in the draft.
 *
 * Request schemas are lenient where real MTAs are (unknown keys allowed, `null` accepted where the draft types a
 * value as non-null but no value exists yet, e.g. `envelope` at connect). Binary values (`rawMessage`) are strings
 * (Base64) in JSON and byte strings in CBOR, so the schemas accept both; they are meant for a compiler that knows
 * `Uint8Array` (TypeBox's TypeCompiler), not for Ajv.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { Draft01ErrorCode } from './errors.js';

/** Inbound (SMTP) stages of draft-01, in SMTP order. */
export const DRAFT01_INBOUND_STAGES = ['connect', 'ehlo', 'mail', 'rcpt', 'data'] as const;
/** Outbound (delivery) stages of draft-01. */
export const DRAFT01_OUTBOUND_STAGES = ['delivery', 'defer', 'dsn'] as const;
export type Draft01InboundStage = (typeof DRAFT01_INBOUND_STAGES)[number];
export type Draft01OutboundStage = (typeof DRAFT01_OUTBOUND_STAGES)[number];
export type Draft01Stage = Draft01InboundStage | Draft01OutboundStage;
export type Draft01Direction = 'inbound' | 'outbound';

/** Every action an inbound request may carry (what earlier scanners in the MTA's chain decided). */
export const DRAFT01_INBOUND_ACTIONS = ['accept', 'reject', 'discard', 'quarantine', 'disconnect'] as const;
/** Every action an outbound request may carry. */
export const DRAFT01_OUTBOUND_ACTIONS = ['continue', 'cancel'] as const;
export type Draft01InboundAction = (typeof DRAFT01_INBOUND_ACTIONS)[number];
export type Draft01OutboundAction = (typeof DRAFT01_OUTBOUND_ACTIONS)[number];
export type Draft01Action = Draft01InboundAction | Draft01OutboundAction;

/**
 * Precedence of actions: a scanner may only raise the request's action, never lower it (draft §"Precedence").
 * accept < quarantine < {reject, discard, disconnect}; continue < cancel.
 */
export const DRAFT01_ACTION_RANK: Readonly<Record<Draft01Action, number>> = {
  accept: 0,
  quarantine: 1,
  reject: 2,
  discard: 2,
  disconnect: 2,
  continue: 0,
  cancel: 2,
};

/** Per-recipient delivery states of an outbound request's `envelope.to[]`. */
export const DRAFT01_DELIVERY_STATUSES = [
  'pending',
  'delivered',
  'deferred',
  'failed',
  'failed-silent',
] as const;
export type Draft01DeliveryStatus = (typeof DRAFT01_DELIVERY_STATUSES)[number];

/** The draft's error body. */
export interface Draft01ErrorBody {
  error: { code: Draft01ErrorCode; message: string };
}

/** `registrationId`: ASCII letters, digits, `-`, `_`, `:`; at most 255 characters. */
export const DRAFT01_REGISTRATION_ID = /^[A-Za-z0-9_:-]{1,255}$/;
/** `X-MTA-Hooks-Request-Id`: at most 128 characters of the RFC 3986 unreserved set. */
export const DRAFT01_REQUEST_ID = /^[A-Za-z0-9._~-]{1,128}$/;
/** RFC 3339 `date-time`; fractional seconds allowed (the rspamd bridge sends milliseconds). */
export const DRAFT01_UTC_DATE = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** Serialization formats hookgate speaks on hook calls. */
export const DRAFT01_SERIALIZATIONS = ['json', 'cbor'] as const;
export type Draft01Serialization = (typeof DRAFT01_SERIALIZATIONS)[number];

/**
 * Top-level properties hookgate accepts in inbound hook requests (discovery `fetchProperties`). hookgate reads all
 * of them except `/senderAuth`, which it accepts and ignores (no scanner uses it yet).
 */
export const DRAFT01_INBOUND_FETCH = [
  '/stage',
  '/action',
  '/timestamp',
  '/protocol',
  '/queue',
  '/server',
  '/client',
  '/tls',
  '/auth',
  '/senderAuth',
  '/response',
  '/envelope',
  '/message',
  '/rawMessage',
] as const;
/** Top-level properties hookgate accepts in outbound hook requests. */
export const DRAFT01_OUTBOUND_FETCH = [
  '/stage',
  '/action',
  '/timestamp',
  '/protocol',
  '/queue',
  '/server',
  '/envelope',
  '/message',
  '/rawMessage',
] as const;

/**
 * Paths hookgate may write in inbound answers (discovery `updateProperties`). An answer only touches those of
 * them the registration negotiated (see `writablePaths` in the ingress adapter and docs/protocols/draft01.md).
 */
export const DRAFT01_INBOUND_UPDATE = [
  '/action',
  '/response',
  '/envelope/from',
  '/envelope/to',
  '/message/headers',
  '/rawMessage',
] as const;
/** Paths hookgate may write in outbound answers: the action, recipients' status, and the DSN itself. */
export const DRAFT01_OUTBOUND_UPDATE = ['/action', '/envelope/to', '/message', '/rawMessage'] as const;

/** Properties every registration must negotiate: hookgate cannot route a request without its stage. */
export const DRAFT01_REQUIRED_PROPERTIES = ['/stage'] as const;

const nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const opt = <T extends TSchema>(t: T) => Type.Optional(nullable(t));
const UnsignedInt = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const UtcDate = Type.String({ pattern: DRAFT01_UTC_DATE.source, maxLength: 64 });
const Str = (maxLength = 1024) => Type.String({ maxLength });
/** Binary value: Base64 text in JSON, a byte string in CBOR. */
const Binary = Type.Union([Type.String(), Type.Uint8Array()]);
/** ESMTP parameters: `""` (or null) for a valueless keyword such as `SMTPUTF8`. */
const Parameters = Type.Record(Type.String({ maxLength: 64 }), nullable(Str(1024)));

// ---------------------------------------------------------------------------------------------------------------
// Discovery

export interface Draft01DirectionCapabilities {
  stages: string[];
  actions: string[];
  fetchProperties: string[];
  updateProperties: string[];
}

/** `GET /.well-known/mta-hooks`. */
export interface Draft01Discovery {
  version: '1.0';
  endpoints: { registration: string; deregistration: string };
  serialization: Draft01Serialization[];
  capabilities: {
    inbound: Draft01DirectionCapabilities | null;
    outbound: Draft01DirectionCapabilities | null;
  };
  limits: { maxMessageSize: number | null; maxRegistrations: number | null; timeoutMs: number | null } | null;
  extensions: string[] | null;
}

// ---------------------------------------------------------------------------------------------------------------
// Registration

export const Draft01Subscription = Type.Object({
  stages: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 }),
  /** JSON Pointers; `null` or absent = every property hookgate supports for the direction. */
  properties: opt(Type.Array(Type.String({ maxLength: 256 }), { maxItems: 128 })),
  /** Not in draft-01 (registration errors name INVALID_ACTION, the request has no field for it): checked if sent. */
  actions: opt(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 })),
});
export type Draft01Subscription = Static<typeof Draft01Subscription>;

export const Draft01RegistrationRequest = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 255 }),
  version: opt(Str(255)),
  timeoutMs: opt(UnsignedInt),
  expiresAt: opt(UtcDate),
  serialization: Type.String({ maxLength: 32 }),
  inbound: opt(Draft01Subscription),
  outbound: opt(Draft01Subscription),
  /** Applied by the MTA itself; hookgate checks that it understands it (draft §"Registration"). */
  filter: Type.Optional(Type.Unknown()),
  metadata: opt(Type.Record(Type.String({ maxLength: 255 }), Str(1024))),
});
export type Draft01RegistrationRequest = Static<typeof Draft01RegistrationRequest>;

/** A direction as negotiated: the stages exactly as requested, the properties as the intersection. */
export interface Draft01Negotiated {
  stages: string[];
  properties: string[];
}

/** The 201 answer to a registration. */
export interface Draft01RegistrationResponse {
  registrationId: string;
  status: 'active' | 'suspended';
  createdAt: string;
  expiresAt: string | null;
  hookEndpoint: string;
  negotiated: {
    serialization: Draft01Serialization;
    inbound: Draft01Negotiated | null;
    outbound: Draft01Negotiated | null;
  };
  endpoints: { deregistration: string; status: string };
}

export interface Draft01InvocationCounts {
  total: number;
  last24h: number;
  last7d: number;
  last30d: number;
}

/** `GET {status}`. */
export interface Draft01StatusResponse {
  registrationId: string;
  status: 'active' | 'suspended' | 'deregistered';
  createdAt: string;
  expiresAt: string | null;
  lastInvocation: string | null;
  statistics: {
    invocations: Draft01InvocationCounts;
    errors: Draft01InvocationCounts;
    averageResponseMs: number;
  } | null;
  health: {
    status: 'healthy' | 'degraded' | 'unhealthy';
    lastCheck: string;
    consecutiveFailures: number;
  } | null;
}

/** `DELETE {deregistration}`. */
export interface Draft01DeregistrationResponse {
  registrationId: string;
  status: 'deregistered';
  deregisteredAt: string;
}

/**
 * A registration as hookgate stores it in Redis (msgpack, `v` for evolution). Shared by every ingress replica, so
 * any replica serves any registration.
 */
export interface Draft01Registration {
  v: 1;
  id: string;
  /** The authenticated MTA identity that created it; every later call must come from the same identity. */
  identity: string;
  name: string;
  version: string | null;
  status: 'active' | 'deregistered';
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms; hooks are still answered until `expiresAt + grace`. */
  expiresAt: number;
  /** Epoch ms; set by deregistration. Hooks are answered for a grace period after it, then 410. */
  deregisteredAt?: number;
  /** Set when an MTA renewed explicitly (new registration naming this one): the id that replaced it. */
  replacedBy?: string;
  /** Epoch ms: set with `replacedBy`; hooks with this id are answered until then. */
  retiresAt?: number;
  serialization: Draft01Serialization;
  /** The hook timeout the MTA declared, ms; the pipeline answers a margin before it. */
  timeoutMs: number | null;
  inbound: Draft01Negotiated | null;
  outbound: Draft01Negotiated | null;
  metadata: Record<string, string> | null;
}

// ---------------------------------------------------------------------------------------------------------------
// Hook requests

export const Draft01SmtpResponse = Type.Object({
  code: Type.Integer({ minimum: 200, maximum: 599 }),
  enhancedCode: opt(Type.String({ maxLength: 16 })),
  message: opt(Str(4096)),
});

export const Draft01EnvelopeAddress = Type.Object({
  /** `null` only for the null reverse-path (`MAIL FROM:<>`). */
  address: nullable(Str(1024)),
  parameters: opt(Parameters),
});

/** An outbound recipient: an address plus where its delivery stands. */
export const Draft01DeliveryRecipient = Type.Object({
  address: Str(1024),
  parameters: opt(Parameters),
  status: Type.Optional(Type.String({ maxLength: 32 })),
  attempt: opt(UnsignedInt),
  lastResponse: opt(Draft01SmtpResponse),
  nextAttemptAt: opt(UtcDate),
  nextDsnAt: opt(UtcDate),
  queueName: opt(Str(255)),
});

export const Draft01EmailHeader = Type.Object({
  name: Str(1024),
  value: Type.String({ maxLength: 1_000_000 }),
});

/** The parts of the JMAP Email object hookgate reads; everything else passes unread. */
export const Draft01Message = Type.Object({
  size: opt(UnsignedInt),
  subject: opt(Type.String({ maxLength: 100_000 })),
  headers: opt(Type.Array(Draft01EmailHeader, { maxItems: 10_000 })),
});

export const Draft01HookRequest = Type.Object({
  stage: Type.String({ maxLength: 64 }),
  action: Type.Optional(Type.String({ maxLength: 64 })),
  timestamp: Type.Optional(UtcDate),
  protocol: opt(
    Type.Object({ version: Type.Optional(Type.Union([Type.String({ maxLength: 32 }), Type.Number()])) }),
  ),
  queue: opt(Type.Object({ id: Str(256), expiresAt: opt(UtcDate), attempts: opt(UnsignedInt) })),
  server: opt(
    Type.Object({
      name: opt(Str(1024)),
      ip: opt(Str(64)),
      port: opt(Type.Integer({ minimum: 0, maximum: 65535 })),
    }),
  ),
  client: opt(
    Type.Object({
      ip: Str(64),
      port: opt(Type.Integer({ minimum: 0, maximum: 65535 })),
      ptr: opt(Str(1024)),
      /** `null` before EHLO/HELO (the draft types it as a String, but there is no value at connect). */
      ehlo: opt(Str(1024)),
      asn: opt(UnsignedInt),
      country: opt(Str(8)),
      activeConnections: opt(UnsignedInt),
    }),
  ),
  tls: opt(
    Type.Object({
      version: opt(Str(64)),
      cipher: opt(Str(256)),
      cipherBits: opt(UnsignedInt),
      certIssuer: opt(Str(4096)),
      certSubject: opt(Str(4096)),
    }),
  ),
  auth: opt(Type.Object({ login: Str(1024), method: opt(Str(64)) })),
  senderAuth: opt(Type.Record(Type.String({ maxLength: 64 }), nullable(Str(256)))),
  response: opt(Draft01SmtpResponse),
  /** `null` at connect and ehlo (no transaction yet). `to` holds DeliveryRecipient objects outbound. */
  envelope: opt(
    Type.Object({
      from: opt(Draft01EnvelopeAddress),
      to: opt(
        Type.Array(Type.Union([Draft01DeliveryRecipient, Draft01EnvelopeAddress]), { maxItems: 10_000 }),
      ),
    }),
  ),
  message: opt(Draft01Message),
  rawMessage: opt(Binary),
});
export type Draft01HookRequest = Static<typeof Draft01HookRequest>;
export type Draft01EnvelopeAddress = Static<typeof Draft01EnvelopeAddress>;
export type Draft01SmtpResponse = Static<typeof Draft01SmtpResponse>;

// ---------------------------------------------------------------------------------------------------------------
// Answers

/** `set`: replaces the value at `path` (RFC 6901 JSON Pointer). */
export interface Draft01SetOperation {
  path: string;
  value: unknown;
}
/** `add`: on an array (`path` names the array itself) inserts at `index`, or appends when it is absent. */
export interface Draft01AddOperation {
  path: string;
  value: unknown;
  index?: number;
}
export interface Draft01DeleteOperation {
  path: string;
}

/** A 200 answer: the MTA applies all `set`, then all `add`, then all `delete`, each in array order. */
export interface Draft01Operations {
  set?: Draft01SetOperation[];
  add?: Draft01AddOperation[];
  delete?: Draft01DeleteOperation[];
}
