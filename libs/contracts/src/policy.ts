import type { Action, Stage } from './model.js';

/** What to do when a scanner cannot give a real answer. `ignore` drops it from the decision entirely. */
export const FAILURE_ACTIONS = ['tempfail', 'accept', 'ignore'] as const;
export type FailureAction = (typeof FAILURE_ACTIONS)[number];

/** What to do with input a scanner could not inspect (e.g. above clamd's StreamMaxLength). */
export const UNSCANNED_ACTIONS = ['accept', 'tempfail', 'reject', 'quarantine'] as const;
export type UnscannedAction = (typeof UNSCANNED_ACTIONS)[number];

/** How one scanner's result (or its absence) feeds the verdict. */
export interface ScannerPolicy {
  id: string;
  /** Fail-closed (true: the failure defaults are tempfail) or fail-open (false: accept). */
  required: boolean;
  /** The scanner reported an engine error. */
  onError: FailureAction;
  /** The scanner reported that it ran out of time. */
  onTimeout: FailureAction;
  /** No result at all by the deadline (no worker running, worker lost, notification lost). */
  onMissing: FailureAction;
  /** The scanner could not inspect the input. */
  onUnscanned: UnscannedAction;
  /** Replaces the action a `fail` outcome suggests (e.g. quarantine viruses instead of rejecting). */
  actionOverride?: Action;
}

/** Severity, highest first: the documented default. The most severe contribution wins. */
export const DEFAULT_SEVERITY: readonly Action[] = ['reject', 'discard', 'tempfail', 'quarantine', 'accept'];

/** Per-scanner settings a policy bank may override. */
export interface ScannerOverride {
  /** false skips the scanner for traffic this bank applies to (e.g. no spam checks for trusted relays). */
  enabled?: boolean;
  required?: boolean;
  onError?: FailureAction;
  onTimeout?: FailureAction;
  onMissing?: FailureAction;
  onUnscanned?: UnscannedAction;
  /** Replaces the action a `fail` outcome of this scanner suggests. */
  action?: Action;
}

/**
 * How spam results become an action. `scanner`: each engine's own action counts (rspamd's reject, spamd's
 * verdict). `score`: scores of all spam scanners are summed (times their weight) and compared to the thresholds.
 */
export interface SpamPolicy {
  mode: 'scanner' | 'score';
  /** Score at or above which spam headers (and the subject tag) are added; null = never. */
  addHeaderAt: number | null;
  quarantineAt: number | null;
  rejectAt: number | null;
  /** Multiplier per scanner id before summing (engines score on different scales); default 1. */
  weights: Record<string, number>;
}

/** Which headers hookgate stamps on mail that goes on (data stage only). */
export interface StampPolicy {
  /** `X-Hookgate-Verdict: action=...; policy=...; scanners=...` */
  verdict: boolean;
  /** `X-Spam-Score`, `X-Spam-Status` from the summed spam score. */
  spam: boolean;
  /** `X-Virus-Status: Clean | Infected (names) | Unscanned (reason)`. */
  virus: boolean;
}

/** A named set of decisions for one traffic class (after Amavis's policy banks). */
export interface PolicyBank {
  scanners: Record<string, ScannerOverride>;
  spam: SpamPolicy;
  stamp: StampPolicy;
  /** Prefix added to the Subject of mail at or above `spam.addHeaderAt`, e.g. `[SPAM]`; null = off. */
  subjectTag: string | null;
}

/** Conditions of a rule; all given conditions must hold. Absent = any. */
export interface PolicyMatch {
  /** `outbound` = an authenticated (SASL) sender. */
  direction?: 'inbound' | 'outbound';
  /** Envelope sender domain is one of these or a subdomain. `""` matches the null sender. */
  senderDomains?: string[];
  /** At least one recipient's domain (at rcpt: the recipient being checked) is one of these or a subdomain. */
  recipientDomains?: string[];
  /** Client IP inside one of these CIDR networks. */
  clientNetworks?: string[];
  /** Message size bounds in bytes; a rule with a size bound never matches before data (size unknown). */
  minSizeBytes?: number;
  maxSizeBytes?: number;
  stages?: Stage[];
}

export interface PolicyRule {
  name: string;
  match: PolicyMatch;
  /** Name of the bank to apply. */
  policy: string;
}
