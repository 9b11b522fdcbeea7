/**
 * A minimal rspamd HTTP client: `POST /checkv2` with the raw message as the body and the envelope as request
 * headers. node:http rather than fetch because rspamd wants one `Rcpt` header per recipient, and fetch's Headers
 * joins repeated names with a comma. rspamd 3.4 answers `Connection: close`, so every request gets its own
 * connection (no agent, no keep-alive).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { EngineProtocolError, EngineUnavailableError } from '@hookgate/scanner-sdk';
import { deadline } from '../abort.js';
import { errorMessage } from '@hookgate/contracts';

/** Request headers for rspamd; an array value is sent as one header line per element. */
export type RspamdHeaders = Record<string, string | string[]>;

export interface RspamdSymbol {
  name: string;
  score: number;
  metric_score?: number;
  description?: string;
  options?: string[];
}

/** A header value in rspamd's milter block: a string, or (since 1.7) `{value, order}`. */
export type RspamdMilterHeader = string | { value: string; order?: number; index?: number };

/** rspamd's `milter` block: what its own milter proxy would do to the message. */
export interface RspamdMilter {
  add_headers?: Record<string, RspamdMilterHeader | RspamdMilterHeader[]>;
  /** Name → 1-based occurrence; 0 = every occurrence; negative = counted from the end. */
  remove_headers?: Record<string, number>;
  change_from?: string;
  add_rcpt?: string[];
  del_rcpt?: string[];
  /** `discard` or `quarantine` instead of rejecting. */
  reject?: string;
  /** Do not apply the action; only say what it would have been. */
  no_action?: boolean;
  /** On `add header`: the spam header's value, or a map of headers to set instead. */
  spam_header?: string | Record<string, string>;
}

/** The parts of a `/checkv2` reply hookgate uses. */
export interface RspamdResult {
  action: string;
  score: number;
  required_score?: number;
  is_skipped?: boolean;
  symbols?: Record<string, RspamdSymbol>;
  messages?: { smtp_message?: string; [key: string]: unknown };
  /** The rewritten subject, with `rewrite subject`. */
  subject?: string;
  milter?: RspamdMilter;
  'dkim-signature'?: string | string[];
  'message-id'?: string;
  time_real?: number;
}

export interface RspamdRequestOptions {
  signal?: AbortSignal;
  /** Per-request timeout, ms; failing it throws HOOKGATE_ERR_SCAN_TIMEOUT. */
  timeoutMs?: number;
}

/** Replies are a few KB; anything near this is not rspamd. */
const MAX_REPLY_BYTES = 4 * 1024 * 1024;

function endpointUrl(base: string | URL, path: string): URL {
  const b = new URL(base);
  if (!b.pathname.endsWith('/')) b.pathname += '/';
  return new URL(path, b);
}

/** One HTTP exchange; resolves with status and body, rejects with EngineUnavailableError on I/O failure. */
function exchange(
  url: URL,
  method: 'GET' | 'POST',
  headers: RspamdHeaders,
  body: Uint8Array | undefined,
  signal: AbortSignal,
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const where = `rspamd at ${url.origin}`;
    let req;
    try {
      const all = body ? { ...headers, 'Content-Length': String(body.byteLength) } : headers;
      req = send(url, { method, headers: all, agent: false, signal });
    } catch (err) {
      // Invalid header characters and the like: our bug or a bad config, not the engine's.
      reject(new EngineProtocolError(`cannot build a request for ${where}: ${errorMessage(err)}`, err));
      return;
    }
    req.on('error', (err) => reject(new EngineUnavailableError(`${where} unreachable: ${err.message}`, err)));
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (b: Buffer) => {
        size += b.byteLength;
        if (size > MAX_REPLY_BYTES) {
          res.destroy();
          reject(new EngineProtocolError(`${where} sent a reply larger than ${MAX_REPLY_BYTES} bytes`));
          return;
        }
        chunks.push(b);
      });
      res.on('error', (err) =>
        reject(new EngineUnavailableError(`${where} broke off its reply: ${err.message}`, err)),
      );
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.end(body);
  });
}

function parseResult(body: Buffer): RspamdResult {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new EngineProtocolError(`rspamd reply is not JSON (${body.byteLength} bytes)`, err);
  }
  const r = json as Partial<RspamdResult> | null;
  if (typeof r !== 'object' || r === null || typeof r.action !== 'string' || typeof r.score !== 'number') {
    throw new EngineProtocolError('rspamd reply has no action or score');
  }
  return r as RspamdResult;
}

/** rspamd's error replies are JSON `{"error": "..."}`; keep a short, content-free summary. */
function errorSummary(body: Buffer): string {
  try {
    const e = (JSON.parse(body.toString('utf8')) as { error?: unknown }).error;
    if (typeof e === 'string') return e.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
  } catch {
    // not JSON: say nothing about the body
  }
  return `${body.byteLength} bytes`;
}

/**
 * Scans `message` with rspamd (`POST <url>/checkv2`). Throws EngineUnavailableError (connection failed, 5xx),
 * EngineProtocolError (4xx, not JSON, no action), HOOKGATE_ERR_SCAN_TIMEOUT on `timeoutMs`, or an abort error
 * when `signal` fires. Low-level: the bench calls it directly.
 */
export async function checkRspamd(
  url: string | URL,
  message: Uint8Array,
  headers: RspamdHeaders = {},
  options: RspamdRequestOptions = {},
): Promise<RspamdResult> {
  const d = deadline('rspamd', options.signal, options.timeoutMs);
  let res;
  try {
    res = await exchange(endpointUrl(url, 'checkv2'), 'POST', headers, message, d.signal);
  } catch (err) {
    throw d.classify(err);
  }
  if (res.status >= 500)
    throw new EngineUnavailableError(`rspamd answered HTTP ${res.status}: ${errorSummary(res.body)}`);
  if (res.status !== 200)
    throw new EngineProtocolError(`rspamd answered HTTP ${res.status}: ${errorSummary(res.body)}`);
  return parseResult(res.body);
}

/** `GET <url>/ping`: true when rspamd answers `pong`. */
export async function pingRspamd(url: string | URL, options: RspamdRequestOptions = {}): Promise<boolean> {
  const d = deadline('rspamd', options.signal, options.timeoutMs);
  try {
    const res = await exchange(endpointUrl(url, 'ping'), 'GET', {}, undefined, d.signal);
    return res.status === 200 && res.body.toString('latin1').trim() === 'pong';
  } catch (err) {
    throw d.classify(err);
  }
}
