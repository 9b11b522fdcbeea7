import type { Action, Modification, SmtpReply, Stage } from './model.js';

/** Scanner families; each has its own worker pool and queue(s). */
export const SCAN_KINDS = ['av', 'spam', 'dlp', 'policy', 'test'] as const;
export type ScanKind = (typeof SCAN_KINDS)[number];

/**
 * What one scanner found, in the haraka-results vocabulary made explicit:
 * - `pass`: scanned, nothing found (may still add headers);
 * - `fail`: found something (virus, spam, DLP hit) and suggests an action;
 * - `unscanned`: the scanner could not look at the input (too large, unsupported); never a silent clean;
 * - `skip`: the scanner chose not to run (e.g. not relevant for this traffic);
 * - `error`: the engine failed or timed out.
 */
export type ScanOutcome =
  | { status: 'pass'; modifications?: Modification[]; score?: number; symbols?: string[] }
  | {
      status: 'fail';
      category: 'virus' | 'spam' | 'dlp' | 'policy';
      /** What the scanner suggests; the policy may override it. */
      action: Action;
      /** Names found: virus names, rule ids, spam symbols. Never matched content. */
      names: string[];
      score?: number;
      reply?: SmtpReply;
      modifications?: Modification[];
    }
  | { status: 'unscanned'; reason: UnscannedReason; detail?: string }
  | { status: 'skip'; reason: string }
  | { status: 'error'; code: string; message: string; retryable: boolean };

export const UNSCANNED_REASONS = ['too-large', 'unsupported', 'encrypted'] as const;
export type UnscannedReason = (typeof UNSCANNED_REASONS)[number];

/** One scanner's result for one stage request, as stored in Redis and sent to the waiting ingress. */
export interface ScanResult {
  v: 1;
  scanner: string;
  kind: ScanKind;
  outcome: ScanOutcome;
  /** Time spent in the scanner, ms. */
  durationMs: number;
  /** Epoch ms when the result was recorded. */
  at: number;
  /** True when the outcome came from the result cache (same content, same scanner configuration). */
  cached?: boolean;
}

/** How the decision was reached, kept with the verdict so operators can see why. */
export interface Verdict {
  v: 1;
  action: Action;
  reply?: SmtpReply;
  modifications: Modification[];
  /** Short, content-free reasons, e.g. `clamav:virus:Eicar-Test-Signature`, `rspamd:timeout`. */
  reasons: string[];
  /** Scanners (or `policy`, `fallback`) whose results decided the action. */
  decidedBy: string[];
  /** True when some expected result was missing at the deadline. */
  partial: boolean;
  /** The policy bank applied and the rule that selected it (`default` when no rule matched). */
  policy?: string;
  rule?: string;
  /** Summed spam score, when spam scanners reported scores. */
  spamScore?: number;
  /**
   * Set when hookgate kept the message in its own quarantine (issue 16): the MTA is answered `answer` (with `reply`
   * naming `id` for a reject), so the message exists once, in the quarantine. Absent when the MTA holds it itself.
   */
  quarantine?: { id: string; answer: 'reject' | 'discard' };
}

/** The record of one answered stage request, stored for explainability. */
export interface VerdictRecord {
  v: 1;
  reqId: string;
  txnId: string;
  stage: Stage;
  verdict: Verdict;
  expected: string[];
  results: ScanResult[];
  answeredAt: number;
  durationMs: number;
}
