/**
 * hookgate's error identity: a stable string `code` callers branch on (never `instanceof` across packages), plus
 * whether retrying may help. Codes are listed in libs/contracts/README.md.
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

export const ERR = {
  /** A config file or variable is invalid; `message` lists every problem. */
  CONFIG_INVALID: 'HOOKGATE_ERR_CONFIG_INVALID',
  /** A request body failed validation. */
  REQUEST_INVALID: 'HOOKGATE_ERR_REQUEST_INVALID',
  /** Unknown or unsupported stage. */
  STAGE_UNKNOWN: 'HOOKGATE_ERR_STAGE_UNKNOWN',
  /** Missing or wrong credentials. */
  AUTH_REQUIRED: 'HOOKGATE_ERR_AUTH_REQUIRED',
  /** Request body above the configured limit. */
  BODY_TOO_LARGE: 'HOOKGATE_ERR_BODY_TOO_LARGE',
  /** Redis did not answer in time or refused a command. */
  STORE_UNAVAILABLE: 'HOOKGATE_ERR_STORE_UNAVAILABLE',
  /** A value read from Redis did not decode: Redis is a trust boundary. */
  STORE_CORRUPT: 'HOOKGATE_ERR_STORE_CORRUPT',
  /** The scan's deadline passed before the scanner finished. */
  SCAN_TIMEOUT: 'HOOKGATE_ERR_SCAN_TIMEOUT',
  /** The scanner could not reach its engine. */
  SCAN_ENGINE_UNAVAILABLE: 'HOOKGATE_ERR_SCAN_ENGINE_UNAVAILABLE',
  /** The engine reported an error of its own (e.g. clamd `... ERROR`). */
  SCAN_ENGINE_ERROR: 'HOOKGATE_ERR_SCAN_ENGINE_ERROR',
  /** The engine answered something the scanner could not understand. */
  SCAN_PROTOCOL: 'HOOKGATE_ERR_SCAN_PROTOCOL',
  /** The scanner threw; a bug or an unexpected engine failure. */
  SCAN_FAILED: 'HOOKGATE_ERR_SCAN_FAILED',
  /** The message bytes expired or were never stored. */
  SCAN_INPUT_MISSING: 'HOOKGATE_ERR_SCAN_INPUT_MISSING',
  /** The thing asked for does not exist or has expired (admin API). */
  NOT_FOUND: 'HOOKGATE_ERR_NOT_FOUND',
  /** The quarantine is at its size cap: the message is answered tempfail and stays with the MTA. */
  QUARANTINE_FULL: 'HOOKGATE_ERR_QUARANTINE_FULL',
  /** The quarantine store failed or did not answer in time: the message is answered tempfail. */
  QUARANTINE_UNAVAILABLE: 'HOOKGATE_ERR_QUARANTINE_UNAVAILABLE',
  /** A quarantined item expired or was deleted (admin API, 410). */
  QUARANTINE_GONE: 'HOOKGATE_ERR_QUARANTINE_GONE',
  /** A quarantined item was already released, or a release of it is in progress (admin API, 409). */
  QUARANTINE_CONFLICT: 'HOOKGATE_ERR_QUARANTINE_CONFLICT',
  /** The release relay refused the message or could not be reached; the item stays held (admin API, 502). */
  RELAY_FAILED: 'HOOKGATE_ERR_RELAY_FAILED',
  /** No release relay is configured (admin API, 503). */
  RELAY_UNCONFIGURED: 'HOOKGATE_ERR_RELAY_UNCONFIGURED',
  /** The service is shutting down. */
  SHUTTING_DOWN: 'HOOKGATE_ERR_SHUTTING_DOWN',
} as const;
export type ErrorCode = (typeof ERR)[keyof typeof ERR];

/** The message of anything thrown, for logs and error outcomes (never a stack). */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The code of any error-like value, for branching and logging. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}
