/**
 * Answers: a verdict → the draft-01 answer (`set`/`add`/`delete` operations, 204, or 503) for the request it
 * decides. Pure functions; docs/protocols/draft01.md records every rule applied here.
 */
import {
  DRAFT01_ACTION_RANK,
  smtpReplyText,
  type Draft01Operations,
  type Modification,
  type SmtpReply,
  type Verdict,
} from '@hookgate/contracts';
import {
  envelopeOps,
  headerOps,
  isEnvelopeModification,
  isHeaderModification,
  rebuildRaw,
} from './modifications.js';
import { build, covered, filterOps, isEmpty, newOps, type OpsBuilder } from './operations.js';
import type { RequestView } from './request.js';

/** The answer to one hook call: 204, 200 with operations, or 503 (hookgate could not decide an outbound stage). */
export type Draft01Answer =
  { status: 204 } | { status: 200; ops: Draft01Operations } | { status: 503; message: string };

export interface AnswerContext {
  view: RequestView;
  writable: readonly string[];
  /** Replies used when a verdict carries none or one of the wrong class. */
  replies: { tempfail: SmtpReply; reject: SmtpReply };
}

const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3}$/;

function replyFor(
  verdict: Verdict,
  kind: 'tempfail' | 'reject',
  replies: AnswerContext['replies'],
): { code: number; enhancedCode: string | null; message: string } {
  const fallback = replies[kind];
  const r = verdict.reply ?? fallback;
  const cls = kind === 'tempfail' ? 4 : 5;
  const use = Math.floor(r.code / 100) === cls ? r : fallback;
  const enhanced =
    use.enhanced && ENHANCED.test(use.enhanced) && use.enhanced.startsWith(String(cls)) ? use.enhanced : null;
  return { code: use.code, enhancedCode: enhanced, message: smtpReplyText(use.text) };
}

/**
 * Message and envelope modifications of a verdict that lets the message go on. With a body replacement the whole
 * message is rewritten (`set /rawMessage`, header changes folded in): the draft ignores `/message` edits next to a
 * `/rawMessage` one. Returns false when a modification the verdict needs cannot be expressed in a way that keeps
 * mail safe (a body replacement without a writable `/rawMessage`, e.g. a DLP redaction).
 */
function modificationOps(verdict: Verdict, ctx: AnswerContext, b: OpsBuilder, dropped: string[]): boolean {
  const mods = verdict.modifications;
  if (mods.length === 0) return true;
  const { view, writable } = ctx;
  const replace = [...mods]
    .reverse()
    .find((m): m is Extract<Modification, { type: 'replaceBody' }> => m.type === 'replaceBody');
  if (replace) {
    if (!covered(writable, '/rawMessage') || !view.raw) return false;
    b.set.push({ path: '/rawMessage', value: rebuildRaw(view.raw, mods, replace.body) });
  } else if (covered(writable, '/message/headers')) {
    headerOps(mods, view.headers, b, dropped);
  } else if (mods.some(isHeaderModification)) {
    dropped.push('header modifications: /message/headers not negotiated');
  }
  if (view.direction === 'inbound' && mods.some(isEnvelopeModification)) {
    if (covered(writable, '/envelope/from') && covered(writable, '/envelope/to'))
      envelopeOps(mods, view, b, dropped);
    else dropped.push('envelope modifications: /envelope not negotiated');
  }
  return true;
}

/** Answers a terminal inbound verdict with `set /action` and, for reject, `set /response`. */
function inboundAction(
  action: 'reject' | 'discard' | 'quarantine',
  reply: ReturnType<typeof replyFor> | undefined,
  b: OpsBuilder,
): void {
  b.set.push({ path: '/action', value: action });
  if (reply) b.set.push({ path: '/response', value: reply });
}

function inbound(verdict: Verdict, ctx: AnswerContext, dropped: string[]): Draft01Answer {
  const { view } = ctx;
  const b = newOps();
  const current = DRAFT01_ACTION_RANK[view.action];
  let action: 'accept' | 'reject' | 'discard' | 'quarantine' = 'accept';
  let reply: ReturnType<typeof replyFor> | undefined;
  switch (verdict.action) {
    case 'accept':
      break;
    case 'tempfail':
      action = 'reject';
      reply = replyFor(verdict, 'tempfail', ctx.replies);
      break;
    case 'reject':
      action = 'reject';
      reply = replyFor(verdict, 'reject', ctx.replies);
      break;
    case 'discard':
      // Nothing to discard before a transaction exists (the rspamd bridge refuses it there): refuse instead.
      if (view.stage === 'connect' || view.stage === 'ehlo') {
        action = 'reject';
        reply = replyFor(verdict, 'reject', ctx.replies);
      } else action = 'discard';
      break;
    case 'quarantine':
      // Kept in hookgate's quarantine (issue 16): refused naming the item, or discarded.
      if (verdict.quarantine) {
        action = verdict.quarantine.answer;
        if (action === 'reject') reply = replyFor(verdict, 'reject', ctx.replies);
        break;
      }
      // Quarantine applies to a message: before data there is none yet, and data is scanned again.
      action = view.stage === 'data' ? 'quarantine' : 'accept';
      break;
  }
  // Never downgrade: an action at or below the request's own is not sent (nor is a lateral change between
  // terminal actions); a terminal request action also makes message edits moot.
  if (DRAFT01_ACTION_RANK[action] > current)
    inboundAction(action as 'reject' | 'discard' | 'quarantine', reply, b);
  const goesOn = action === 'accept' || action === 'quarantine';
  if (goesOn && current < 2 && view.stage === 'data' && !modificationOps(verdict, ctx, b, dropped)) {
    // A change the message must get (e.g. a DLP redaction) cannot be made: hold the message rather than pass it.
    dropped.push('replaceBody: /rawMessage not negotiated; answered tempfail');
    const hold = newOps();
    if (current < DRAFT01_ACTION_RANK.reject)
      inboundAction('reject', replyFor({ ...verdict, reply: undefined }, 'tempfail', ctx.replies), hold);
    return isEmpty(build(hold)) ? { status: 204 } : { status: 200, ops: build(hold) };
  }
  const ops = build(b);
  return isEmpty(ops) ? { status: 204 } : { status: 200, ops };
}

/**
 * Outbound stages. hookgate cannot retry a delivery or hold a DSN for later, so:
 * - accept, quarantine: continue (204; header changes to a DSN are applied);
 * - tempfail (a required scanner could not answer): 503 SCANNER_UNAVAILABLE, so the MTA retries the call and then
 *   applies its own failure policy, rather than hookgate guessing;
 * - delivery/defer: reject → `cancel`; discard → `cancel` and every recipient not yet delivered becomes
 *   `failed-silent` (no DSN: the message is dropped without backscatter);
 * - dsn: reject/discard (malware or a DLP hit in the DSN about to be sent) → the DSN is suppressed: `/rawMessage`
 *   and `/message` are deleted and its recipients become `failed-silent`; with none of those writable, `cancel`.
 */
function outbound(verdict: Verdict, ctx: AnswerContext, dropped: string[]): Draft01Answer {
  const { view, writable } = ctx;
  const b = newOps();
  const cancelled = DRAFT01_ACTION_RANK[view.action] >= DRAFT01_ACTION_RANK.cancel;
  switch (verdict.action) {
    case 'tempfail':
      return { status: 503, message: 'a required scanner could not decide; retry later' };
    case 'accept':
    case 'quarantine':
      if (!cancelled && view.stage === 'dsn' && !modificationOps(verdict, ctx, b, dropped)) {
        dropped.push('replaceBody: /rawMessage not negotiated; DSN suppressed');
        return outboundStop('discard', view, writable, dropped);
      }
      break;
    case 'reject':
    case 'discard':
      if (cancelled) break;
      return outboundStop(verdict.action, view, writable, dropped);
  }
  const ops = build(b);
  return isEmpty(ops) ? { status: 204 } : { status: 200, ops };
}

function outboundStop(
  action: 'reject' | 'discard',
  view: RequestView,
  writable: readonly string[],
  dropped: string[],
): Draft01Answer {
  const b = newOps();
  const silence = (statuses: readonly string[]) => {
    if (!covered(writable, '/envelope/to')) return;
    view.recipients.forEach((r, i) => {
      if (r.status !== undefined && statuses.includes(r.status))
        b.set.push({ path: `/envelope/to/${i}/status`, value: 'failed-silent' });
    });
  };
  if (view.stage === 'dsn') {
    if (covered(writable, '/rawMessage') && view.raw) b.delete.push({ path: '/rawMessage' });
    if (covered(writable, '/message')) b.delete.push({ path: '/message' });
    silence(['failed', 'deferred', 'pending']);
    if (b.delete.length === 0 && b.set.length === 0) {
      dropped.push(
        'DSN suppression: neither /rawMessage, /message nor /envelope/to negotiated; cancelled instead',
      );
      b.set.push({ path: '/action', value: 'cancel' });
    }
  } else {
    b.set.push({ path: '/action', value: 'cancel' });
    if (action === 'discard') silence(['pending', 'deferred', 'failed']);
  }
  return { status: 200, ops: build(b) };
}

/**
 * A verdict → the draft-01 answer for the request it decides. Operations are limited to `writable` (checked again
 * by `filterOps`); `dropped` lists what could not be expressed, for the log.
 */
export function toDraft01(
  verdict: Verdict,
  ctx: AnswerContext,
): { answer: Draft01Answer; dropped: string[] } {
  const dropped: string[] = [];
  const answer =
    ctx.view.direction === 'inbound' ? inbound(verdict, ctx, dropped) : outbound(verdict, ctx, dropped);
  if (answer.status !== 200) return { answer, dropped };
  const filtered = filterOps(answer.ops, ctx.writable);
  dropped.push(...filtered.dropped.map((p) => `${p}: not writable`));
  return { answer: isEmpty(filtered.ops) ? { status: 204 } : { status: 200, ops: filtered.ops }, dropped };
}
