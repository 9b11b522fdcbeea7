import { createTransport } from 'nodemailer';
import { ERR, HookgateError } from '@hookgate/contracts';

export interface RelayOptions {
  /** `smtp://host:port` (STARTTLS when offered) or `smtps://host:port`; `user:pass@` for AUTH. */
  url: string;
  /** Connection, greeting and socket timeouts, ms. Default 30 s. */
  timeoutMs?: number;
  /** The name hookgate gives in EHLO. Default: the machine's host name. */
  name?: string;
}

export interface Delivery {
  /** The relay's final reply to the message, e.g. `250 2.0.0 Ok: queued as 4Xyz`. */
  reply: string;
  accepted: string[];
  refused: string[];
}

/** Where released mail goes. */
export interface Relay {
  /** The relay's address without credentials, for logs and the audit. */
  readonly target: string;
  deliver(envelope: { from: string; to: string[] }, message: Uint8Array): Promise<Delivery>;
}

/**
 * Delivers released mail over SMTP with nodemailer's SMTP transport: the kept bytes as they are (`raw`: no header
 * is added or rewritten; SMTP itself only dot-stuffs and ends lines in CRLF on the wire) and the original envelope.
 * One connection per release: releases are rare and each must stand alone.
 */
export function smtpRelay(options: RelayOptions): Relay {
  const u = parseRelayUrl(options.url);
  const timeout = options.timeoutMs ?? 30_000;
  const target = `${u.protocol}//${u.host}`;
  return {
    target,
    async deliver(envelope, message) {
      const transport = createTransport({
        host: u.hostname,
        port: Number(u.port || (u.protocol === 'smtps:' ? 465 : 25)),
        secure: u.protocol === 'smtps:',
        ...(u.username
          ? { auth: { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } }
          : {}),
        ...(options.name ? { name: options.name } : {}),
        connectionTimeout: timeout,
        greetingTimeout: timeout,
        socketTimeout: timeout,
        disableFileAccess: true,
        disableUrlAccess: true,
      });
      try {
        const info = await transport.sendMail({
          envelope: { from: envelope.from, to: envelope.to },
          raw: Buffer.from(message.buffer, message.byteOffset, message.byteLength),
        });
        const accepted = info.accepted.map(String);
        const refused = info.rejected.map(String);
        return { reply: info.response, accepted, refused };
      } catch (err) {
        const e = err as Error & { response?: string; code?: string };
        // The relay's own words when it refused; never the credentials in the URL.
        const why = e.response ?? `${e.code ?? 'error'}: ${e.message}`;
        throw new HookgateError(
          ERR.RELAY_FAILED,
          `relay ${target} did not take the message: ${why.replace(/[\r\n]+/g, ' ').slice(0, 300)}`,
          { cause: err, retryable: true },
        );
      } finally {
        transport.close();
      }
    },
  };
}

/** Checks a relay URL; throws a message that names what is wrong. */
export function parseRelayUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`not a URL: expected smtp://host:port or smtps://host:port`);
  }
  if (u.protocol !== 'smtp:' && u.protocol !== 'smtps:')
    throw new Error(`unsupported scheme ${u.protocol} (use smtp:// or smtps://)`);
  if (!u.hostname) throw new Error('no host: expected smtp://host:port');
  return u;
}
