/**
 * The spamd protocol (spamc/spamd, SPAMC/1.5): `<COMMAND> SPAMC/1.5\r\n`, headers (`Content-length`, optional
 * `User`), a blank line, the message; spamd answers `SPAMD/1.1 <code> <EX_name>` (1.1 even to 1.5), headers
 * (`Spam: True ; 1000.0 / 5.0`, `Content-length`), a blank line, a body (rule names for SYMBOLS, the report
 * for REPORT), then closes the connection.
 */
import { connect, type Socket } from 'node:net';
import { ERR, HookgateError } from '@hookgate/contracts';
import {
  EngineProtocolError,
  EngineUnavailableError,
  formatEndpoint,
  parseEndpoint,
  type Endpoint,
} from '@hookgate/scanner-sdk';
import { deadline } from '../abort.js';

export type SpamdCommand = 'SYMBOLS' | 'REPORT' | 'CHECK';

/** A parsed spamd reply. */
export interface SpamdReply {
  /** Protocol version spamd answered with, e.g. `1.1`. */
  version: string;
  /** sysexits code: 0 is EX_OK. */
  code: number;
  /** The status text, e.g. `EX_OK` or `Bad header line: ...`. */
  status: string;
  /** Headers by lower-cased name. */
  headers: Record<string, string>;
  body: string;
}

/** The verdict of a CHECK/SYMBOLS/REPORT. */
export interface SpamdResult {
  isSpam: boolean;
  score: number;
  threshold: number;
  /** Rule names; with REPORT, highest score first and with scores. */
  rules: { name: string; score?: number }[];
}

/** spamd answered a non-zero sysexits code (EX_USAGE 64 ... EX_CONFIG 78). */
export class SpamdStatusError extends HookgateError {
  readonly exitCode: number;
  constructor(code: number, status: string) {
    // EX_UNAVAILABLE, EX_OSERR, EX_IOERR, EX_TEMPFAIL: the engine is struggling, a retry may help.
    const text = status.replace(/[^\x20-\x7e]/g, '?').slice(0, 120);
    super(ERR.SCAN_ENGINE_ERROR, `spamd answered ${code} ${text}`, {
      retryable: [69, 71, 74, 75].includes(code),
    });
    this.exitCode = code;
  }
}

/** Parses a whole reply. Throws EngineProtocolError on anything that is not spamd's format. */
export function parseSpamdReply(raw: Buffer): SpamdReply {
  const sep = raw.indexOf('\r\n\r\n');
  const headEnd = sep >= 0 ? sep : raw.length;
  const lines = raw.toString('latin1', 0, headEnd).split('\r\n');
  const m = /^SPAMD\/(\d+\.\d+)\s+(\d+)\s*(.*)$/.exec(lines[0] ?? '');
  if (!m)
    throw new EngineProtocolError(
      `unexpected spamd reply: ${(lines[0] ?? '').replace(/[^\x20-\x7e]/g, '?').slice(0, 80)}`,
    );
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = sep >= 0 ? raw.subarray(sep + 4) : Buffer.alloc(0);
  const declared = headers['content-length'];
  if (declared !== undefined) {
    const n = Number(declared);
    if (!Number.isInteger(n) || n < 0)
      throw new EngineProtocolError(`spamd sent a bad Content-length: ${declared.slice(0, 20)}`);
    if (body.byteLength < n)
      throw new EngineProtocolError(`spamd reply truncated: ${body.byteLength} of ${n} bytes`);
    body = body.subarray(0, n);
  }
  return { version: m[1]!, code: Number(m[2]), status: m[3]!.trim(), headers, body: body.toString('utf8') };
}

/** `True ; 1000.0 / 5.0` (also `Yes`/`No`, as old spamd versions wrote). */
export function parseSpamHeader(value: string): { isSpam: boolean; score: number; threshold: number } {
  const m = /^(True|False|Yes|No)\s*;\s*(-?\d+(?:\.\d+)?)\s*\/\s*(-?\d+(?:\.\d+)?)\s*$/i.exec(value.trim());
  if (!m)
    throw new EngineProtocolError(
      `unexpected spamd Spam header: ${value.replace(/[^\x20-\x7e]/g, '?').slice(0, 80)}`,
    );
  return { isSpam: /^(true|yes)$/i.test(m[1]!), score: Number(m[2]), threshold: Number(m[3]) };
}

/** The SYMBOLS body: comma-separated rule names. */
export function parseSymbols(body: string): string[] {
  return body
    .split(/[,\s]+/)
    .map((s) => s.trim())
    .filter((s) => /^[A-Za-z0-9_]+$/.test(s));
}

/** The rule table of a REPORT body (` pts rule name  description` lines after the `---- ----` rule), by score. */
export function parseReport(body: string): { name: string; score: number }[] {
  const lines = body.split(/\r?\n/);
  const start = lines.findIndex((l) => /^-{3,}\s+-{3,}/.test(l));
  if (start < 0) return [];
  const rules: { name: string; score: number }[] = [];
  for (const line of lines.slice(start + 1)) {
    const m = /^\s*(-?\d+(?:\.\d+)?)\s+([A-Za-z0-9_]+)(?:\s|$)/.exec(line);
    if (m) rules.push({ name: m[2]!, score: Number(m[1]) });
  }
  return rules.sort((a, b) => b.score - a.score || a.name.localeCompare(b.name));
}

/** Builds a request; `user` must already be validated (no CR/LF). */
export function spamdRequest(
  command: SpamdCommand | 'PING',
  message: Uint8Array | undefined,
  user?: string,
): Buffer {
  const head = [`${command} SPAMC/1.5`];
  if (message) head.push(`Content-length: ${message.byteLength}`);
  if (user) head.push(`User: ${user}`);
  const text = Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1');
  return message ? Buffer.concat([text, message]) : text;
}

/** Replies to SYMBOLS/REPORT are small; the cap only stops a runaway peer. */
const MAX_REPLY_BYTES = 1024 * 1024;

/** Sends `payload` and collects the reply until spamd closes the connection. */
function exchange(endpoint: Endpoint, payload: Buffer, signal: AbortSignal): Promise<Buffer> {
  const where = `spamd at ${formatEndpoint(endpoint)}`;
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new Error('aborted'));
      return;
    }
    const socket: Socket =
      endpoint.kind === 'tcp'
        ? connect({ host: endpoint.host, port: endpoint.port })
        : connect({ path: endpoint.path });
    const chunks: Buffer[] = [];
    let size = 0;
    let connected = false;
    let settled = false;
    const onAbort = () => finish(new Error('aborted'));
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err?.message === 'aborted') reject(err);
      else if (size > MAX_REPLY_BYTES)
        reject(new EngineProtocolError(`${where} sent more than ${MAX_REPLY_BYTES} bytes`));
      // A reply may be complete even if writing failed (spamd refused early and closed): parse decides.
      else if (size > 0) resolve(Buffer.concat(chunks));
      else if (!connected)
        reject(new EngineUnavailableError(`${where} unreachable: ${err?.message ?? 'closed'}`, err));
      else
        reject(
          new EngineUnavailableError(
            `${where} closed the connection without a reply${err ? `: ${err.message}` : ''}`,
            err,
          ),
        );
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('connect', () => {
      connected = true;
      // spamd reads Content-length bytes; half-closing afterwards is what spamc does.
      socket.end(payload);
    });
    socket.on('data', (b: Buffer) => {
      size += b.byteLength;
      if (size > MAX_REPLY_BYTES) finish();
      else chunks.push(b);
    });
    socket.on('end', () => finish());
    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish());
  });
}

export interface SpamdCheckOptions {
  command?: SpamdCommand;
  user?: string;
  signal?: AbortSignal;
  /** Per-request timeout, ms; failing it throws HOOKGATE_ERR_SCAN_TIMEOUT. */
  timeoutMs?: number;
}

/**
 * Checks `message` with spamd. Throws EngineUnavailableError (unreachable, closed without a reply),
 * EngineProtocolError (not spamd's format), SpamdStatusError (non-zero EX_ code), HOOKGATE_ERR_SCAN_TIMEOUT on
 * `timeoutMs`, or an abort error when `signal` fires. Low-level: the bench calls it directly.
 */
export async function spamdCheck(
  endpoint: string | Endpoint,
  message: Uint8Array,
  options: SpamdCheckOptions = {},
): Promise<SpamdResult> {
  const ep = typeof endpoint === 'string' ? parseEndpoint(endpoint) : endpoint;
  const command = options.command ?? 'SYMBOLS';
  const d = deadline('spamd', options.signal, options.timeoutMs);
  let raw: Buffer;
  try {
    raw = await exchange(ep, spamdRequest(command, message, options.user), d.signal);
  } catch (err) {
    throw d.classify(err);
  }
  const reply = parseSpamdReply(raw);
  if (reply.code !== 0) throw new SpamdStatusError(reply.code, reply.status);
  const spam = reply.headers.spam;
  if (spam === undefined) throw new EngineProtocolError('spamd reply has no Spam header');
  const verdict = parseSpamHeader(spam);
  const rules =
    command === 'REPORT'
      ? parseReport(reply.body)
      : command === 'SYMBOLS'
        ? parseSymbols(reply.body).map((name) => ({ name }))
        : [];
  return { ...verdict, rules };
}

/** `PING`: true when spamd answers `PONG`. */
export async function spamdPing(
  endpoint: string | Endpoint,
  options: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<boolean> {
  const ep = typeof endpoint === 'string' ? parseEndpoint(endpoint) : endpoint;
  const d = deadline('spamd', options.signal, options.timeoutMs);
  try {
    const raw = await exchange(ep, spamdRequest('PING', undefined), d.signal);
    return /^SPAMD\/\d+\.\d+ 0 PONG/.test(raw.toString('latin1'));
  } catch (err) {
    throw d.classify(err);
  }
}
