/**
 * rspamd's verdict in hookgate's terms. rspamd decides the action from its thresholds (stock: greylist 4,
 * add header 6, reject 15); hookgate maps it, it does not re-score.
 */
import type { Modification, ScanOutcome, SmtpReply } from '@hookgate/contracts';
import { EngineProtocolError } from '@hookgate/scanner-sdk';
import { oneLine, replyText, safeName, UNKNOWN_HEADERS, type HeaderIndex } from '../message.js';
import { dedupe, HEADER_NAME, replaceHeader } from '../modifications.js';
import type { RspamdResult } from './client.js';
import type { RspamdConfig } from './config.js';
import { milterModifications } from './milter.js';

/** The config keys the mapping uses. */
export type RspamdMappingConfig = Pick<
  RspamdConfig,
  'action' | 'reply' | 'tempfailReply' | 'greylist' | 'spamHeader' | 'scoreHeader' | 'milter' | 'maxSymbols'
>;

/**
 * Symbol names, highest score first. Symbols that add nothing are left out unless nothing scored: GTUBE is
 * reported with score 0 (rspamd forces the action and skips the rest).
 */
export function topSymbols(result: RspamdResult, limit: number): string[] {
  const all = Object.entries(result.symbols ?? {}).map(([key, s]) => ({
    name: typeof s?.name === 'string' ? s.name : key,
    score: typeof s?.score === 'number' ? s.score : 0,
  }));
  const positive = all
    .filter((s) => s.score > 0)
    .sort((a, b) => b.score - a.score || a.name.localeCompare(b.name));
  const chosen =
    positive.length > 0
      ? positive
      : all.filter((s) => s.score === 0).sort((a, b) => a.name.localeCompare(b.name));
  return chosen.slice(0, limit).map((s) => safeName(s.name));
}

/**
 * The reply for a reject (class 5) or tempfail (class 4): rspamd's `smtp_message` replaces the configured text,
 * and a leading basic/enhanced code of the right class replaces the configured one.
 */
export function engineReply(base: SmtpReply, smtpMessage: unknown, cls: 4 | 5): SmtpReply {
  if (typeof smtpMessage !== 'string' || smtpMessage.trim() === '') return base;
  let text = replyText(smtpMessage);
  let { code, enhanced } = base;
  const c = /^([245]\d\d)(?:[ -]+|$)/.exec(text);
  if (c && c[1]!.startsWith(String(cls))) {
    code = Number(c[1]);
    text = text.slice(c[0].length);
  }
  const e = /^([245]\.\d{1,3}\.\d{1,3})(?:\s+|$)/.exec(text);
  if (e && e[1]!.startsWith(String(cls))) {
    enhanced = e[1];
    text = text.slice(e[0].length);
  }
  return { code, ...(enhanced ? { enhanced } : {}), text: text || base.text };
}

/** The spam flag: rspamd's milter `spam_header` (a value, or headers to set) wins over the configured header. */
function spamHeaders(config: RspamdMappingConfig, spec: unknown, headers: HeaderIndex): Modification[] {
  if (typeof spec === 'string' && config.spamHeader)
    return replaceHeader(config.spamHeader.name, oneLine(spec), headers);
  if (typeof spec === 'object' && spec !== null) {
    return Object.entries(spec).flatMap(([name, value]) =>
      HEADER_NAME.test(name) && typeof value === 'string' ? replaceHeader(name, oneLine(value), headers) : [],
    );
  }
  return config.spamHeader ? replaceHeader(config.spamHeader.name, config.spamHeader.value, headers) : [];
}

/** `rewrite subject`: rspamd sends the new subject; a message without one gets it added. */
function subjectChange(subject: unknown, headers: HeaderIndex): Modification[] {
  if (typeof subject !== 'string') return [];
  const value = oneLine(subject);
  if (headers.known && headers.count('subject') === 0) return [{ type: 'addHeader', name: 'Subject', value }];
  return [{ type: 'changeHeader', index: 1, name: 'Subject', value }];
}

function withMods<T extends object>(
  outcome: T,
  mods: Modification[],
): T & { modifications?: Modification[] } {
  const m = dedupe(mods);
  return m.length > 0 ? { ...outcome, modifications: m } : outcome;
}

/**
 * Maps a `/checkv2` result to an outcome. `headers` indexes the scanned message so header removals can name
 * each occurrence. Throws EngineProtocolError for an action it does not know: never a silent pass.
 */
export function mapRspamdResult(
  result: RspamdResult,
  config: RspamdMappingConfig,
  headers: HeaderIndex = UNKNOWN_HEADERS,
): ScanOutcome {
  const score = Number.isFinite(result.score) ? result.score : 0;
  const names = topSymbols(result, config.maxSymbols);
  const milter =
    config.milter && typeof result.milter === 'object' && result.milter !== null ? result.milter : undefined;
  const engine = config.milter ? milterModifications(milter, result['dkim-signature'], headers) : [];
  const scoreMods = config.scoreHeader ? replaceHeader(config.scoreHeader, score.toFixed(2), headers) : [];
  const smtpMessage = result.messages?.smtp_message;

  const pass = (extra: Modification[] = []): ScanOutcome =>
    withMods({ status: 'pass' as const, score, symbols: names }, [...engine, ...extra, ...scoreMods]);
  const tempfail = (): ScanOutcome => {
    const reply = engineReply(config.tempfailReply, smtpMessage, 4);
    return { status: 'fail', category: 'spam', action: 'tempfail', names, score, reply };
  };
  const spam = (action: 'reject' | 'quarantine' | 'discard'): ScanOutcome => {
    const reply = action === 'reject' ? { reply: engineReply(config.reply, smtpMessage, 5) } : {};
    // The headers only matter if the policy keeps the message (quarantine): then the copy says why.
    const mods = [...engine, ...spamHeaders(config, milter?.spam_header, headers), ...scoreMods];
    return withMods(
      { status: 'fail' as const, category: 'spam' as const, action, names, score, ...reply },
      mods,
    );
  };

  // rspamd asked its milter to only label the message with the action it would have taken.
  if (milter?.no_action === true)
    return pass([{ type: 'addHeader', name: 'X-Rspamd-Action', value: oneLine(result.action, 50) }]);
  switch (result.action) {
    case 'no action':
      return pass();
    case 'add header':
      return pass(spamHeaders(config, milter?.spam_header, headers));
    case 'rewrite subject':
      return pass(subjectChange(result.subject, headers));
    case 'greylist':
      return config.greylist === 'accept' ? pass() : tempfail();
    case 'soft reject':
      return tempfail();
    case 'reject':
      return spam(
        milter?.reject === 'discard'
          ? 'discard'
          : milter?.reject === 'quarantine'
            ? 'quarantine'
            : config.action,
      );
    case 'quarantine':
    case 'discard':
      return spam(result.action);
    default:
      throw new EngineProtocolError(`rspamd answered an unknown action "${safeName(result.action)}"`);
  }
}
