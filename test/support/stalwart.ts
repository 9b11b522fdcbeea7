/**
 * Builders for requests exactly as Stalwart's code sends them (docs/protocols/stalwart.md): lowercase stage,
 * `client.helo`, `protocol.version` 1, raw header values, `message.contents` = body only, null ptr/helo early.
 */
import type { Sample } from './samples.js';

export interface Session {
  clientIp?: string;
  clientPort?: number;
  helo?: string;
  login?: string;
  from?: string;
  rcpts?: string[];
  queueId?: string;
}

const server = { name: 'Stalwart v0.16.0', port: 25, ip: '198.51.100.25' };

function client(s: Session, stage: string) {
  const early = stage === 'connect';
  return {
    ip: s.clientIp ?? '203.0.113.45',
    port: s.clientPort ?? 40522,
    ptr: early ? null : 'mail.sender.example',
    helo:
      early || stage === 'ehlo'
        ? stage === 'ehlo'
          ? (s.helo ?? 'mail.sender.example')
          : null
        : (s.helo ?? 'mail.sender.example'),
    activeConnections: 1,
  };
}

export function stalwartRequest(
  stage: 'connect' | 'ehlo' | 'mail' | 'rcpt' | 'data',
  s: Session = {},
  sample?: Sample,
  rcptCount?: number,
): Record<string, unknown> {
  const context: Record<string, unknown> = {
    stage,
    client: client(s, stage),
    ...(s.login ? { sasl: { login: s.login } } : {}),
    server,
    ...(stage === 'data' ? { queue: { id: s.queueId ?? '1b2f9c04d7e3a001' } } : {}),
    protocol: { version: 1 },
  };
  const rcpts = s.rcpts ?? ['bob@example.net'];
  const body: Record<string, unknown> = { context };
  if (stage === 'mail' || stage === 'rcpt' || stage === 'data') {
    const to =
      stage === 'mail' ? [] : rcpts.slice(0, rcptCount ?? rcpts.length).map((address) => ({ address }));
    body.envelope = { from: { address: s.from ?? 'alice@example.org' }, to };
  }
  if (stage === 'data' && sample) {
    const raw = Buffer.from(
      sample.headers.map(([n, v]) => `${n}:${v}`).join('') + '\r\n' + sample.body,
      'utf8',
    );
    body.message = { headers: sample.headers, contents: sample.body, size: raw.byteLength };
  }
  return body;
}

/** The five inbound stages of one transaction, rcpt once per recipient. */
export function transaction(s: Session, sample: Sample): Record<string, unknown>[] {
  const rcpts = s.rcpts ?? ['bob@example.net'];
  return [
    stalwartRequest('connect', s),
    stalwartRequest('ehlo', s),
    stalwartRequest('mail', s),
    ...rcpts.map((_, i) => stalwartRequest('rcpt', s, undefined, i + 1)),
    stalwartRequest('data', s, sample),
  ];
}
