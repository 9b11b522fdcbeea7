import type { Action } from './model.js';

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
