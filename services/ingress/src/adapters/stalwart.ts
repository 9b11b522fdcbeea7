/**
 * The legacy Stalwart adapter: Stalwart's request → hookgate's StageRequest, and a Verdict → the response body
 * Stalwart's parser accepts (docs/protocols/stalwart.md records every rule applied here).
 */
import { hash } from 'node:crypto';
import {
  smtpReplyText,
  unfoldHeader,
  type Modification,
  type SmtpReply,
  type StalwartModification,
  type StalwartRequest,
  type StalwartResponse,
  type Verdict,
} from '@hookgate/contracts';
import type { IncomingStage } from '@hookgate/pipeline';

export interface StalwartSettings {
  /**
   * How a quarantine verdict is answered. `reject` (default) and `discard`: hookgate keeps the message in its own
   * quarantine and answers 550 naming the item, or discard (the client sees 250); either way the message exists
   * once, in the quarantine. `header`: accept plus `quarantineHeader`, for operators who route on it inside
   * Stalwart. `quarantine`: Stalwart's own action, which drops the message on every release so far.
   */
  quarantine: 'reject' | 'discard' | 'header' | 'quarantine';
  quarantineHeader: { name: string; value: string };
}

/**
 * The session correlation key: the TCP 4-tuple as the MTA sees it. The legacy format has no session id; see
 * docs/adr/0003-transaction-correlation.md for why this and its limits.
 */
export function stalwartSessionId(body: StalwartRequest): string {
  const c = body.context;
  const tuple = [
    c.client.ip,
    c.client.port ?? '',
    c.server?.ip ?? '',
    c.server?.port ?? '',
    c.server?.name ?? '',
  ].join('|');
  // One-shot hashing: a createHash object per request cost more than the digest (issue 12).
  return hash('sha256', tuple, 'base64url').slice(0, 22);
}

/** Rebuilds message bytes from headers and body: Stalwart sends no raw message. */
export function reconstructMessage(message: NonNullable<StalwartRequest['message']>): Buffer {
  const parts: string[] = [];
  for (const [name, value] of message.headers) {
    parts.push(`${name}:${value}`);
    if (!value.endsWith('\n')) parts.push('\r\n');
  }
  parts.push('\r\n', message.contents);
  return Buffer.from(parts.join(''), 'utf8');
}

export function fromStalwart(body: StalwartRequest): { incoming: IncomingStage; message?: Buffer } {
  const c = body.context;
  const env = body.envelope ?? undefined;
  const to = env?.to.map((a) => ({ address: a.address.toLowerCase() })) ?? [];
  const incoming: IncomingStage = {
    protocol: 'stalwart',
    stage: c.stage,
    sessionId: stalwartSessionId(body),
    client: {
      ip: c.client.ip,
      ...(c.client.port !== undefined ? { port: c.client.port } : {}),
      ...(c.client.ptr ? { ptr: c.client.ptr } : {}),
      ...(c.client.helo ? { helo: c.client.helo } : {}),
    },
    ...(c.server
      ? {
          server: {
            ...(c.server.name ? { name: c.server.name } : {}),
            ...(c.server.ip ? { ip: c.server.ip } : {}),
            ...(c.server.port !== undefined ? { port: c.server.port } : {}),
          },
        }
      : {}),
    ...(c.tls
      ? {
          tls: {
            ...(c.tls.version ? { version: c.tls.version } : {}),
            ...(c.tls.cipher ? { cipher: c.tls.cipher } : {}),
          },
        }
      : {}),
    ...(c.sasl?.login ? { auth: { login: c.sasl.login } } : {}),
    ...(env ? { from: { address: env.from.address.toLowerCase() }, to } : {}),
    ...(c.stage === 'rcpt' && to.length > 0 ? { rcpt: to[to.length - 1]!.address } : {}),
    ...(c.queue?.id ? { queueId: c.queue.id } : {}),
  };
  if (c.stage !== 'data' || !body.message) return { incoming };
  const message = reconstructMessage(body.message);
  const subject = body.message.headers.find(([name]) => name.toLowerCase() === 'subject')?.[1];
  incoming.message = {
    size: body.message.size,
    storedBytes: message.byteLength,
    lossy: message.byteLength !== body.message.size || body.message.contents.includes('\uFFFD'),
    ...(subject !== undefined ? { subject: unfoldHeader(subject) } : {}),
  };
  return { incoming, message };
}

function headerValue(value: string): string {
  // Stalwart neither folds nor validates: a CR or LF here would inject headers.
  return value.replace(/[\r\n]+/g, ' ');
}

function reply(r: SmtpReply): NonNullable<StalwartResponse['response']> {
  return {
    status: r.code,
    ...(r.enhanced ? { enhanced_status: r.enhanced, enhancedStatus: r.enhanced } : {}),
    // Stalwart writes the text into the SMTP reply verbatim.
    message: smtpReplyText(r.text),
  };
}

function toModification(m: Modification): StalwartModification {
  switch (m.type) {
    case 'addHeader':
      return { type: 'addHeader', name: m.name, value: headerValue(m.value) };
    case 'insertHeader':
      return { type: 'insertHeader', index: m.index, name: m.name, value: headerValue(m.value) };
    case 'changeHeader':
      return { type: 'changeHeader', index: m.index, name: m.name, value: headerValue(m.value) };
    case 'deleteHeader':
      return { type: 'deleteHeader', index: m.index, name: m.name };
    case 'changeFrom':
      return {
        type: 'changeFrom',
        value: m.address,
        ...(m.parameters && Object.keys(m.parameters).length ? { parameters: m.parameters } : {}),
      };
    case 'addRecipient':
      return {
        type: 'addRecipient',
        value: m.address,
        ...(m.parameters && Object.keys(m.parameters).length ? { parameters: m.parameters } : {}),
      };
    case 'deleteRecipient':
      return { type: 'deleteRecipient', value: m.address.toLowerCase() };
    case 'replaceBody':
      return { type: 'replaceContents', value: m.body };
  }
}

/** A verdict as Stalwart's parser accepts it: `action` always present, both enhanced-code keys, no null params. */
export function toStalwart(verdict: Verdict, stage: string, settings: StalwartSettings): StalwartResponse {
  // Modifications take effect only at data; elsewhere Stalwart drops them silently, so don't send them.
  const mods = stage === 'data' ? verdict.modifications.map(toModification) : [];
  const withMods = (r: StalwartResponse): StalwartResponse =>
    mods.length > 0 ? { ...r, modifications: mods } : r;
  switch (verdict.action) {
    case 'accept':
      return withMods({ action: 'accept' });
    case 'reject':
    case 'tempfail': {
      const fallback: SmtpReply =
        verdict.action === 'tempfail'
          ? { code: 451, enhanced: '4.7.1', text: 'Temporary failure, try again later' }
          : { code: 550, enhanced: '5.7.1', text: 'Message rejected' };
      const r = verdict.reply ?? fallback;
      // A tempfail must be 4xx and a reject 5xx, whatever a scanner suggested.
      const ok =
        verdict.action === 'tempfail' ? r.code >= 400 && r.code < 500 : r.code >= 500 && r.code < 600;
      return { action: 'reject', response: reply(ok ? r : fallback) };
    }
    case 'discard':
      return { action: 'discard' };
    case 'quarantine':
      // Kept in hookgate's quarantine (issue 16): the reply names the item.
      if (verdict.quarantine?.answer === 'discard') return { action: 'discard' };
      if (verdict.quarantine && verdict.reply) return { action: 'reject', response: reply(verdict.reply) };
      if (settings.quarantine === 'quarantine') return { action: 'quarantine' };
      if (stage !== 'data') return withMods({ action: 'accept' });
      return {
        action: 'accept',
        modifications: [
          ...mods,
          {
            type: 'addHeader',
            name: settings.quarantineHeader.name,
            value: headerValue(settings.quarantineHeader.value),
          },
        ],
      };
  }
}
