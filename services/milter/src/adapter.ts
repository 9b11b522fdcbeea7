/**
 * The milter adapter, sibling of the Stalwart one: milter session state → hookgate's IncomingStage, and a Verdict →
 * the milter replies the MTA granted (docs/protocols/milter.md records each rule).
 */
import {
  smtpReplyText,
  unfoldHeader,
  type ClientInfo,
  type EnvelopeAddress,
  type MessageInfo,
  type Modification,
  type ServerInfo,
  type SmtpReply,
  type Stage,
  type Verdict,
} from '@hookgate/contracts';
import type { IncomingStage } from '@hookgate/pipeline';
import { Act, Reply } from './constants.js';
import {
  encodeAddHeader,
  encodeAddRecipient,
  encodeChangeFrom,
  encodeChangeHeader,
  encodeDeleteRecipient,
  encodeInsertHeader,
  encodeQuarantine,
  encodeReplaceBody,
  encodeReplyCode,
  encodeSimple,
} from './codec.js';

/** What the session knows when it runs a stage. */
export interface MilterEnvelope {
  sessionId: string;
  client: ClientInfo;
  server?: ServerInfo;
  tls?: { version?: string; cipher?: string };
  auth?: { login: string; method?: string };
  from?: EnvelopeAddress;
  /** Recipients accepted so far in this transaction. */
  rcpts: EnvelopeAddress[];
  queueId?: string;
}

/** The stage request for `stage`; at `rcpt`, `rcpt` is the recipient being checked. */
export function toIncoming(
  env: MilterEnvelope,
  stage: Stage,
  extra: { rcpt?: EnvelopeAddress; message?: MessageInfo } = {},
): IncomingStage {
  // A copy: the session keeps adding to its list while the request may still be read.
  const to = extra.rcpt ? [...env.rcpts, extra.rcpt] : [...env.rcpts];
  return {
    protocol: 'milter',
    stage,
    sessionId: env.sessionId,
    client: { ...env.client },
    ...(env.server ? { server: env.server } : {}),
    ...(env.tls ? { tls: env.tls } : {}),
    ...(env.auth ? { auth: env.auth } : {}),
    ...(env.from ? { from: env.from, to } : {}),
    ...(extra.rcpt ? { rcpt: extra.rcpt.address } : {}),
    ...(env.queueId ? { queueId: env.queueId } : {}),
    ...(extra.message ? { message: extra.message } : {}),
  };
}

/** `<a@b>` or `a@b` (MAIL/RCPT argument) → lower-cased address; ESMTP arguments → parameters. */
export function toEnvelopeAddress(raw: string, args: readonly string[]): EnvelopeAddress {
  const trimmed = raw.trim();
  const address = (
    trimmed.startsWith('<') && trimmed.endsWith('>') ? trimmed.slice(1, -1) : trimmed
  ).toLowerCase();
  if (args.length === 0) return { address };
  const parameters: Record<string, string> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq < 0) parameters[arg.toUpperCase()] = '';
    else parameters[arg.slice(0, eq).toUpperCase()] = arg.slice(eq + 1);
  }
  return { address, parameters };
}

/** A header as the MTA passed it: bytes, untouched. */
export interface RawHeader {
  name: Buffer;
  value: Buffer;
}

const COLON = Buffer.from(':');
const COLON_SPACE = Buffer.from(': ');
const CRLF = Buffer.from('\r\n');

/** Folded values arrive with bare LF between lines (Postfix) or CRLF (Sendmail): on the wire they are CRLF. */
function crlfValue(value: Buffer): Buffer {
  if (!value.includes(0x0a)) return value;
  return Buffer.from(value.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

/**
 * The message as it will be delivered: `Name:value` CRLF per header (the value keeps its leading space when
 * SMFIP_HDR_LEADSPC was negotiated, else one space is put back), a blank line, then the body bytes.
 */
export function assembleMessage(
  headers: readonly RawHeader[],
  body: readonly Buffer[],
  leadingSpace: boolean,
): Buffer {
  const parts: Buffer[] = [];
  for (const h of headers) parts.push(h.name, leadingSpace ? COLON : COLON_SPACE, crlfValue(h.value), CRLF);
  parts.push(CRLF, ...body);
  return Buffer.concat(parts);
}

/** The first Subject, unfolded and trimmed (for subject tagging; never logged). */
export function subjectOf(headers: readonly RawHeader[]): string | undefined {
  const h = headers.find((x) => x.name.toString('latin1').toLowerCase() === 'subject');
  return h ? unfoldHeader(h.value.toString('utf8')) : undefined;
}

export interface ReplyContext {
  /** The actions the MTA granted (SMFIF_* bits). */
  actions: number;
  /** SMFIP_HDR_LEADSPC negotiated: header values we send must carry their own leading space. */
  leadingSpace: boolean;
  /** A quarantine asked for at an earlier stage of this transaction, applied at end of message. */
  pendingQuarantine?: string;
  /** Used when a reject or tempfail verdict carries no (valid) reply. */
  replies: { tempfail: SmtpReply; reject: SmtpReply };
}

export interface MilterAnswer {
  /** Packets to send, in order; the last one is the final reply. */
  frames: Buffer[];
  /** What could not be expressed (not negotiated, not allowed at this stage, invalid), for the log. */
  dropped: string[];
  /** A quarantine verdict before end of message: remembered and applied at end of message. */
  deferQuarantine?: string;
}

const HEADER_NAME = /^[!-9;-~]+$/;

/** One SMTP reply line for SMFIR_REPLYCODE: right class, valid enhanced code, printable single-line text. */
export function replyLine(
  r: SmtpReply | undefined,
  kind: 'tempfail' | 'reject',
  fallback: SmtpReply,
): string {
  const want = kind === 'tempfail' ? 4 : 5;
  const use = r && Math.floor(r.code / 100) === want ? r : fallback;
  const code = Math.floor(use.code / 100) === want ? use.code : want * 100 + 51;
  let enhanced =
    use.enhanced && /^[245]\.\d{1,3}\.\d{1,3}$/.test(use.enhanced) ? use.enhanced : `${want}.7.1`;
  // The enhanced code's class must agree with the reply code, or the MTA rejects the reply as malformed.
  if (enhanced[0] !== String(want)) enhanced = `${want}${enhanced.slice(1)}`;
  // libmilter treats a single `%` as a format character: double it, as smfi_setreply documents.
  const text = smtpReplyText(use.text.replace(/%/g, '%%')) || 'rejected';
  return `${code} ${enhanced} ${text}`;
}

function headerValue(value: string, leadingSpace: boolean): string {
  // No folding or CR/LF injection: one line, as the Stalwart adapter sends it.
  const v = value.replace(/[\r\n]+/g, ' ');
  return leadingSpace ? ` ${v}` : v;
}

function bracket(address: string): string {
  const a = address.trim();
  return a.startsWith('<') && a.endsWith('>') ? a : `<${a}>`;
}

function esmtpArgs(parameters: Record<string, string> | undefined): string | undefined {
  if (!parameters) return undefined;
  const parts = Object.entries(parameters).map(([k, v]) => (v === '' ? k : `${k}=${v}`));
  return parts.length > 0 ? parts.join(' ') : undefined;
}

/** One modification → its packets, or why it cannot be sent. */
function modificationFrames(m: Modification, ctx: ReplyContext): Buffer[] | string {
  const granted = (bit: number) => (ctx.actions & bit) !== 0;
  switch (m.type) {
    case 'addHeader':
      if (!granted(Act.ADDHDRS)) return 'addHeader: SMFIF_ADDHDRS not negotiated';
      if (!HEADER_NAME.test(m.name)) return 'addHeader: invalid header name';
      return [encodeAddHeader(m.name, headerValue(m.value, ctx.leadingSpace))];
    case 'insertHeader':
      if (!granted(Act.ADDHDRS)) return 'insertHeader: SMFIF_ADDHDRS not negotiated';
      if (!HEADER_NAME.test(m.name)) return 'insertHeader: invalid header name';
      return [encodeInsertHeader(Math.max(0, m.index), m.name, headerValue(m.value, ctx.leadingSpace))];
    case 'changeHeader':
      if (!granted(Act.CHGHDRS)) return 'changeHeader: SMFIF_CHGHDRS not negotiated';
      if (!HEADER_NAME.test(m.name)) return 'changeHeader: invalid header name';
      // An empty value would delete the header: a change always keeps at least the leading space.
      return [
        encodeChangeHeader(Math.max(1, m.index), m.name, headerValue(m.value, ctx.leadingSpace) || ' '),
      ];
    case 'deleteHeader':
      if (!granted(Act.CHGHDRS)) return 'deleteHeader: SMFIF_CHGHDRS not negotiated';
      if (!HEADER_NAME.test(m.name)) return 'deleteHeader: invalid header name';
      return [encodeChangeHeader(Math.max(1, m.index), m.name, '')];
    case 'changeFrom':
      if (!granted(Act.CHGFROM)) return 'changeFrom: SMFIF_CHGFROM not negotiated';
      return [encodeChangeFrom(bracket(m.address), esmtpArgs(m.parameters))];
    case 'addRecipient': {
      const args = esmtpArgs(m.parameters);
      if (args !== undefined && granted(Act.ADDRCPT_PAR))
        return [encodeAddRecipient(bracket(m.address), args)];
      if (granted(Act.ADDRCPT)) return [encodeAddRecipient(bracket(m.address))];
      if (granted(Act.ADDRCPT_PAR)) return [encodeAddRecipient(bracket(m.address), '')];
      return 'addRecipient: SMFIF_ADDRCPT not negotiated';
    }
    case 'deleteRecipient':
      if (!granted(Act.DELRCPT)) return 'deleteRecipient: SMFIF_DELRCPT not negotiated';
      return [encodeDeleteRecipient(bracket(m.address))];
    case 'replaceBody':
      if (!granted(Act.CHGBODY)) return 'replaceBody: SMFIF_CHGBODY not negotiated';
      return encodeReplaceBody(Buffer.from(m.body.replace(/\r?\n/g, '\r\n'), 'utf8'));
  }
}

/** Printable, single line, bounded: the MTA logs the reason (Postfix: "milter triggers HOLD action"). */
export function quarantineReason(v: Verdict): string {
  const text = `hookgate: ${v.reasons.join(', ') || v.decidedBy.join(',')}`;
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
}

/**
 * A verdict → milter replies. Before end of message: continue, reject/tempfail with SMFIR_REPLYCODE, discard;
 * modifications are only allowed at end of message (the protocol's rule) and dropped elsewhere. At `data`: the
 * granted modifications, then SMFIR_QUARANTINE if asked for (now or earlier in the transaction), then accept.
 */
export function verdictReplies(verdict: Verdict, stage: Stage, ctx: ReplyContext): MilterAnswer {
  const dropped: string[] = [];
  const atEnd = stage === 'data';
  switch (verdict.action) {
    case 'reject':
    case 'tempfail':
      return {
        frames: [encodeReplyCode(replyLine(verdict.reply, verdict.action, ctx.replies[verdict.action]))],
        dropped,
      };
    case 'discard':
      return { frames: [encodeSimple(Reply.DISCARD)], dropped };
    case 'accept':
    case 'quarantine': {
      // Kept in hookgate's quarantine (issue 16): refused naming the item, or discarded; no hold.
      if (verdict.quarantine?.answer === 'discard') return { frames: [encodeSimple(Reply.DISCARD)], dropped };
      if (verdict.quarantine)
        return { frames: [encodeReplyCode(replyLine(verdict.reply, 'reject', ctx.replies.reject))], dropped };
      const quarantine = verdict.action === 'quarantine' ? quarantineReason(verdict) : undefined;
      if (!atEnd) {
        if (verdict.modifications.length > 0)
          dropped.push(...verdict.modifications.map((m) => `${m.type}: only allowed at end of message`));
        return {
          frames: [encodeSimple(Reply.CONTINUE)],
          dropped,
          ...(quarantine ? { deferQuarantine: quarantine } : {}),
        };
      }
      const frames: Buffer[] = [];
      for (const m of verdict.modifications) {
        const out = modificationFrames(m, ctx);
        if (typeof out === 'string') dropped.push(out);
        else frames.push(...out);
      }
      const hold = quarantine ?? ctx.pendingQuarantine;
      if (hold !== undefined) {
        if (ctx.actions & Act.QUARANTINE) frames.push(encodeQuarantine(hold));
        else dropped.push('quarantine: SMFIF_QUARANTINE not negotiated (message accepted)');
      }
      frames.push(encodeSimple(Reply.ACCEPT));
      return { frames, dropped };
    }
  }
}
