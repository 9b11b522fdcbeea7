import type { StageRequest } from '@hookgate/contracts';
import type { RspamdHeaders } from './client.js';

/**
 * Header values must be latin1 without CR/LF for node:http: drop control characters, and send UTF-8 (SMTPUTF8
 * addresses, IDN HELO names) as its raw bytes, which is what rspamd reads.
 */
function headerValue(value: string): string {
  return Buffer.from(value.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '').trim(), 'utf8').toString('latin1');
}

/**
 * The envelope and connection facts rspamd scores with, as `/checkv2` request headers: `IP`, `Helo`, `Hostname`
 * (the client's PTR; without it rspamd adds RDNS_NONE and HFILTER_HOSTNAME_UNKNOWN, several points), `From`
 * (envelope sender, `<>` for the null sender), one `Rcpt` per recipient, `User` for authenticated senders
 * (rspamd then skips inbound-only checks), `Queue-Id`, TLS facts, and `Password` when configured.
 */
export function rspamdHeaders(
  request: StageRequest,
  options: { password?: string | undefined } = {},
): RspamdHeaders {
  const h: RspamdHeaders = {};
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined && value.trim() !== '') h[name] = headerValue(value);
  };
  set('IP', request.client.ip);
  set('Helo', request.client.helo);
  set('Hostname', request.client.ptr);
  if (request.from) h.From = request.from.address === '' ? '<>' : headerValue(request.from.address);
  const rcpts = request.to?.length ? request.to.map((a) => a.address) : request.rcpt ? [request.rcpt] : [];
  const cleanRcpts = rcpts.filter((a) => a.trim() !== '').map(headerValue);
  if (cleanRcpts.length > 0) h.Rcpt = cleanRcpts;
  set('User', request.auth?.login);
  set('Queue-Id', request.queueId);
  set('TLS-Version', request.tls?.version);
  set('TLS-Cipher', request.tls?.cipher);
  set('Password', options.password);
  return h;
}
