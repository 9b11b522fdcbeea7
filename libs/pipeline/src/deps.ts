/** What the stage pipeline is built from: its scanners, settings and the services it calls. */
import type { Action, PolicyBank, ScannerPolicy, Stage } from '@hookgate/contracts';
import type { CompiledRule, DefaultReplies } from '@hookgate/verdict';
import type { Scanner, ScanLogger } from '@hookgate/scanner-sdk';
import type { TransactionStore } from '@hookgate/state-store';
import type { ScanProducer } from '@hookgate/queue';
import type { ResultWaiter } from './waiter.js';
import type { ByteBudget } from './budget.js';
import type { QuarantineKeeper } from './quarantine.js';

/** A scanner as the pipeline sees it: which stages it subscribes to and how its results count. */
export interface ScannerRoute {
  id: string;
  stages: readonly Stage[];
  policy: ScannerPolicy;
}

/**
 * A check the ingress runs itself, without a queue (greylisting, rate limits): cheap Redis work at early stages.
 * It follows the Scanner contract and the same deadline and failure policy as queued scanners.
 */
export interface InlineCheck {
  route: ScannerRoute;
  scanner: Scanner;
}

export interface PipelineSettings {
  /** Time budget per stage, ms, from receipt to answer. */
  stageBudgetMs: Record<Stage, number>;
  /** The MTA's own timeout for a hook call, ms; the answer is given `marginMs` before it at the latest. */
  mtaTimeoutMs: number;
  marginMs: number;
  severity: readonly Action[];
  replies: DefaultReplies;
  /** Policy banks by name; `default` applies when no rule matches. */
  banks?: Record<string, PolicyBank>;
  /** First match wins. */
  rules?: readonly CompiledRule[];
  /** Adds the sender domain to spans (off: addresses stay out of telemetry). */
  spanAddresses?: boolean;
}

/** pino-compatible; also handed to inline checks. */
export type PipelineLogger = ScanLogger & { isLevelEnabled?(level: string): boolean };

export interface PipelineDeps {
  store: TransactionStore;
  producer: ScanProducer;
  waiter: ResultWaiter;
  /** This ingress instance's id: scan results are published to its channel only. */
  instanceId: string;
  scanners: readonly ScannerRoute[];
  /** Checks run in the ingress process itself. */
  inline?: readonly InlineCheck[];
  settings: PipelineSettings;
  log: PipelineLogger;
  /** Which scanner pools have a live worker; without it every pool counts as live. */
  pools?: { isLive(scanner: string): boolean };
  /** Message bytes in Redis for scans in flight, per caller and in total; without it nothing is limited. */
  budget?: ByteBudget;
  /** Keeps quarantined messages before the answer (issue 16); without it, the MTA holds them itself. */
  quarantine?: QuarantineKeeper;
  /** Recent event-loop lag: deadline timers fire that much earlier. Without it, no allowance is made. */
  lag?: { readonly recentMs: number };
  now?: () => number;
}
