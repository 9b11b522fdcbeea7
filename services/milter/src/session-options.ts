/** What a milter session is given: its options (behaviour lives in session.ts) and where its replies go. */
import type { SmtpReply, Stage } from '@hookgate/contracts';
import type { StagePipeline } from '@hookgate/pipeline';

/** The part of StagePipeline a session uses (tests pass their own). */
export type StageRunner = Pick<StagePipeline, 'handle' | 'deadlineFor'>;

/** pino-compatible. */
export interface MilterLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface SessionOptions {
  pipeline: StageRunner;
  /** Stages run through the pipeline; other callbacks are answered `continue` at once. */
  stages: readonly Stage[];
  /** Above this many bytes (headers + body) the message is not buffered and `oversize` applies at end of message. */
  maxMessageBytes: number;
  /** What to answer for a message above `maxMessageBytes`. */
  oversize: 'reject' | 'tempfail' | 'accept';
  /** The answer when the pipeline fails or has not answered `graceMs` after its deadline. */
  onError: 'tempfail' | 'accept';
  /** Replies for reject/tempfail verdicts that carry none (verdict.replies of the config). */
  replies: { tempfail: SmtpReply; reject: SmtpReply };
  /** How long after the pipeline's own deadline the session stops waiting for it, ms. */
  graceMs: number;
  /** Send the macro list with the OPTNEG reply (v6, when the MTA offers SMFIF_SETSYMLIST). */
  requestMacros: boolean;
  /** Negotiate no replies for steps without a decision (NO_REPLY_STEPS), where the MTA offers it. */
  noReply: boolean;
  log: MilterLogger;
  newSessionId?: () => string;
}

/** Where replies go. */
export interface SessionIO {
  /** One or more whole packets, written as one. */
  write(packet: Buffer): void;
  /** Closes the connection after what was written (QUIT). */
  end(): void;
}
