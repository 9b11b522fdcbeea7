/**
 * hookgate's error catalogue: every error code hookgate gives, with the HTTP status it is answered with (where it
 * can reach an HTTP client) and its default message, in one place (as fastify's lib/errors.js keeps code, message
 * and status together). Two families: hookgate's own `HOOKGATE_ERR_*` codes, and the wire codes draft-01 fixes for
 * its routes. Code elsewhere names an entry (`ERR.NOT_FOUND`, `ERRORS.NOT_FOUND`), never a code literal.
 * libs/contracts/README.md lists them all.
 */

/** One entry of the catalogue. */
export interface ErrorSpec {
  /** The stable code callers branch on (`err.code`, never `instanceof` across packages) and clients read. */
  readonly code: string;
  /** The HTTP status it is answered with; absent when it never reaches an HTTP client as such. */
  readonly status?: number;
  /** The message when the one raising it gives none. */
  readonly message: string;
  /** Seconds for a Retry-After header: where the answer is "try again shortly". */
  readonly retryAfterSec?: number;
}

/** An entry that can be answered over HTTP. */
export type HttpErrorSpec = ErrorSpec & { readonly status: number };

/** hookgate's own errors (`HOOKGATE_ERR_*`). */
export const ERRORS = {
  /** A config file or variable is invalid; `message` lists every problem. */
  CONFIG_INVALID: { code: 'HOOKGATE_ERR_CONFIG_INVALID', message: 'invalid configuration' },
  /** A request body failed validation. */
  REQUEST_INVALID: { code: 'HOOKGATE_ERR_REQUEST_INVALID', status: 400, message: 'invalid request' },
  /** Unknown or unsupported stage. */
  STAGE_UNKNOWN: { code: 'HOOKGATE_ERR_STAGE_UNKNOWN', status: 400, message: 'unknown stage' },
  /** Missing or wrong credentials. */
  AUTH_REQUIRED: { code: 'HOOKGATE_ERR_AUTH_REQUIRED', status: 401, message: 'authentication required' },
  /** Request body above the configured limit. */
  BODY_TOO_LARGE: {
    code: 'HOOKGATE_ERR_BODY_TOO_LARGE',
    status: 413,
    message: 'request body larger than limits.maxBodyBytes',
  },
  /** A request body in a format the endpoint does not read. */
  MEDIA_TYPE_UNSUPPORTED: {
    code: 'HOOKGATE_ERR_MEDIA_TYPE_UNSUPPORTED',
    status: 415,
    message: 'unsupported Content-Type: send application/json or application/msgpack',
  },
  /** Redis did not answer in time or refused a command. */
  STORE_UNAVAILABLE: { code: 'HOOKGATE_ERR_STORE_UNAVAILABLE', message: 'transaction state unavailable' },
  /** A value read from Redis did not decode: Redis is a trust boundary. */
  STORE_CORRUPT: { code: 'HOOKGATE_ERR_STORE_CORRUPT', message: 'a value in Redis did not decode' },
  /** The scan's deadline passed before the scanner finished. */
  SCAN_TIMEOUT: { code: 'HOOKGATE_ERR_SCAN_TIMEOUT', message: 'scan did not finish before the deadline' },
  /** The scanner could not reach its engine. */
  SCAN_ENGINE_UNAVAILABLE: {
    code: 'HOOKGATE_ERR_SCAN_ENGINE_UNAVAILABLE',
    message: 'scan engine unreachable',
  },
  /** The engine reported an error of its own (e.g. clamd `... ERROR`). */
  SCAN_ENGINE_ERROR: { code: 'HOOKGATE_ERR_SCAN_ENGINE_ERROR', message: 'scan engine reported an error' },
  /** The engine answered something the scanner could not understand. */
  SCAN_PROTOCOL: { code: 'HOOKGATE_ERR_SCAN_PROTOCOL', message: 'scan engine answered something unexpected' },
  /** The scanner threw; a bug or an unexpected engine failure. */
  SCAN_FAILED: { code: 'HOOKGATE_ERR_SCAN_FAILED', message: 'scan failed' },
  /** The message bytes expired or were never stored. */
  SCAN_INPUT_MISSING: {
    code: 'HOOKGATE_ERR_SCAN_INPUT_MISSING',
    message: 'the message to scan is no longer stored',
  },
  /** The thing asked for does not exist or has expired (admin API). */
  NOT_FOUND: { code: 'HOOKGATE_ERR_NOT_FOUND', status: 404, message: 'not found' },
  /** The quarantine is at its size cap: the message is answered tempfail and stays with the MTA. */
  QUARANTINE_FULL: { code: 'HOOKGATE_ERR_QUARANTINE_FULL', message: 'quarantine full' },
  /** The quarantine store failed or did not answer in time: the message is answered tempfail. */
  QUARANTINE_UNAVAILABLE: {
    code: 'HOOKGATE_ERR_QUARANTINE_UNAVAILABLE',
    status: 503,
    message: 'quarantine unavailable',
  },
  /** A quarantined item expired or was deleted (admin API). */
  QUARANTINE_GONE: { code: 'HOOKGATE_ERR_QUARANTINE_GONE', status: 410, message: 'quarantined item gone' },
  /** A quarantined item was already released, or a release of it is in progress (admin API). */
  QUARANTINE_CONFLICT: {
    code: 'HOOKGATE_ERR_QUARANTINE_CONFLICT',
    status: 409,
    message: 'quarantined item already released or being released',
  },
  /** The release relay refused the message or could not be reached; the item stays held (admin API). */
  RELAY_FAILED: { code: 'HOOKGATE_ERR_RELAY_FAILED', status: 502, message: 'release relay failed' },
  /** No release relay is configured (admin API). */
  RELAY_UNCONFIGURED: {
    code: 'HOOKGATE_ERR_RELAY_UNCONFIGURED',
    status: 503,
    message: 'no release relay configured',
  },
  /** The service is shutting down. */
  SHUTTING_DOWN: { code: 'HOOKGATE_ERR_SHUTTING_DOWN', message: 'shutting down' },
  /** The service cannot take the request now (e.g. the HTTP framework timed a handler out). */
  UNAVAILABLE: {
    code: 'HOOKGATE_ERR_UNAVAILABLE',
    status: 503,
    message: 'service unavailable',
    retryAfterSec: 1,
  },
  /** Milter: a packet announced more bytes than `maxFrameBytes` (the connection is closed). */
  MILTER_FRAME_TOO_LARGE: { code: 'HOOKGATE_ERR_MILTER_FRAME_TOO_LARGE', message: 'milter packet too large' },
  /** Milter: a packet was empty or its data did not parse for its command. */
  MILTER_MALFORMED: { code: 'HOOKGATE_ERR_MILTER_MALFORMED', message: 'malformed milter packet' },
  /** Milter: a command byte hookgate does not know. */
  MILTER_UNKNOWN_COMMAND: { code: 'HOOKGATE_ERR_MILTER_UNKNOWN_COMMAND', message: 'unknown milter command' },
  /** Milter: a command out of order (e.g. before option negotiation) or an unsupported protocol version. */
  MILTER_PROTOCOL: { code: 'HOOKGATE_ERR_MILTER_PROTOCOL', message: 'milter protocol violation' },
  /** Anything unexpected, answered over HTTP: never carries internal detail. */
  INTERNAL: { code: 'HOOKGATE_ERR_INTERNAL', status: 500, message: 'internal error' },
} as const satisfies Record<string, ErrorSpec>;

/** The codes of `ERRORS`, by entry: `ERR.NOT_FOUND === 'HOOKGATE_ERR_NOT_FOUND'`. */
export const ERR = Object.fromEntries(Object.entries(ERRORS).map(([name, spec]) => [name, spec.code])) as {
  readonly [K in keyof typeof ERRORS]: (typeof ERRORS)[K]['code'];
};
export type ErrorCode = (typeof ERR)[keyof typeof ERR];

/**
 * The error codes of draft-01 (§"Error Responses"), sent in `{"error":{"code","message"}}` on the draft routes, each
 * with the status the draft gives it. Every entry is named after its code, except `UNSUPPORTED_MEDIA_TYPE`: the
 * draft has no code for a body format it does not define, so that is INVALID_REQUEST answered with 415.
 */
export const DRAFT01_ERRORS = {
  INVALID_REQUEST: { code: 'INVALID_REQUEST', status: 400, message: 'invalid request' },
  UNSUPPORTED_MEDIA_TYPE: {
    code: 'INVALID_REQUEST',
    status: 415,
    message: 'unsupported Content-Type: send application/json or application/cbor',
  },
  CAPABILITY_MISMATCH: { code: 'CAPABILITY_MISMATCH', status: 400, message: 'capabilities do not match' },
  INVALID_STAGE: { code: 'INVALID_STAGE', status: 400, message: 'invalid stage' },
  INVALID_ACTION: { code: 'INVALID_ACTION', status: 400, message: 'invalid action' },
  INVALID_MODIFICATION: { code: 'INVALID_MODIFICATION', status: 400, message: 'invalid modification' },
  NO_STAGES_REQUESTED: {
    code: 'NO_STAGES_REQUESTED',
    status: 400,
    message: 'request at least one inbound or outbound stage',
  },
  FILTER_INVALID: { code: 'FILTER_INVALID', status: 400, message: 'invalid filter' },
  MISSING_REQUEST_ID: {
    code: 'MISSING_REQUEST_ID',
    status: 400,
    message: 'X-MTA-Hooks-Request-Id is required',
  },
  AUTHENTICATION_REQUIRED: {
    code: 'AUTHENTICATION_REQUIRED',
    status: 401,
    message: 'authentication required',
  },
  INVALID_CREDENTIALS: { code: 'INVALID_CREDENTIALS', status: 401, message: 'invalid credentials' },
  REGISTRATION_DENIED: {
    code: 'REGISTRATION_DENIED',
    status: 403,
    message: 'this MTA identity may not register',
  },
  DOMAIN_NOT_ALLOWED: { code: 'DOMAIN_NOT_ALLOWED', status: 403, message: 'domain not allowed' },
  REGISTRATION_MISMATCH: {
    code: 'REGISTRATION_MISMATCH',
    status: 403,
    message: 'the credentials are not bound to this registration',
  },
  REGISTRATION_NOT_FOUND: { code: 'REGISTRATION_NOT_FOUND', status: 404, message: 'unknown registration' },
  REGISTRATION_LIMIT_REACHED: {
    code: 'REGISTRATION_LIMIT_REACHED',
    status: 409,
    message: 'registration limit reached',
  },
  REGISTRATION_DEREGISTERED: {
    code: 'REGISTRATION_DEREGISTERED',
    status: 410,
    message: 'registration deregistered',
  },
  REQUEST_TOO_LARGE: {
    code: 'REQUEST_TOO_LARGE',
    status: 413,
    message: 'request body larger than limits.maxMessageSize',
  },
  UNSUPPORTED_FILTER: { code: 'UNSUPPORTED_FILTER', status: 422, message: 'unsupported filter' },
  UNSUPPORTED_PROPERTY: { code: 'UNSUPPORTED_PROPERTY', status: 422, message: 'unsupported property' },
  RATE_LIMITED: {
    code: 'RATE_LIMITED',
    status: 429,
    message: 'too many hook calls in progress for this registration',
    retryAfterSec: 1,
  },
  INTERNAL_ERROR: { code: 'INTERNAL_ERROR', status: 500, message: 'internal error' },
  REGISTRATION_DISABLED: {
    code: 'REGISTRATION_DISABLED',
    status: 503,
    message: 'registration is disabled on this scanner',
    retryAfterSec: 60,
  },
  SCANNER_UNAVAILABLE: {
    code: 'SCANNER_UNAVAILABLE',
    status: 503,
    message: 'service unavailable',
    retryAfterSec: 1,
  },
} as const satisfies Record<string, HttpErrorSpec>;
export type Draft01ErrorCode = (typeof DRAFT01_ERRORS)[keyof typeof DRAFT01_ERRORS]['code'];

const BY_CODE = new Map<string, ErrorSpec>(Object.values(ERRORS).map((spec) => [spec.code, spec]));

/** The catalogue entry of a `HOOKGATE_ERR_*` code, or undefined for a code hookgate does not give. */
export function errorSpec(code: string | undefined): ErrorSpec | undefined {
  return code === undefined ? undefined : BY_CODE.get(code);
}

/**
 * hookgate's error identity: a stable string `code` callers branch on (never `instanceof` across packages), plus
 * whether retrying may help. Codes come from `ERRORS`.
 */
export class HookgateError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  constructor(code: string, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HookgateError';
    this.code = code;
    this.retryable = options?.retryable ?? false;
  }
}

/** The message of anything thrown, for logs and error outcomes (never a stack). */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The code of any error-like value, for branching and logging. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string')
    return err.code;
  return undefined;
}
