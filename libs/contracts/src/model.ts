/**
 * hookgate's internal transaction model. Every frontend (Stalwart legacy, draft-01, milter) is an adapter onto
 * these types; scanners and the verdict policy never see a wire format.
 */

/** SMTP and delivery stages. `auth` exists in Stalwart's config but is never sent; the last three are draft-only. */
export const STAGES = [
  'connect',
  'ehlo',
  'auth',
  'mail',
  'rcpt',
  'data',
  'delivery',
  'defer',
  'dsn',
] as const;
export type Stage = (typeof STAGES)[number];

/** The stages the legacy Stalwart format can carry. */
export const LEGACY_STAGES = [
  'connect',
  'ehlo',
  'auth',
  'mail',
  'rcpt',
  'data',
] as const satisfies readonly Stage[];

/**
 * hookgate's actions. `tempfail` is a 4xx reject; `disconnect` exists only in draft-01 and is answered as a reject
 * elsewhere.
 */
export const ACTIONS = ['accept', 'tempfail', 'reject', 'discard', 'quarantine'] as const;
export type Action = (typeof ACTIONS)[number];

/** An SMTP reply a verdict asks the MTA to give. */
export interface SmtpReply {
  /** Basic status code, e.g. 550 or 451. */
  code: number;
  /** RFC 3463 enhanced status code, e.g. `5.7.1`. */
  enhanced?: string;
  /** Human-readable text, a single line without CR or LF. */
  text: string;
}

/** An ESMTP address with optional parameters (`NOTIFY=NEVER` as `{ NOTIFY: 'NEVER' }`). */
export interface EnvelopeAddress {
  /** Lower-cased address; `''` is the null sender. */
  address: string;
  parameters?: Record<string, string>;
  /** Outbound stages only (draft-01 delivery, defer, dsn): where delivery to this recipient stands. */
  delivery?: RecipientDelivery;
}

/**
 * The delivery state of one recipient at an outbound stage, as the MTA reports it (draft-01 DeliveryRecipient).
 * `failed-silent` means the MTA sends no DSN for the recipient.
 */
export interface RecipientDelivery {
  status: 'pending' | 'delivered' | 'deferred' | 'failed' | 'failed-silent';
  /** Attempt number for this recipient, from 1. */
  attempt?: number;
  /** The last reply of the remote server, when there was one. */
  lastReply?: SmtpReply;
}

export interface ClientInfo {
  ip: string;
  port?: number;
  /** Reverse DNS name, when the MTA resolved one. */
  ptr?: string;
  /** HELO/EHLO name, once given. */
  helo?: string;
}

export interface ServerInfo {
  name?: string;
  ip?: string;
  port?: number;
}

/**
 * Changes a verdict asks the MTA to make. Positions follow the milter convention: `index` is 1-based per header
 * name for change/delete. Adapters translate into each protocol and drop what it cannot express (and say so).
 */
export type Modification =
  | { type: 'addHeader'; name: string; value: string }
  | { type: 'insertHeader'; index: number; name: string; value: string }
  | { type: 'changeHeader'; index: number; name: string; value: string }
  | { type: 'deleteHeader'; index: number; name: string }
  | { type: 'changeFrom'; address: string; parameters?: Record<string, string> }
  | { type: 'addRecipient'; address: string; parameters?: Record<string, string> }
  | { type: 'deleteRecipient'; address: string }
  | { type: 'replaceBody'; body: string };

/** Facts about the message at `data`; the bytes themselves are stored once in Redis (claim-check). */
export interface MessageInfo {
  /** Byte length of the whole message as the MTA reported it. */
  size: number;
  /** Byte length of the bytes hookgate stored for scanning. */
  storedBytes: number;
  /**
   * True when the stored bytes are a reconstruction that lost data (legacy Stalwart sends no raw message; a body
   * that was not UTF-8 arrives with U+FFFD), so scanners and logs can see the input was not exact.
   */
  lossy: boolean;
  /** The Subject header (unfolded, trimmed), for subject tagging; never logged. */
  subject?: string;
}

/**
 * One stage request from an MTA, in hookgate's terms. Persisted in Redis for workers; carries `v` to evolve.
 */
export interface StageRequest {
  v: 1;
  protocol: Protocol;
  stage: Stage;
  /** Correlates stages of one SMTP connection; see docs/adr/0003-transaction-correlation.md. */
  sessionId: string;
  /** `${sessionId}.${n}`: the n-th mail transaction in the session; `${sessionId}.0` before the first MAIL. */
  txnId: string;
  /** Unique per stage request; keys results, jobs and the verdict record. */
  reqId: string;
  client: ClientInfo;
  server?: ServerInfo;
  tls?: { version?: string; cipher?: string };
  /** Authenticated (SASL) user: its presence makes the traffic outbound for policy. */
  auth?: { login: string; method?: string };
  from?: EnvelopeAddress;
  to?: EnvelopeAddress[];
  /** At `rcpt`, the recipient being checked. */
  rcpt?: string;
  queueId?: string;
  message?: MessageInfo;
  /** Epoch ms when the ingress received the request. */
  receivedAt: number;
  /** Epoch ms by which the answer must be given. */
  deadlineAt: number;
}

export const PROTOCOLS = ['stalwart', 'draft01', 'milter'] as const;
export type Protocol = (typeof PROTOCOLS)[number];
