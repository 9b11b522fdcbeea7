import type { ScanKind, ScanOutcome, Stage, StageRequest } from '@hookgate/contracts';

/** The minimal logger a scanner gets: pino-compatible, already bound to txnId/reqId/scanner. */
export interface ScanLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** What a scanner is given for one stage request. */
export interface ScanInput {
  request: StageRequest;
  /** The message bytes at `data` (and outbound stages carrying a message); undefined elsewhere. */
  message?: Uint8Array;
}

export interface ScanContext {
  /** Aborted shortly before `deadlineAt`; scanners must stop I/O when it fires. */
  signal: AbortSignal;
  deadlineAt: number;
  log: ScanLogger;
}

export interface InitContext {
  log: ScanLogger;
}

/**
 * A scanner plugin. The host (scanner-runtime) enforces the deadline, turns throws into `error` outcomes and
 * records every result; a plugin only talks to its engine.
 */
export interface Scanner {
  /** Unique id: used in queue names, keys, metrics and logs ('clamav', 'rspamd'). */
  readonly id: string;
  readonly kind: ScanKind;
  /** Stages the scanner subscribes to. */
  readonly stages: readonly Stage[];
  /** Open pools, check the engine is reachable. A failure here is logged; scans then report errors. */
  init?(ctx: InitContext): Promise<void>;
  /** A reason to skip this request, or null to scan. */
  shouldScan?(input: ScanInput): string | null;
  scan(input: ScanInput, ctx: ScanContext): Promise<ScanOutcome>;
  /**
   * Makes outcomes cacheable by message content: return the context the outcome depends on besides the bytes
   * (`''` for none, e.g. antivirus; the direction for DLP), or null when this input must not be cached.
   * Without it, nothing is cached.
   */
  cacheKey?(input: ScanInput): string | null;
  close?(): Promise<void>;
  /** A short description for startup logs, e.g. `clamd at tcp://127.0.0.1:3310`. */
  describe?(): string;
}
