/**
 * The milter frontend's config (`milter.*` in hookgate's config; `HOOKGATE_MILTER_LISTEN` sets `listen`). Every key
 * has a default, so an empty section validates. docs/protocols/milter.md documents each key.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

const lit = <T extends readonly string[]>(values: T, opts: object = {}) =>
  Type.Union(values.map((v) => Type.Literal(v)) as never, opts) as unknown as TSchema & { static: T[number] };

/** The SMTP stages a milter session maps onto. */
export const MILTER_STAGES = ['connect', 'ehlo', 'mail', 'rcpt', 'data'] as const;

/** host:port, [v6]:port, inet:port@host, inet6:port@host, unix:/path, local:/path or /path. */
const LISTEN_PATTERN =
  '^((unix|local):)?/\\S+$|^(\\[[0-9a-fA-F:.]+\\]|[^:\\s/\\[]+):\\d{1,5}$|^inet6?:\\d{1,5}(@\\S+)?$';

export const MilterConfigSchema = Type.Object(
  {
    /** Where to listen: port 11332 is what Rspamd's proxy and Stalwart's milter examples use. */
    listen: Type.String({
      default: '127.0.0.1:11332',
      pattern: LISTEN_PATTERN,
      description: 'host:port, [v6]:port, inet:port@host, unix:/path or an absolute socket path',
    }),
    /** Permissions of a Unix socket (octal), so Postfix's user can connect. */
    socketMode: Type.String({
      default: '660',
      pattern: '^[0-7]{3,4}$',
      description: 'octal permissions, e.g. 660',
    }),
    /** Largest packet accepted; Postfix sends body chunks of at most 64 KiB. A larger one closes the connection. */
    maxFrameBytes: Type.Integer({ minimum: 65_536, maximum: 67_108_864, default: 1_048_576 }),
    /** Largest message (headers + body) buffered for scanning; above it `oversize` applies. */
    maxMessageBytes: Type.Integer({ minimum: 1024, default: 52_428_800 }),
    /** Answer for a message above `maxMessageBytes`: 552 5.3.4, 452 4.3.4, or accept unscanned. */
    oversize: lit(['reject', 'tempfail', 'accept'] as const, { default: 'reject' }),
    /** Answer when the pipeline fails or overruns its deadline by `graceMs` (it should never). */
    onError: lit(['tempfail', 'accept'] as const, { default: 'tempfail' }),
    /** How long past the stage deadline the session still waits for the pipeline, ms. */
    graceMs: Type.Integer({ minimum: 0, maximum: 10_000, default: 500 }),
    /** Stages run through the pipeline; the others are answered `continue` without a Redis round trip. */
    stages: Type.Array(lit(MILTER_STAGES), { default: [...MILTER_STAGES], uniqueItems: true }),
    /** Ask for the macros hookgate uses with the OPTNEG reply (v6 SMFIR_SETSYMLIST); off = the MTA's defaults. */
    requestMacros: Type.Boolean({ default: true }),
    /**
     * Ask the MTA not to wait for replies to headers, body chunks, EOH, DATA and unknown commands (v6 SMFIP_NR_*).
     * Off by default: with Postfix it is slower (Nagle against delayed ACK; see NO_REPLY_STEPS).
     */
    noReply: Type.Boolean({ default: false }),
    /**
     * Time from accept to the MTA's option negotiation, ms. Postfix and Sendmail negotiate at once after connecting;
     * a socket that does not is closed well before `idleTimeoutMs`.
     */
    negotiationTimeoutMs: Type.Integer({ minimum: 1000, maximum: 300_000, default: 10_000 }),
    /**
     * Time from one command to the next in a negotiated session, ms (pipeline calls do not count). Postfix keeps one
     * connection per SMTP session, idle while the SMTP client thinks.
     */
    idleTimeoutMs: Type.Integer({ minimum: 1000, default: 900_000 }),
    /**
     * A quarantine verdict at end of message: kept by hookgate and answered reject (naming the item) or discard, or
     * `hold`: the MTA's own quarantine (Postfix hold queue), nothing kept by hookgate.
     */
    quarantine: lit(['reject', 'discard', 'hold'] as const, { default: 'reject' }),
    /**
     * Open connections at most (also lowered to what the open-file limit allows). At the limit a new connection
     * closes the longest-waiting one that has not negotiated, else the negotiated one idle longest; it is refused
     * only when every connection is waiting for a verdict (Postfix then applies milter_default_action).
     */
    maxConnections: Type.Integer({ minimum: 1, default: 2000 }),
  },
  { default: {} },
);

export type MilterConfig = Static<typeof MilterConfigSchema>;

/** A parsed listen address. */
export type ListenTarget = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/** Parses `milter.listen`; throws on a value the schema pattern would refuse. */
export function parseListen(listen: string): ListenTarget {
  const s = listen.trim();
  if (s.startsWith('/')) return { kind: 'unix', path: s };
  const local = /^(?:unix|local):(\/\S+)$/.exec(s);
  if (local) return { kind: 'unix', path: local[1]! };
  const inet = /^inet(6?):(\d{1,5})(?:@(\S+))?$/.exec(s);
  if (inet)
    return {
      kind: 'tcp',
      host: (inet[3] ?? (inet[1] ? '::' : '0.0.0.0')).replace(/^\[|\]$/g, ''),
      port: port(inet[2]!, s),
    };
  const hp = /^(\[[0-9a-fA-F:.]+\]|[^:\s/[]+):(\d{1,5})$/.exec(s);
  if (hp) return { kind: 'tcp', host: hp[1]!.replace(/^\[|\]$/g, ''), port: port(hp[2]!, s) };
  throw new Error(`milter.listen: cannot parse "${listen}" (host:port, unix:/path or /path)`);
}

function port(text: string, listen: string): number {
  const n = Number(text);
  if (n > 65_535) throw new Error(`milter.listen: port out of range in "${listen}"`);
  return n;
}

/** `host:port` or `unix:/path`, for logs. */
export function formatListen(t: ListenTarget): string {
  return t.kind === 'unix' ? `unix:${t.path}` : `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
}
